package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cubes"
)

// preagg suggest reads the state store's audit log (not a running
// gateway): the query history is there, and the model is on disk.

// suggestMaxEvents bounds the audit events read (newest first).
const suggestMaxEvents = 200000

func suggestCmd(load loader) *cobra.Command {
	var since, tenant, source, modelDir string
	var top int
	c := &cobra.Command{
		Use:   "suggest",
		Short: "Propose rollups for the most frequent, slowest REST queries of the audit log",
		Long: `Reads the queries of the audit log (of --tenant, since --since) and proposes
pre_aggregations YAML covering the query shapes that took the most time, each
with the share of those queries it would have served (by the gateway's own
rollup matching, on the model with it added). The state store and the model
come from the configuration (state.dsn, model.dir or the data source's
model_dir), or --model.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			window, err := parseSince(since)
			if err != nil {
				return fmt.Errorf("--since %q: %v (want a duration such as 7d, 12h or 30m)", since, err)
			}
			asJSON := false
			if f := c.Flags().Lookup("json"); f != nil {
				asJSON = f.Value.String() == "true"
			}
			return withStore(c, load, func(ctx context.Context, cfg app.Config, store *auth.Store) error {
				dir := modelDir
				if dir == "" {
					spec, err := tenantSource(cfg, tenant, source)
					if err != nil {
						return err
					}
					dir = spec.ModelDir
				}
				files, err := readModelFiles(dir)
				if err != nil {
					return err
				}
				m, err := cubes.LoadFiles(files)
				if err != nil {
					return fmt.Errorf("model %s: %w", dir, err)
				}
				now := time.Now()
				h, err := readHistory(ctx, store, tenant, now.Add(-window))
				if err != nil {
					return err
				}
				rep := cubes.SuggestAll(m, h.rest, top, now)
				out := suggestOutput{Tenant: tenant, Since: now.Add(-window).UTC(), Model: dir, Queries: len(h.rest), SQLQueries: h.sql,
					Unreadable: h.unreadable, Truncated: h.truncated, AlreadyServed: rep.AlreadyServed, Unservable: rep.Unservable,
					Suggestions: []suggestionOut{}}
				for _, s := range rep.Suggestions {
					// The YAML, pasted and loaded, must serve what it claims.
					if n, err := cubes.VerifySuggestion(files, h.rest, s, now); err != nil || n != s.Queries {
						return fmt.Errorf("internal error: suggestion %s claims %d queries, serves %d once loaded: %v", s.Name, s.Queries, n, err)
					}
					out.Suggestions = append(out.Suggestions, suggestionOut{Cube: s.Cube, Name: s.Name, YAML: s.YAML, Queries: s.Queries,
						Share: s.Share, TotalMS: ms(s.Total), MeanMS: ms(s.Mean), Shapes: s.Shapes})
				}
				if asJSON {
					return printJSON(c.OutOrStdout(), out)
				}
				out.write(c.OutOrStdout(), window)
				return nil
			})
		},
	}
	c.Flags().StringVar(&since, "since", "7d", "how far back to read the audit log (7d, 12h, 30m)")
	c.Flags().StringVar(&tenant, "tenant", auth.DefaultTenant, "whose queries")
	c.Flags().IntVar(&top, "top", 5, "how many suggestions")
	c.Flags().StringVar(&source, "data-source", "", "the data source whose model to use (default: the tenant's first)")
	c.Flags().StringVar(&modelDir, "model", "", "the model folder (default: the data source's)")
	addConfigFlags(c.Flags())
	return c
}

// suggestOutput is what suggest prints (as JSON with --json).
type suggestOutput struct {
	Tenant        string                  `json:"tenant"`
	Since         time.Time               `json:"since"`
	Model         string                  `json:"model"`
	Queries       int                     `json:"queries"`     // REST queries read
	SQLQueries    int                     `json:"sql_queries"` // not analysed
	Unreadable    int                     `json:"unreadable,omitempty"`
	Truncated     bool                    `json:"truncated,omitempty"`
	AlreadyServed int                     `json:"already_served"`
	Suggestions   []suggestionOut         `json:"suggestions"`
	Unservable    []cubes.UnservableShape `json:"unservable,omitempty"`
}

type suggestionOut struct {
	Cube    string  `json:"cube"`
	Name    string  `json:"name"`
	YAML    string  `json:"yaml"`
	Queries int     `json:"queries"`
	Share   float64 `json:"share"`
	TotalMS float64 `json:"total_ms"`
	MeanMS  float64 `json:"mean_ms"`
	Shapes  int     `json:"shapes"`
}

func (o suggestOutput) write(w io.Writer, window time.Duration) {
	span := fmt.Sprintf("in the last %s (since %s)", humanWindow(window), o.Since.Local().Format(time.DateTime))
	if o.Queries == 0 && o.SQLQueries == 0 {
		fmt.Fprintf(w, "no queries of tenant %s in the audit log %s: nothing to suggest from\n", o.Tenant, span)
		return
	}
	fmt.Fprintf(w, "%d REST quer%s of tenant %s %s, model %s\n", o.Queries, ies(o.Queries), o.Tenant, span, o.Model)
	if o.SQLQueries > 0 {
		fmt.Fprintf(w, "%d SQL API quer%s not analysed: suggestions read REST queries only (yet)\n", o.SQLQueries, ies(o.SQLQueries))
	}
	if o.Truncated {
		fmt.Fprintf(w, "only the newest %d audit events were read\n", suggestMaxEvents)
	}
	if o.AlreadyServed > 0 {
		fmt.Fprintf(w, "%d quer%s already answered by the model's rollups\n", o.AlreadyServed, ies(o.AlreadyServed))
	}
	if len(o.Suggestions) == 0 {
		fmt.Fprintln(w, "\nno rollup to suggest: no query left would be served by one")
	}
	for i, s := range o.Suggestions {
		fmt.Fprintf(w, "\n%d. %s.%s would have served %d of %d queries (%.1f%%), %s in all, %s on average, from %d query shape%s\n",
			i+1, s.Cube, s.Name, s.Queries, o.Queries, 100*s.Share, buildTime(s.TotalMS), buildTime(s.MeanMS), s.Shapes, plural(s.Shapes))
		fmt.Fprintf(w, "   paste under the pre_aggregations: of cube %s:\n\n", s.Cube)
		for _, line := range strings.Split(strings.TrimRight(s.YAML, "\n"), "\n") {
			fmt.Fprintf(w, "      %s\n", line)
		}
	}
	if len(o.Unservable) > 0 {
		fmt.Fprintln(w, "\nquery shapes no rollup can serve:")
		for _, u := range o.Unservable {
			fmt.Fprintf(w, "  %d quer%s: %s\n    e.g. %s\n", u.Queries, ies(u.Queries), u.Why, u.Example)
		}
	}
}

func ies(n int) string {
	if n == 1 {
		return "y"
	}
	return "ies"
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// history is the audit log's queries: REST ones as queries, SQL ones
// counted.
type history struct {
	rest       []cubes.SuggestQuery
	sql        int
	unreadable int
	truncated  bool
}

// readHistory pages through the tenant's query events newer than since.
func readHistory(ctx context.Context, store *auth.Store, tenant string, since time.Time) (history, error) {
	var h history
	a := auth.NewAudit(store)
	defer a.Close()
	var before int64
	read := 0
	for {
		events, next, err := a.Page(ctx, tenant, "query", auth.MaxAuditPage, before)
		if err != nil {
			return h, fmt.Errorf("reading the audit log: %w", err)
		}
		for _, e := range events {
			if e.Time.Before(since) {
				return h, nil
			}
			if read++; read > suggestMaxEvents {
				h.truncated = true
				return h, nil
			}
			if e.Outcome != "ok" {
				continue
			}
			switch e.Action {
			case "sql":
				h.sql++
			case "rest":
				q, err := cubes.ParseAuditQuery(e.Statement)
				if err != nil {
					h.unreadable++
					continue
				}
				h.rest = append(h.rest, cubes.SuggestQuery{Query: q, Duration: time.Duration(e.DurationMS * float64(time.Millisecond)), When: e.Time})
			}
		}
		if next == 0 {
			return h, nil
		}
		before = next
	}
}

// tenantSource is the data source named, else the tenant's first.
func tenantSource(cfg app.Config, tenant, name string) (app.DataSourceSpec, error) {
	var names []string
	for _, s := range cfg.Sources() {
		if name != "" && s.Name == name || name == "" && s.Tenant == tenant {
			return s, nil
		}
		names = append(names, s.Name)
	}
	if name != "" {
		return app.DataSourceSpec{}, fmt.Errorf("no data source %q (there are: %s)", name, strings.Join(names, ", "))
	}
	return app.DataSourceSpec{}, fmt.Errorf("tenant %s owns no data source: name its model with --model", tenant)
}

// readModelFiles reads the model's files as cubes.LoadDir does.
func readModelFiles(dir string) (map[string][]byte, error) {
	if dir == "" {
		return nil, &app.SettingError{Key: "model.dir", Value: dir, Err: fmt.Errorf("no model folder: set model.dir or --model")}
	}
	files, err := cubes.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	return files, nil
}

// parseSince reads 7d, 2w, 12h, 30m (a Go duration, or days and weeks).
func parseSince(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			f, err := strconv.ParseFloat(n, 64)
			if err != nil || f <= 0 {
				return 0, fmt.Errorf("not a positive number of %s", map[string]string{"d": "days", "w": "weeks"}[suffix])
			}
			return time.Duration(f * float64(unit)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err == nil && d <= 0 {
		err = fmt.Errorf("not positive")
	}
	return d, err
}

// humanWindow writes whole days as days.
func humanWindow(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		days := int(d / (24 * time.Hour))
		return fmt.Sprintf("%d day%s", days, plural(days))
	}
	if d >= time.Hour && d%time.Hour == 0 {
		hours := int(d / time.Hour)
		return fmt.Sprintf("%d hour%s", hours, plural(hours))
	}
	return d.String()
}
