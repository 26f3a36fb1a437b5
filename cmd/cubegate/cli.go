package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/warehouse"
)

// run is the whole program: main only wires signals and the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root, st := newRootState(ctx, stdout, stderr)
	root.SetArgs(args)
	return st.annotate(root.ExecuteContext(ctx))
}

// newRootState returns the command tree and where the configuration it
// loads came from (for error messages).
func newRootState(ctx context.Context, stdout, stderr io.Writer) (*cobra.Command, *loaded) {
	var configFile string
	st := &loaded{}
	root := &cobra.Command{
		Use:           "cubegate",
		Short:         "A PostgreSQL-compatible server for Cube data models",
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("cubegate {{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&configFile, "config", "", "configuration file (YAML; default: $CUBEGATE_CONFIG, else ./cubegate.yaml if present)")

	load := func(cmd *cobra.Command) (app.Config, zerolog.Logger, error) {
		file := configFile
		if !cmd.Flags().Changed("config") {
			file = defaultConfigFile()
		}
		cfg, l, err := loadConfigFrom(file, cmd.Flags())
		*st = *l
		if err != nil {
			return cfg, zerolog.Nop(), err
		}
		log, err := newLogger(cfg.Log, stderr)
		return cfg, log, err
	}

	withConfigFlags := func(c *cobra.Command, persistent bool) *cobra.Command {
		if persistent {
			addConfigFlags(c.PersistentFlags())
		} else {
			addConfigFlags(c.Flags())
		}
		return c
	}
	root.AddCommand(
		withConfigFlags(serveCmd(load), false),
		withConfigFlags(demoCmd(load, stdout), false),
		withConfigFlags(credentialsCmd(load, stdout), true),
		withConfigFlags(keysCmd(load, stdout), true),
		withConfigFlags(tenantsCmd(load, stdout), true),
		withConfigFlags(consoleCmd(load, stdout), true),
		preaggCmd(load, stdout), cacheCmd(load, stdout),
		modelCmd(stdout),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				fmt.Fprintf(stdout, "cubegate %s\n", versionString())
				return nil
			},
		},
	)
	return root, st
}

// newLogger writes to w: as JSON, or for people (colours only when w is
// a terminal and NO_COLOR is unset). Durations are written with their
// unit (1.5ms, 2m0s).
func newLogger(c app.LogConfig, w io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil || c.Level == "" || level > zerolog.ErrorLevel || level < zerolog.DebugLevel {
		return zerolog.Nop(), &app.SettingError{Key: "log.level", Value: c.Level, Err: errors.New("want debug, info, warn or error")}
	}
	zerolog.DurationFieldFormat = zerolog.DurationFormatString
	switch c.Format {
	case "json":
		return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
	case "console", "":
		cw := zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !colorTerminal(w)}
		return zerolog.New(cw).Level(level).With().Timestamp().Logger(), nil
	}
	return zerolog.Nop(), &app.SettingError{Key: "log.format", Value: c.Format, Err: errors.New("want console or json")}
}

// colorTerminal tells whether w is a terminal that may get colours.
func colorTerminal(w io.Writer) bool {
	if _, ok := os.LookupEnv("NO_COLOR"); ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

type loader func(cmd *cobra.Command) (app.Config, zerolog.Logger, error)

func serveCmd(load loader) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the SQL and HTTP listeners",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := load(cmd)
			if err != nil {
				return err
			}
			g, err := app.Start(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			stop := reloadOnSIGHUP(g)
			defer stop()
			err = g.Wait(cmd.Context())
			return errors.Join(err, g.Shutdown())
		},
	}
}

