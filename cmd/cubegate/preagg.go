package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cubegate/cubegate/cmd/cubegate/app"
)

// The preagg and cache commands talk to a running gateway's admin API
// (/admin/v1/pre-aggregations, /admin/v1/cache) rather than the state
// store: the rollups and the result cache live in the gateway's memory.

// adminKeyEnv holds the admin API key when --key is not given (a flag's
// value shows in ps and shell history; the environment does not).
const adminKeyEnv = "CUBEGATE_ADMIN_KEY"

// gatewayFlags are the flags of every command that calls the gateway.
type gatewayFlags struct {
	url    string
	key    string
	asJSON bool
}

func (f *gatewayFlags) register(c *cobra.Command) {
	c.PersistentFlags().StringVar(&f.url, "url", "", "the gateway's HTTP address (default: http://<http.listen> of the configuration)")
	c.PersistentFlags().StringVar(&f.key, "key", "", "an API key with the admin scope (default: $"+adminKeyEnv+")")
	c.PersistentFlags().BoolVar(&f.asJSON, "json", false, "print JSON")
}

// client resolves the gateway's URL and the key for one command.
func (f *gatewayFlags) client(c *cobra.Command, load loader) (*adminClient, error) {
	base := f.url
	if base == "" {
		// Only read the configuration when it is needed: --url works
		// from anywhere, even beside a configuration that does not load.
		cfg, _, err := load(c)
		if err != nil {
			return nil, err
		}
		host, port, err := app.ClientHost(cfg.HTTP.Listen)
		if err != nil {
			return nil, &app.SettingError{Key: "http.listen", Value: cfg.HTTP.Listen, Err: err}
		}
		base = "http://" + net.JoinHostPort(host, port)
	} else if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	key := f.key
	if key == "" {
		key = os.Getenv(adminKeyEnv)
	}
	if key == "" {
		return nil, fmt.Errorf("no API key: give one with the admin scope as --key or in $%s (cubegate keys create --scopes admin makes one)", adminKeyEnv)
	}
	return &adminClient{base: strings.TrimRight(base, "/"), key: key, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// adminClient calls a running gateway's admin API with one key.
type adminClient struct {
	base string // http://127.0.0.1:4000
	key  string // never printed
	http *http.Client
}

// gatewayError is an admin API answer other than 2xx.
type gatewayError struct {
	Status  int
	Code    string
	Message string
}

func (e *gatewayError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("the gateway answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("the gateway answered %d %s: %s", e.Status, e.Code, e.Message)
}

// do sends body (nil: none) and decodes the answer's data into out.
func (c *adminClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("--url %s: %w", c.base, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("no gateway answers at %s (is cubegate serve running? --url or http.listen say where)", c.base)
		}
		return fmt.Errorf("no gateway answers at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, c.base+path, err)
	}
	var env struct {
		Data  json.RawMessage `json:"data"`
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	jsonErr := json.Unmarshal(raw, &env)
	if resp.StatusCode/100 != 2 {
		ge := &gatewayError{Status: resp.StatusCode}
		if jsonErr == nil && env.Error != nil {
			ge.Code, ge.Message = env.Error.Code, env.Error.Message
		}
		return c.explain(path, ge)
	}
	if jsonErr != nil || env.Data == nil {
		return fmt.Errorf("%s at %s did not answer as cubegate's admin API does (%d, %.80q)", path, c.base, resp.StatusCode, raw)
	}
	return json.Unmarshal(env.Data, out)
}

// explain turns the answers people meet most into what to do about them.
func (c *adminClient) explain(path string, e *gatewayError) error {
	switch {
	case e.Status == http.StatusUnauthorized:
		return fmt.Errorf("the gateway at %s refused the key (%s: %s); these commands need an API key with the admin scope", c.base, e.Code, e.Message)
	case e.Status == http.StatusForbidden && e.Code == "ACCESS_DENIED_PERMISSIONS":
		return fmt.Errorf("the key lacks the admin scope, which %s needs (cubegate keys update ID --scopes admin,… adds it)", path)
	case e.Status == http.StatusForbidden:
		return fmt.Errorf("the gateway at %s refused the request (%s: %s); these commands need an API key with the admin scope", c.base, e.Code, e.Message)
	case e.Status == http.StatusNotFound && e.Code == "":
		what := "the result cache (cache.enabled)"
		if strings.HasPrefix(path, "/admin/v1/pre-aggregations") {
			what = "pre-aggregations (preagg.enabled)"
		}
		return fmt.Errorf("the gateway at %s does not serve %s: %s is off there", c.base, path, what)
	}
	return e
}

// preAgg is one entry of GET /admin/v1/pre-aggregations.
type preAgg struct {
	ID           string    `json:"id"`
	DataSource   string    `json:"data_source"`
	Name         string    `json:"name"`
	State        string    `json:"state"`
	Rows         int64     `json:"rows"`
	Bytes        int64     `json:"bytes"`
	BuiltAt      time.Time `json:"built_at,omitzero"`
	BuildMS      float64   `json:"build_ms"`
	Hits         int64     `json:"hits"`
	Error        string    `json:"error,omitempty"`
	RefreshEvery string    `json:"refresh_every"`
}

// target is a rollup by data source and name: its id changes when its
// definition does.
func (p preAgg) target() string { return p.DataSource + "\x00" + p.Name }

func (c *adminClient) preAggs(ctx context.Context) ([]preAgg, error) {
	var list []preAgg
	err := c.do(ctx, http.MethodGet, "/admin/v1/pre-aggregations", nil, &list)
	return list, err
}

// preaggPoll is how often refresh --wait asks; preaggSettle is how long
// a rollup that had failed before may show the same error, with nothing
// building, before --wait takes it as failed again (the API has no
// attempt time, and a quick failure falls between two polls).
var (
	preaggPoll   = 200 * time.Millisecond
	preaggSettle = 3 * time.Second
)

func preaggCmd(load loader, stdout io.Writer) *cobra.Command {
	var gf gatewayFlags
	cmd := &cobra.Command{Use: "preagg", Short: "Pre-aggregations of a running gateway (list, refresh)"}
	gf.register(cmd)
	list := &cobra.Command{
		Use:   "list",
		Short: "List the pre-aggregations: state, rows, size, last build, hits, error",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := gf.client(c, load)
			if err != nil {
				return err
			}
			l, err := cl.preAggs(c.Context())
			if err != nil {
				return err
			}
			if gf.asJSON {
				return printJSON(stdout, l)
			}
			if len(l) == 0 {
				fmt.Fprintln(stdout, "no pre-aggregations (the key's tenant's models define no rollup with scheduled refresh)")
				return nil
			}
			writePreAggTable(stdout, l)
			return nil
		},
	}
	var source string
	var wait bool
	var timeout time.Duration
	refresh := &cobra.Command{
		Use:   "refresh [NAME]",
		Short: "Rebuild a pre-aggregation (cube.rollup or rollup), or all of them, now",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := gf.client(c, load)
			if err != nil {
				return err
			}
			ctx := c.Context()
			before, err := cl.preAggs(ctx)
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			targets, full, err := pickPreAggs(before, source, name)
			if err != nil {
				return err
			}
			var ans struct {
				Refreshing int `json:"refreshing"`
			}
			if err := cl.do(ctx, http.MethodPost, "/admin/v1/pre-aggregations/refresh", map[string]string{"data_source": source, "name": full}, &ans); err != nil {
				return err
			}
			if ans.Refreshing == 0 {
				return errors.New("the gateway found no pre-aggregation to refresh (did its model just reload?)")
			}
			if !wait {
				if gf.asJSON {
					return printJSON(stdout, ans)
				}
				fmt.Fprintf(stdout, "refreshing %d pre-aggregation%s\n", ans.Refreshing, plural(ans.Refreshing))
				return nil
			}
			if !gf.asJSON {
				fmt.Fprintf(c.ErrOrStderr(), "refreshing %d pre-aggregation%s, waiting up to %s …\n", ans.Refreshing, plural(ans.Refreshing), timeout)
			}
			wctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			done, err := waitRebuilt(wctx, cl, targets)
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
					return fmt.Errorf("--timeout %s passed: %w", timeout, err)
				}
				return err
			}
			if gf.asJSON {
				return printJSON(stdout, done)
			}
			for _, p := range done {
				fmt.Fprintf(stdout, "%s (%s) BUILT at %s: %d rows, %s, in %s\n", p.Name, p.DataSource,
					p.BuiltAt.Local().Format(time.DateTime), p.Rows, humanBytes(p.Bytes), buildTime(p.BuildMS))
			}
			return nil
		},
	}
	refresh.Flags().StringVar(&source, "data-source", "", "only this data source's pre-aggregations")
	refresh.Flags().BoolVar(&wait, "wait", false, "wait until they are built again (exit non-zero when a build fails)")
	refresh.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "with --wait: how long to wait")
	cmd.AddCommand(list, refresh, suggestCmd(load))
	return cmd
}

