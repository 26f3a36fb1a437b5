package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/cubes"
)

// suggestSalesModel is the demo orders with a time dimension, a
// count_distinct and one rollup by status.
const suggestSalesModel = `
cubes:
  - name: sales
    sql_table: public.orders_raw
    measures:
      - name: count
        type: count
      - name: revenue
        sql: amount
        type: sum
      - name: customers
        sql: customer_id
        type: count_distinct
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: status
        sql: status
        type: string
      - name: channel
        sql: channel
        type: string
      - name: created_at
        sql: created_at
        type: time
    pre_aggregations:
      - name: by_status
        measures: [count]
        dimensions: [status]
`

// suggestQueries are 55 REST queries of five shapes: three one rollup
// serves, one an existing rollup serves, one (count_distinct re-grouped
// by month) none can.
func suggestQueries() []string {
	var qs []string
	statuses := []string{"completed", "shipped", "processing", "cancelled", "returned"}
	for i := range 20 {
		month := 1 + i%12
		qs = append(qs, fmt.Sprintf(`{"measures":["sales.count","sales.revenue"],"dimensions":["sales.status"],"timeDimensions":[{"dimension":"sales.created_at","granularity":"day","dateRange":["2023-%02d-01","2023-%02d-15"]}]}`, month, month))
	}
	for i := range 15 {
		qs = append(qs, fmt.Sprintf(`{"measures":["sales.count"],"dimensions":["sales.channel"],"filters":[{"member":"sales.status","operator":"equals","values":[%q]}]}`, statuses[i%5]))
	}
	for i := range 10 {
		qs = append(qs, fmt.Sprintf(`{"measures":["sales.revenue"],"timeDimensions":[{"dimension":"sales.created_at","granularity":"month","dateRange":["%d-01-01","%d-12-31"]}]}`, 2022+i%3, 2022+i%3))
	}
	for range 5 {
		qs = append(qs, `{"measures":["sales.count"],"dimensions":["sales.status"]}`)
	}
	for range 5 {
		qs = append(qs, `{"measures":["sales.customers"],"timeDimensions":[{"dimension":"sales.created_at","granularity":"month"}]}`)
	}
	return qs
}

// TestSuggestCLI: a gateway answers 55 REST queries; preagg suggest reads
// them from the audit log and proposes a rollup; a second gateway with
// that rollup pasted into its model, once it is built, answers from it
// exactly the share of the same queries the suggestion claimed.
func TestSuggestCLI(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(2000), Model: suggestSalesModel, Adjust: func(c *app.Config) { c.Model.Watch = false }})
	load := mintKey(t, g, "load")
	cli := cliRun{t: t, secrets: []string{load}}
	flags := []string{"--state-dsn", g.Config.State.DSN, "--model-dir", g.Config.Model.Dir}
	t.Setenv("CUBEGATE_CONFIG", "")

	// Nothing yet: said plainly.
	out := cli.ok(append([]string{"preagg", "suggest"}, flags...)...)
	if !strings.HasPrefix(out, "no queries of tenant default in the audit log in the last 7 days") {
		t.Fatalf("no history: %q", out)
	}

	qs := suggestQueries()
	for _, q := range qs {
		restLoad(t, g, load, q)
	}
	g.Close() // the audit log written
	// Two SQL API statements (as the audit log keeps them): counted, not
	// analysed.
	store, err := auth.OpenStore(t.Context(), g.Config.State.DSN)
	if err != nil {
		t.Fatal(err)
	}
	a := auth.NewAudit(store)
	for range 2 {
		a.Log(auth.AuditEvent{Kind: "query", Action: "sql", Outcome: "ok", Statement: "SELECT status, MEASURE(count) FROM sales WHERE status = $1 GROUP BY 1", DurationMS: 3})
	}
	a.Close()
	store.Close()

	var rep suggestOutput
	if err := json.Unmarshal([]byte(cli.ok(append([]string{"preagg", "suggest", "--json", "--top", "3"}, flags...)...)), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Queries != len(qs) || rep.SQLQueries != 2 || rep.AlreadyServed != 5 || len(rep.Suggestions) != 1 || len(rep.Unservable) != 1 {
		t.Fatalf("suggest --json: %+v", rep)
	}
	s := rep.Suggestions[0]
	wantYAML := `- name: sales_status_channel_day
  measures: [count, revenue]
  dimensions: [status, channel]
  time_dimension: created_at
  granularity: day
  partition_granularity: month
`
	if s.Cube != "sales" || s.YAML != wantYAML || s.Queries != 45 || s.Shapes != 3 || s.TotalMS <= 0 {
		t.Fatalf("suggestion: %+v\n%s", s, s.YAML)
	}
	if !strings.Contains(rep.Unservable[0].Why, "sales.customers (count_distinct) does not combine") || rep.Unservable[0].Queries != 5 {
		t.Fatalf("unservable: %+v", rep.Unservable)
	}

	text := cli.ok(append([]string{"preagg", "suggest", "--since", "1h"}, flags...)...)
	for _, want := range []string{
		"55 REST queries of tenant default in the last 1 hour",
		"2 SQL API queries not analysed: suggestions read REST queries only (yet)\n",
		"5 queries already answered by the model's rollups",
		"1. sales.sales_status_channel_day would have served 45 of 55 queries (81.8%), ",
		"      - name: sales_status_channel_day\n        measures: [count, revenue]\n",
		"query shapes no rollup can serve:\n  5 queries: sales.customers (count_distinct)",
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("suggest: no %q in\n%s", want, text)
		}
	}
	t.Log("\n" + text)
	cli.fails(`--since "soon"`, append([]string{"preagg", "suggest", "--since", "soon"}, flags...)...)

	// The suggestion pasted into the model: a second gateway builds it and
	// answers the same queries, the claimed share from it.
	files, err := readModelFiles(g.Config.Model.Dir)
	if err != nil {
		t.Fatal(err)
	}
	files, err = cubes.WithPreAggregation(files, s.Cube, s.YAML)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g2 := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(2000), ModelDir: dir, Adjust: func(c *app.Config) {
		c.Model.Watch = false
		c.Cache.Enabled = false
	}})
	admin, load2 := mintKey(t, g2, "admin"), mintKey(t, g2, "load")
	cl := &adminClient{base: "http://" + g2.HTTPAddr().String(), key: admin, http: http.DefaultClient}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		l, err := cl.preAggs(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		built := 0
		for _, p := range l {
			if p.State == "ERROR" {
				t.Fatalf("a rollup failed to build: %+v", p)
			}
			if p.State == "BUILT" {
				built++
			}
		}
		if built == len(l) && len(l) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not built within 60 s: %+v", l)
		}
	}
	served := 0
	for _, q := range qs {
		if used := restLoad(t, g2, load2, q); used["sales."+s.Name] != nil {
			served++
		}
	}
	if got := float64(served) / float64(len(qs)); served != s.Queries || got != s.Share {
		t.Fatalf("the rollup answered %d of %d queries (%v), the suggestion claimed %d (%v)", served, len(qs), got, s.Queries, s.Share)
	}
}

// restLoad asks /cubejs-api/v1/load and returns the answer's
// usedPreAggregations.
func restLoad(t *testing.T, g *apptest.Gateway, key, query string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+g.HTTPAddr().String()+"/cubejs-api/v1/load", strings.NewReader(`{"query":`+query+`}`))
	req.Header.Set("Authorization", key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("load %s: %d %s", query, resp.StatusCode, b)
	}
	var ans struct {
		UsedPreAggregations map[string]any `json:"usedPreAggregations"`
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return ans.UsedPreAggregations
}