func demoCmd(load loader, stdout io.Writer) *cobra.Command {
	var rows int
	var dir string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Serve a demo model on embedded DuckDB with generated data",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			began := time.Now()
			cfg, log, err := load(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if rows < 1 {
				return fmt.Errorf("--rows must be at least 1")
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			dbPath := filepath.Join(dir, "demo.duckdb")
			if err := prepareDemoData(ctx, dbPath, rows, stdout); err != nil {
				return err
			}
			modelDir := filepath.Join(dir, "model")
			if err := app.WriteDemoModel(modelDir); err != nil {
				return err
			}
			cfg.Model.Dir = modelDir
			cfg.Warehouse.DSN = "duckdb://" + dbPath
			if !cmd.Flags().Changed("state-dsn") && os.Getenv("CUBEGATE_STATE_DSN") == "" {
				cfg.State.DSN = "sqlite://" + filepath.Join(dir, "state.db")
			}
			if !cmd.Flags().Changed("data-source-name") && os.Getenv("CUBEGATE_DATA_SOURCE_NAME") == "" {
				cfg.DataSource.Name = "demo"
			}
			g, err := app.Start(ctx, cfg, log)
			if err != nil {
				return err
			}
			_, _, connStr, err := g.MintCredential(ctx, "demo")
			if err != nil {
				g.Close()
				return err
			}
			key, err := g.MintDemoKey(ctx)
			if err != nil {
				g.Close()
				return err
			}
			cfg.SQL.Listen, cfg.HTTP.Listen = g.SQLAddr().String(), g.HTTPAddr().String()
			configPath, err := app.WriteDemoConfig(dir, cfg)
			if err != nil {
				g.Close()
				return err
			}
			host, port, _ := app.ClientHost(cfg.HTTP.Listen)
			httpURL := "http://" + net.JoinHostPort(host, port)
			abs := func(p string) string {
				if a, err := filepath.Abs(p); err == nil {
					return a
				}
				return p
			}
			state := strings.TrimPrefix(cfg.State.DSN, "sqlite://")
			if state != cfg.State.DSN {
				state = abs(state)
			}
			fmt.Fprintf(stdout, `
cubegate is ready in %s (%d orders in %s). Connect with:

  psql "%s"

  web console: %s/console   (sign in with the admin API key below)

and try:

  SELECT status, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1;

A starter model of a warehouse's tables (this one's once the demo is stopped:
one process at a time opens a DuckDB file):

  cubegate model generate --dsn duckdb://%s --out ./my-model

The REST API, with an admin API key (shown only now):

  export KEY=%s
  curl -g -H "Authorization: $KEY" '%s/cubejs-api/v1/load?query={"measures":["orders.count"],"dimensions":["orders.status"]}'

  admin API:    %s/admin/v1/status   (with the key; /metrics, /livez, /readyz without)
  model folder: %s   (edit a file: the model reloads)
  state file:   %s
  config:       %s   (cubegate keys|credentials … run in that folder use it)

Press Ctrl-C to stop.
`, time.Since(began).Round(time.Millisecond), rows, abs(dbPath), connStr, httpURL, abs(dbPath), key.KeyValue, httpURL, httpURL, abs(modelDir), state, abs(configPath))
			stop := reloadOnSIGHUP(g)
			defer stop()
			err = g.Wait(ctx)
			return errors.Join(err, g.Shutdown())
		},
	}
	cmd.Flags().IntVar(&rows, "rows", app.DefaultDemoSizes.Orders, "number of orders to generate")
	cmd.Flags().StringVar(&dir, "dir", ".cubegate/demo", "folder for the demo database, model and state")
	return cmd
}

// prepareDemoData generates the dataset unless the database already holds
// one of the asked size.
func prepareDemoData(ctx context.Context, path string, rows int, stdout io.Writer) error {
	w, err := warehouse.OpenDuckDB(ctx, path)
	if err != nil {
		return err
	}
	defer w.Close()
	if app.DemoDataCount(ctx, w) == rows {
		return nil
	}
	began := time.Now()
	fmt.Fprintf(stdout, "generating %d demo orders into %s …\n", rows, path)
	if err := app.GenerateDemoData(ctx, w, app.SizesFor(rows)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "generated in %s\n", time.Since(began).Round(time.Millisecond))
	return nil
}