// pickPreAggs finds the pre-aggregations refresh asks for — name is
// cube.rollup or, when only one cube has it, rollup — and the full name
// to send ("" for all).
func pickPreAggs(l []preAgg, source, name string) ([]preAgg, string, error) {
	var out []preAgg
	full := map[string]bool{}
	var known []string
	for _, p := range l {
		if source != "" && p.DataSource != source {
			continue
		}
		known = append(known, p.Name)
		if name == "" || p.Name == name || strings.HasSuffix(p.Name, "."+name) {
			out = append(out, p)
			full[p.Name] = true
		}
	}
	where := ""
	if source != "" {
		where = " in data source " + source
	}
	switch {
	case len(known) == 0:
		return nil, "", fmt.Errorf("the gateway has no pre-aggregations%s", where)
	case len(out) == 0:
		sort.Strings(known)
		return nil, "", fmt.Errorf("no pre-aggregation %q%s (there are: %s)", name, where, strings.Join(dedupe(known), ", "))
	case len(full) > 1 && name != "":
		var names []string
		for n := range full {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, "", fmt.Errorf("%q names %s: say which", name, strings.Join(names, " and "))
	}
	if name != "" {
		return out, out[0].Name, nil
	}
	return out, "", nil
}

// waitRebuilt polls until every target is BUILT with a newer built_at,
// or one's build fails. A build counts as failed when its error is new
// or changed, when it was seen BUILDING and ended without a newer build,
// or — when it had failed before with this same error — after
// preaggSettle with nothing building.
func waitRebuilt(ctx context.Context, cl *adminClient, targets []preAgg) ([]preAgg, error) {
	before := map[string]preAgg{}
	for _, p := range targets {
		before[p.target()] = p
	}
	sawBuilding := map[string]bool{}
	done := map[string]preAgg{}
	var quietSince time.Time
	last := map[string]preAgg{}
	for {
		l, err := cl.preAggs(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, waitTimeout(before, done, last)
			}
			return nil, err
		}
		anyBuilding := false
		for _, p := range l {
			if p.State == "BUILDING" {
				anyBuilding = true
			}
		}
		if anyBuilding {
			quietSince = time.Time{}
		} else if quietSince.IsZero() {
			quietSince = time.Now()
		}
		for _, p := range l {
			k := p.target()
			b, ok := before[k]
			if !ok {
				continue
			}
			if _, ok := done[k]; ok {
				continue
			}
			last[k] = p
			switch {
			case p.State == "BUILDING":
				sawBuilding[k] = true
			case p.BuiltAt.After(b.BuiltAt) && p.Error == "":
				done[k] = p
			case p.Error != "" && (p.Error != b.Error || sawBuilding[k]):
				return nil, fmt.Errorf("pre-aggregation %s (%s) failed to build: %s", p.Name, p.DataSource, p.Error)
			case p.Error != "" && !quietSince.IsZero() && time.Since(quietSince) >= preaggSettle:
				return nil, fmt.Errorf("pre-aggregation %s (%s) still fails to build: %s", p.Name, p.DataSource, p.Error)
			}
		}
		if len(done) == len(before) {
			out := make([]preAgg, 0, len(done))
			for _, p := range done {
				out = append(out, p)
			}
			sort.Slice(out, func(i, j int) bool { return out[i].target() < out[j].target() })
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, waitTimeout(before, done, last)
		case <-time.After(preaggPoll):
		}
	}
}

