package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
)

// consoleCmd manages the web console's users: people who sign in at
// /console with a name and password (kept as a SCRAM-SHA-256 verifier)
// rather than with an API key.
func consoleCmd(load loader, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "console", Short: "Manage the web console (/console): its users"}
	users := &cobra.Command{Use: "users", Short: "Manage console users (create, list, delete, passwd)"}
	var asJSON, readOnly, passwordStdin bool
	var tenant string
	var scopes []string
	users.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")
	withUsers := func(c *cobra.Command, run func(ctx context.Context, u *auth.ConsoleUsers) error) error {
		return withStore(c, load, func(ctx context.Context, _ app.Config, store *auth.Store) error {
			u, err := auth.NewConsoleUsers(ctx, store)
			if err != nil {
				return err
			}
			return run(ctx, u)
		})
	}
	// password reads the password from stdin (--password-stdin), else
	// generates one, printed once.
	password := func(c *cobra.Command) (pw string, generated bool, err error) {
		if passwordStdin {
			line, err := bufio.NewReader(c.InOrStdin()).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return "", false, err
			}
			return strings.TrimRight(line, "\r\n"), false, nil
		}
		pw, err = auth.GeneratePassword()
		return pw, true, err
	}
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Add a console user (admin unless --read-only or --scope); the password comes from --password-stdin or is generated and printed once",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			sc := scopes
			switch {
			case readOnly && len(sc) > 0:
				return errors.New("use either --read-only or --scope")
			case readOnly:
				sc = auth.ReadOnlyScopes
			case len(sc) == 0:
				sc = []string{"admin"}
			}
			pw, generated, err := password(c)
			if err != nil {
				return err
			}
			return withUsers(c, func(ctx context.Context, us *auth.ConsoleUsers) error {
				u, err := us.CreateUser(ctx, args[0], tenant, pw, sc, cliActor())
				if err != nil {
					return err
				}
				if asJSON {
					out := map[string]any{"username": u.Username, "tenant_id": u.TenantID, "scopes": u.Scopes}
					if generated {
						out["password"] = pw
					}
					return json.NewEncoder(stdout).Encode(out)
				}
				fmt.Fprintf(stdout, "console user %s (tenant %s, scopes %s) created\n", u.Username, u.TenantID, strings.Join(u.Scopes, " "))
				if generated {
					fmt.Fprintf(stdout, "password: %s\n(shown once: it is stored as a verifier and cannot be shown again)\n", pw)
				}
				return nil
			})
		},
	}
	create.Flags().StringVar(&tenant, "tenant", auth.DefaultTenant, "the tenant the user manages")
	create.Flags().StringSliceVar(&scopes, "scope", nil, "key scopes the user holds (admin, keys:read, credentials:read, audit:read, …); default admin")
	create.Flags().BoolVar(&readOnly, "read-only", false, "read scopes only ("+strings.Join(auth.ReadOnlyScopes, ", ")+")")
	create.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin (at least 12 characters)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the console users",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return withUsers(c, func(ctx context.Context, us *auth.ConsoleUsers) error {
				all, err := us.Users(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(stdout).Encode(all)
				}
				for _, u := range all {
					fmt.Fprintf(stdout, "%-24s %-16s %-40s %s\n", u.Username, u.TenantID, strings.Join(u.Scopes, " "), u.CreatedAt.Format("2006-01-02 15:04"))
				}
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a console user (its sessions end at once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withUsers(c, func(ctx context.Context, us *auth.ConsoleUsers) error {
				if err := us.DeleteUser(ctx, args[0], cliActor()); err != nil {
					if errors.Is(err, auth.ErrNotFound) {
						return fmt.Errorf("no console user %q", args[0])
					}
					return err
				}
				fmt.Fprintf(stdout, "console user %s deleted\n", args[0])
				return nil
			})
		},
	}
	passwd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a console user's password (from --password-stdin, else generated and printed once); its sessions end",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			pw, generated, err := password(c)
			if err != nil {
				return err
			}
			return withUsers(c, func(ctx context.Context, us *auth.ConsoleUsers) error {
				if err := us.SetPassword(ctx, args[0], pw, cliActor()); err != nil {
					if errors.Is(err, auth.ErrNotFound) {
						return fmt.Errorf("no console user %q", args[0])
					}
					return err
				}
				fmt.Fprintf(stdout, "console user %s: password changed\n", args[0])
				if generated {
					fmt.Fprintf(stdout, "password: %s\n(shown once)\n", pw)
				}
				return nil
			})
		},
	}
	passwd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin (at least 12 characters)")
	users.AddCommand(create, list, del, passwd)
	cmd.AddCommand(users)
	return cmd
}