func credentialsCmd(load loader, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "credentials", Short: "Manage SQL credentials (create, list, show, update, rotate, delete)"}
	var label, database, security, member string
	var asJSON, actAs bool
	var scopes []string
	// withService opens the state store for one command.
	withService := func(c *cobra.Command, run func(ctx context.Context, cfg app.Config, svc *auth.Service) error) error {
		return withStore(c, load, func(ctx context.Context, cfg app.Config, store *auth.Store) error {
			svc, err := auth.NewService(ctx, store)
			if err != nil {
				return err
			}
			return run(ctx, cfg, svc)
		})
	}
	// show prints a credential: never its password, except right after
	// it was made (password != "").
	show := func(cfg app.Config, c auth.Credential, password string) error {
		host, port, err := app.ClientHost(cfg.SQL.Listen)
		if err != nil {
			return err
		}
		secret := password
		if secret == "" {
			secret = "PASSWORD"
		}
		connStr := app.ConnectionString(c.Username, secret, host, port, c.Database)
		if asJSON {
			out := map[string]any{
				"id": c.ID, "label": c.Label, "username": c.Username, "host": host, "port": port,
				"database": c.Database, "tenant_id": c.TenantID, "connection_string": connStr, "psql": "psql \"" + connStr + "\"",
				"security_context": c.Security, "created_at": c.CreatedAt, "member": c.Member, "act_as": c.ActAs,
				"scopes": c.Scopes,
			}
			if password != "" {
				out["password"] = password
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		fmt.Fprintf(stdout, "id:       %s\nlabel:    %s\nusername: %s\ndatabase: %s\n", c.ID, c.Label, c.Username, c.Database)
		if password != "" {
			fmt.Fprintf(stdout, "password: %s   (shown only now)\n", password)
		}
		if len(c.Security.Allow) > 0 || len(c.Security.RowFilters) > 0 {
			fmt.Fprintf(stdout, "security: %s\n", c.Security)
		}
		if len(c.Scopes) > 0 {
			fmt.Fprintf(stdout, "scopes:   %s\n", strings.Join(c.Scopes, ", "))
		}
		fmt.Fprintf(stdout, "\n  psql \"%s\"\n", connStr)
		return nil
	}
	// parseSecurity reads --security-context and checks its names against
	// the model when the model folder loads.
	parseSecurity := func(src app.DataSourceSpec) (auth.SecurityContext, error) {
		sec, err := auth.ParseSecurityContext(security)
		if err != nil {
			return sec, err
		}
		if m, err := cubes.LoadDir(src.ModelDir); err == nil {
			return sec, sec.Validate(m)
		}
		return sec, nil
	}
	create := &cobra.Command{
		Use:   "create",
		Short: "Mint a SQL credential (the password is shown only now)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return withService(c, func(ctx context.Context, cfg app.Config, svc *auth.Service) error {
				if database == "" {
					database = cfg.DataSource.Name
				}
				src, err := dataSource(cfg, database)
				if err != nil {
					return err
				}
				sec, err := parseSecurity(src)
				if err != nil {
					return err
				}
				cred, pw, err := svc.CreateCredential(ctx, auth.CreateCredentialInput{Label: label, Database: database, TenantID: src.Tenant, Security: sec, Member: member, ActAs: actAs, Scopes: scopes})
				if err != nil {
					return err
				}
				return show(cfg, cred, pw)
			})
		},
	}
	create.Flags().StringVar(&label, "label", "", "a label to recognise the credential by")
	create.Flags().StringVar(&database, "database", "", "the data source it connects to (default: data_source.name)")
	create.Flags().StringVar(&member, "member", "", "the team member it belongs to (optional)")
	create.Flags().BoolVar(&actAs, "act-as", false, "may act for team members: WHERE __user = 'member' reads with that member's security context (Cube's user switching)")
	scopeHelp := "a scope beyond reading rows, repeatable: audit:read (the tenant's whole audit log), sql (warehouse SQL in EXPLAIN)"
	create.Flags().StringSliceVar(&scopes, "scope", nil, scopeHelp)
	create.Flags().StringVar(&security, "security-context", "", `JSON: {"allow": ["cube", "cube.member"], "row_filters": [{"member": "cube.m", "operator": "equals", "values": ["v"]}]}`)
	list := &cobra.Command{
		Use:   "list",
		Short: "List SQL credentials (never their passwords)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return withService(c, func(ctx context.Context, cfg app.Config, svc *auth.Service) error {
				creds, err := svc.ListCredentials(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					if creds == nil {
						creds = []auth.Credential{}
					}
					enc := json.NewEncoder(stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(creds)
				}
				for _, cr := range creds {
					fmt.Fprintf(stdout, "%s  %s  %s  %s\n", cr.ID, cr.Username, cr.Database, cr.Label)
				}
				return nil
			})
		},
	}
	get := &cobra.Command{
		Use:   "show ID|USERNAME",
		Short: "Show a credential: host, port, database, username, connection string, psql command",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withService(c, func(ctx context.Context, cfg app.Config, svc *auth.Service) error {
				cred, err := svc.GetCredential(ctx, args[0])
				if err != nil {
					return err
				}
				return show(cfg, cred, "")
			})
		},
	}
	update := &cobra.Command{
		Use:   "update ID|USERNAME",
		Short: "Change a credential's label, data source, scopes or security context",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withService(c, func(ctx context.Context, cfg app.Config, svc *auth.Service) error {
				var in auth.UpdateCredentialInput
				old, err := svc.GetCredential(ctx, args[0])
				if err != nil {
					return err
				}
				if c.Flags().Changed("label") {
					in.Label = &label
				}
				src, err := dataSource(cfg, old.Database)
				if c.Flags().Changed("database") {
					// Another data source, of the same tenant.
					if src, err = dataSource(cfg, database); err != nil {
						return err
					}
					if src.Tenant != old.TenantID {
						return fmt.Errorf("data source %q belongs to tenant %s, the credential to %s", database, src.Tenant, old.TenantID)
					}
					in.Database = &database
				}
				if c.Flags().Changed("member") {
					in.Member = &member
				}
				if c.Flags().Changed("scope") {
					in.Scopes = &scopes // --scope= (empty) removes them all
				}
				if c.Flags().Changed("security-context") {
					if err != nil {
						return err
					}
					sec, err := parseSecurity(src)
					if err != nil {
						return err
					}
					in.Security = &sec
				}
				cred, err := svc.UpdateCredential(ctx, args[0], in)
				if err != nil {
					return err
				}
				return show(cfg, cred, "")
			})
		},
	}
	update.Flags().StringVar(&label, "label", "", "a new label")
	update.Flags().StringVar(&database, "database", "", "a new data source")
	update.Flags().StringVar(&member, "member", "", "the team member it belongs to")
	update.Flags().StringSliceVar(&scopes, "scope", nil, "the credential's scopes, replacing its own (--scope= for none): audit:read, sql")
	update.Flags().StringVar(&security, "security-context", "", "a new security context (JSON; {} allows everything)")
	rotate := &cobra.Command{
		Use:   "rotate ID|USERNAME",
		Short: "Give a credential a new password (shown only now); the old one stops working",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withService(c, func(ctx context.Context, cfg app.Config, svc *auth.Service) error {
				cred, pw, err := svc.RotatePassword(ctx, args[0])
				if err != nil {
					return err
				}
				return show(cfg, cred, pw)
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete ID|USERNAME",
		Short: "Delete a credential: its next login fails",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withService(c, func(ctx context.Context, cfg app.Config, svc *auth.Service) error {
				if err := svc.DeleteCredential(ctx, args[0]); err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(stdout).Encode(map[string]any{"deleted": args[0]})
				}
				fmt.Fprintf(stdout, "deleted %s\n", args[0])
				return nil
			})
		},
	}
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(create, list, get, update, rotate, del)
	return cmd
}