// waitTimeout names what was not rebuilt in time.
func waitTimeout(before, done, last map[string]preAgg) error {
	var left []string
	for k, b := range before {
		if _, ok := done[k]; ok {
			continue
		}
		p, ok := last[k]
		switch {
		case !ok:
			left = append(left, b.Name+" (gone from the list)")
		case p.Error != "":
			left = append(left, fmt.Sprintf("%s (%s, last error: %s)", p.Name, p.State, p.Error))
		default:
			left = append(left, fmt.Sprintf("%s (%s)", p.Name, p.State))
		}
	}
	sort.Strings(left)
	return fmt.Errorf("%w: not rebuilt yet: %s", context.DeadlineExceeded, strings.Join(left, "; "))
}

func writePreAggTable(w io.Writer, l []preAgg) {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDATA SOURCE\tSTATE\tROWS\tSIZE\tBUILT AT\tBUILD TIME\tHITS\tERROR")
	for _, p := range l {
		built, took := "-", "-"
		if !p.BuiltAt.IsZero() {
			built = p.BuiltAt.Local().Format(time.DateTime)
			took = buildTime(p.BuildMS)
		}
		errText := strings.Join(strings.Fields(p.Error), " ")
		if r := []rune(errText); len(r) > 80 {
			errText = string(r[:79]) + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\n", p.Name, p.DataSource, p.State, p.Rows, humanBytes(p.Bytes), built, took, p.Hits, errText)
	}
	tw.Flush()
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		// The padding of an empty last column.
		if t := strings.TrimRight(line, " \n"); t != "" {
			fmt.Fprintln(w, t)
		}
	}
}