// withStore runs a management command on the configured state store.
func withStore(c *cobra.Command, load loader, run func(ctx context.Context, cfg app.Config, store *auth.Store) error) error {
	cfg, _, err := load(c)
	if err != nil {
		return err
	}
	// Say which state store this is (on stderr, and not with --json, whose
	// output programs read): a command run from another folder would
	// otherwise quietly make a new, empty one.
	if f := c.Flags().Lookup("json"); f == nil || f.Value.String() != "true" {
		fmt.Fprintf(c.ErrOrStderr(), "cubegate: state store %s\n", describeState(cfg.State.DSN))
	}
	store, err := auth.OpenStore(c.Context(), cfg.State.DSN)
	if err != nil {
		return &app.SettingError{Key: "state.dsn", Value: cfg.State.DSN, Err: err}
	}
	defer store.Close()
	store.SetAuditFailClosed(cfg.Audit.FailClosed)
	return run(c.Context(), cfg, store)
}

func keysCmd(load loader, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage REST API keys (create, list, get, update, revoke)"}
	var asJSON, test, enabled bool
	var description, keyType, behalf, security, expires, tenant string
	var scopes, allowIPs []string
	cmd.PersistentFlags().StringVar(&tenant, "tenant", auth.DefaultTenant, "the tenant whose keys these are")
	withKeys := func(c *cobra.Command, run func(ctx context.Context, ks *auth.KeyService) (any, error)) error {
		var out any
		err := withStore(c, load, func(ctx context.Context, cfg app.Config, store *auth.Store) error {
			ks := auth.NewKeyService(store, cfg.APIKeys.Limit)
			defer ks.Close()
			var err error
			out, err = run(ctx, ks)
			return err
		})
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		printKey := func(k auth.APIKey) {
			state := "enabled"
			switch {
			case k.RevokedAt != nil:
				state = "revoked"
			case !k.Enabled:
				state = "disabled"
			}
			fmt.Fprintf(stdout, "%s  %s…  %s  %s  %s\n", k.ID, k.KeyStart, strings.Join(k.Scopes, ","), state, k.Description)
			if k.KeyValue != "" {
				fmt.Fprintf(stdout, "\nkey: %s   (shown only now)\n", k.KeyValue)
			}
		}
		switch v := out.(type) {
		case auth.APIKey:
			printKey(v)
		case []auth.APIKey:
			for _, k := range v {
				printKey(k)
			}
		}
		return nil
	}
	// input gathers the flags the user set.
	input := func(c *cobra.Command) (auth.KeyInput, error) {
		var in auth.KeyInput
		f := c.Flags()
		if f.Changed("label") {
			in.Description = &description
		}
		if f.Changed("type") {
			in.KeyType = &keyType
		}
		if f.Changed("behalf-of") {
			in.BehalfOfUser = &behalf
		}
		if f.Changed("scopes") {
			in.Scopes = &scopes
		}
		if f.Changed("allow-ip") {
			in.AllowIPs = &allowIPs
		}
		if f.Changed("enabled") {
			in.Enabled = &enabled
		}
		if f.Changed("expires-at") {
			t, err := time.Parse(time.RFC3339, expires)
			if err != nil {
				return in, fmt.Errorf("--expires-at: want RFC 3339 (2027-01-31T00:00:00Z): %w", err)
			}
			in.ExpiresAt = &t
		}
		if f.Changed("security-context") {
			sec, err := auth.ParseSecurityContext(security)
			if err != nil {
				return in, err
			}
			in.Security = &sec
		}
		in.Test = test
		return in, nil
	}
	fields := func(c *cobra.Command) {
		c.Flags().StringVar(&description, "label", "", "what the key is for")
		c.Flags().StringSliceVar(&scopes, "scopes", nil, "scopes: "+strings.Join(auth.Scopes, ", "))
		c.Flags().StringSliceVar(&allowIPs, "allow-ip", nil, "IPv4/IPv6 address or CIDR the key may be used from (repeatable)")
		c.Flags().StringVar(&expires, "expires-at", "", "when the key stops working (RFC 3339)")
		c.Flags().StringVar(&security, "security-context", "", "JSON security context, as for credentials")
		c.Flags().BoolVar(&enabled, "enabled", true, "whether the key works")
	}
	create := &cobra.Command{
		Use:   "create",
		Short: "Mint an API key (its value is shown only now)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return withKeys(c, func(ctx context.Context, ks *auth.KeyService) (any, error) {
				in, err := input(c)
				if err != nil {
					return nil, err
				}
				return ks.Create(ctx, tenant, cliActor(), in)
			})
		},
	}
	fields(create)
	create.Flags().StringVar(&keyType, "type", "shared", "shared, or user (with --behalf-of)")
	create.Flags().StringVar(&behalf, "behalf-of", "", "the user a user key acts for")
	create.Flags().BoolVar(&test, "test", false, "a cg_test_ key instead of cg_live_")
	list := &cobra.Command{
		Use:   "list",
		Short: "List API keys (never their values)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return withKeys(c, func(ctx context.Context, ks *auth.KeyService) (any, error) {
				return ks.List(ctx, tenant)
			})
		},
	}
	get := &cobra.Command{
		Use:   "get ID",
		Short: "Show an API key",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withKeys(c, func(ctx context.Context, ks *auth.KeyService) (any, error) {
				return ks.Get(ctx, tenant, args[0])
			})
		},
	}
	update := &cobra.Command{
		Use:   "update ID",
		Short: "Change an API key's label, scopes, allowed addresses, expiry or enabled flag",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withKeys(c, func(ctx context.Context, ks *auth.KeyService) (any, error) {
				in, err := input(c)
				if err != nil {
					return nil, err
				}
				return ks.Update(ctx, tenant, args[0], in)
			})
		},
	}
	fields(update)
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key: the next request with it is refused",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withKeys(c, func(ctx context.Context, ks *auth.KeyService) (any, error) {
				return ks.Revoke(ctx, tenant, args[0])
			})
		},
	}
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(create, list, get, update, revoke)
	return cmd
}

func modelCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "model", Short: "Work with model files"}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate DIR",
		Short: "Load and validate a model folder; errors name file:line",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := cubes.LoadDirWith(args[0], cubes.LoadOptions{Warn: func(p cubes.Pos, msg string) {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: %s\n", p.File, msg)
			}})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "ok: %d cubes and views (%s)\n", len(m.Cubes), strings.Join(m.CubeNames(), ", "))
			return nil
		},
	})
	cmd.AddCommand(modelGenerateCmd(stdout))
	return cmd
}

// reloadOnSIGHUP reloads the gateway's certificate on SIGHUP.
func reloadOnSIGHUP(g *app.Gateway) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				_ = g.Reload() // logged; the old certificate keeps serving on failure
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// describeState names a state store for people: an SQLite file by its
// absolute path (and whether it exists yet), a PostgreSQL one without its
// password.
func describeState(dsn string) string {
	path, ok := strings.CutPrefix(dsn, "sqlite://")
	if !ok || path == "" {
		if u, err := url.Parse(dsn); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "***")
			}
			return u.String()
		}
		return dsn
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if _, err := os.Stat(path); err != nil {
		return "sqlite://" + path + " (new)"
	}
	return "sqlite://" + path
}

// dataSource finds a configured data source by name.
func dataSource(cfg app.Config, name string) (app.DataSourceSpec, error) {
	if src, ok := cfg.LookupSource(name); ok {
		return src, nil
	}
	var names []string
	for _, s := range cfg.Sources() {
		names = append(names, s.Name)
	}
	return app.DataSourceSpec{}, fmt.Errorf("there is no data source %q (the data sources are: %s)", name, strings.Join(names, ", "))
}