// cacheStats is GET /admin/v1/cache.
type cacheStats struct {
	Entries   int64 `json:"entries"`
	Bytes     int64 `json:"bytes"`
	MaxBytes  int64 `json:"max_bytes"`
	Hits      int64 `json:"hits"`
	Misses    int64 `json:"misses"`
	Stores    int64 `json:"stores"`
	Evictions int64 `json:"evictions"`
	TooLarge  int64 `json:"too_large"`
}

func cacheCmd(load loader, stdout io.Writer) *cobra.Command {
	var gf gatewayFlags
	cmd := &cobra.Command{Use: "cache", Short: "The result cache of a running gateway (stats, invalidate)"}
	gf.register(cmd)
	stats := &cobra.Command{
		Use:   "stats",
		Short: "Show the result cache's size, hits and misses",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := gf.client(c, load)
			if err != nil {
				return err
			}
			var s cacheStats
			if err := cl.do(c.Context(), http.MethodGet, "/admin/v1/cache", nil, &s); err != nil {
				return err
			}
			if gf.asJSON {
				return printJSON(stdout, s)
			}
			ratio := "-"
			if s.Hits+s.Misses > 0 {
				ratio = fmt.Sprintf("%.1f%%", 100*float64(s.Hits)/float64(s.Hits+s.Misses))
			}
			fmt.Fprintf(stdout, "entries:    %d\nsize:       %s of %s\nhits:       %d\nmisses:     %d\nhit ratio:  %s\nstores:     %d\nevictions:  %d\ntoo large:  %d\n",
				s.Entries, humanBytes(s.Bytes), humanBytes(s.MaxBytes), s.Hits, s.Misses, ratio, s.Stores, s.Evictions, s.TooLarge)
			return nil
		},
	}
	var cube, source string
	invalidate := &cobra.Command{
		Use:   "invalidate",
		Short: "Drop cached answers (the key's tenant's; --cube, --data-source narrow it)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := gf.client(c, load)
			if err != nil {
				return err
			}
			var ans struct {
				Invalidated int `json:"invalidated"`
			}
			if err := cl.do(c.Context(), http.MethodPost, "/admin/v1/cache/invalidate", map[string]string{"data_source": source, "cube": cube}, &ans); err != nil {
				return err
			}
			if gf.asJSON {
				return printJSON(stdout, ans)
			}
			fmt.Fprintf(stdout, "invalidated %d cached answer%s\n", ans.Invalidated, plural(ans.Invalidated))
			return nil
		},
	}
	invalidate.Flags().StringVar(&cube, "cube", "", "only answers that read this cube")
	invalidate.Flags().StringVar(&source, "data-source", "", "only answers of this data source")
	cmd.AddCommand(stats, invalidate)
	return cmd
}

// humanBytes writes a size for people: 0 B, 812 B, 1.5 KiB, 256 MiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	s := fmt.Sprintf("%.1f", v)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + []string{"KiB", "MiB", "GiB", "TiB", "PiB"}[i]
}

// buildTime writes a build's duration from milliseconds.
func buildTime(ms float64) string {
	d := time.Duration(ms * float64(time.Millisecond))
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