// cliActor names who changes things from the command line in the audit
// log: the operating-system user.
func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

func tenantsCmd(load loader, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "tenants", Short: "Manage tenants (teams owning data sources, credentials and keys)"}
	var asJSON bool
	var name string
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")
	create := &cobra.Command{
		Use:   "create ID",
		Short: "Add a tenant",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withStore(c, load, func(ctx context.Context, _ app.Config, store *auth.Store) error {
				t, err := store.CreateTenant(ctx, args[0], name, cliActor())
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(stdout).Encode(t)
				}
				fmt.Fprintf(stdout, "tenant %s (%s) created\n", t.ID, t.Name)
				return nil
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "a display name")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the tenants and the data sources they own",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return withStore(c, load, func(ctx context.Context, cfg app.Config, store *auth.Store) error {
				ts, err := store.Tenants(ctx)
				if err != nil {
					return err
				}
				type row struct {
					auth.Tenant
					DataSources []string `json:"data_sources"`
				}
				rows := make([]row, len(ts))
				for i, t := range ts {
					rows[i] = row{Tenant: t, DataSources: []string{}}
					for _, s := range cfg.Sources() {
						if s.Tenant == t.ID {
							rows[i].DataSources = append(rows[i].DataSources, s.Name)
						}
					}
				}
				if asJSON {
					return json.NewEncoder(stdout).Encode(rows)
				}
				for _, r := range rows {
					fmt.Fprintf(stdout, "%-20s %-30s %s\n", r.ID, r.Name, strings.Join(r.DataSources, ", "))
				}
				return nil
			})
		},
	}
	cmd.AddCommand(create, list)
	return cmd
}
