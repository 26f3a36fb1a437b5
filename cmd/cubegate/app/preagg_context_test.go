package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// contextJoinModel reads customers through a join whose SQL carries the
// principal's claim: a rollup over customers.country would hold every
// country's orders. orders.by_status joins nothing and stays a rollup.
const contextJoinModel = `cubes:
  - name: orders
    sql_table: public.orders_raw
    joins:
      - name: customers
        relationship: many_to_one
        sql: "{CUBE}.customer_id = {customers.id} AND {SECURITY_CONTEXT.country.filter('{customers}.country')}"
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: status
        sql: status
        type: string
    pre_aggregations:
      - name: by_country
        measures: [count]
        dimensions: [customers.country]
      - name: by_status
        measures: [count]
        dimensions: [status]
  - name: customers
    sql_table: public.customers_raw
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: country
        sql: country
        type: string
`

// TestRollupWithContextJoin: with a rollup defined over a join that
// reads SECURITY_CONTEXT, two principals with different claims get their
// own, correct counts over REST and SQL (the rollup, built without
// claims, is neither built nor read; EXPLAIN says why), while a rollup
// that reads no context is built and answers.
func TestRollupWithContextJoin(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(2000), Model: contextJoinModel, Adjust: func(c *app.Config) {
		c.PreAgg.Enabled = true
		c.Cache.Enabled = false
	}})
	ctx := context.Background()
	base := "http://" + g.HTTPAddr().String()
	api := newAPIClient(t, base, "")
	admin := testKey(t, g, nil, "admin")

	// by_status builds; by_country is refused, once, with the reason.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var list []map[string]any
		json.Unmarshal(api.do("GET", "/admin/v1/pre-aggregations", admin, nil).Data, &list)
		state := map[string]map[string]any{}
		for _, p := range list {
			state[fmt.Sprint(p["name"])] = p
		}
		st, ct := state["orders.by_status"], state["orders.by_country"]
		if st != nil && st["state"] == "ERROR" {
			t.Fatalf("orders.by_status failed: %v", st)
		}
		if st != nil && ct != nil && st["state"] == "BUILT" && ct["state"] == "ERROR" {
			if msg := fmt.Sprint(ct["error"]); !strings.Contains(msg, "query-time context") || !strings.Contains(msg, "SECURITY_CONTEXT.country") {
				t.Errorf("orders.by_country's error: %s", msg)
			}
			break
		}
		if ct != nil && ct["state"] == "BUILT" {
			t.Fatalf("orders.by_country was built without the claims: %v", ct)
		}
		if time.Now().After(deadline) {
			t.Fatalf("pre-aggregations: %v", list)
		}
		time.Sleep(50 * time.Millisecond)
	}

	host, port, _ := app.ClientHost(g.SQLAddr().String())
	secOf := func(claims string) *auth.SecurityContext {
		sec, err := auth.ParseSecurityContext(claims)
		if err != nil {
			t.Fatal(err)
		}
		return &sec
	}
	mint := func(claims string) string {
		c, pw, err := g.Auth.CreateCredential(ctx, auth.CreateCredentialInput{Label: "claims", Database: g.Database, Security: *secOf(claims)})
		if err != nil {
			t.Fatal(err)
		}
		return app.ConnectionString(c.Username, pw, host, port, c.Database)
	}
	const bySQL = `SELECT customers.country, MEASURE(orders.count) FROM orders JOIN customers ON true GROUP BY 1 ORDER BY 1`
	// The join is a left join: orders of customers outside the claim's
	// country keep a NULL country.
	want := func(country string) [][]string {
		return direct(t, g, fmt.Sprintf(`SELECT c.country, count(*) FROM public.orders_raw o
			LEFT JOIN public.customers_raw c ON o.customer_id = c.id AND c.country = '%s' GROUP BY 1 ORDER BY 1 NULLS LAST`, country))
	}
	var seen []string
	for _, country := range []string{"US", "FR"} {
		conn := apptest.Connect(t, mint(fmt.Sprintf(`{"country": %q}`, country)))
		got := viaGateway(t, conn, bySQL)
		sameCells(t, "SQL, claim "+country, got, want(country))
		seen = append(seen, fmt.Sprint(got))
		ex := sqlRows(t, conn, "EXPLAIN "+bySQL)
		if strings.Contains(ex, "Pre-aggregation: ") || !strings.Contains(ex, "orders.by_country: no — the rollup's SQL reads the query-time context") {
			t.Errorf("EXPLAIN, claim %s:\n%s", country, ex)
		}
		// The rollup without context still answers.
		if ex := sqlRows(t, conn, "EXPLAIN SELECT status, MEASURE(count) FROM orders GROUP BY 1"); !strings.Contains(ex, "Pre-aggregation: orders.by_status") {
			t.Errorf("EXPLAIN by status, claim %s:\n%s", country, ex)
		}

		rc := restClient{t, base, testKey(t, g, secOf(fmt.Sprintf(`{"country": %q}`, country)), "load")}
		ans, raw := rc.load(`{"measures":["orders.count"],"dimensions":["customers.country"]}`)
		if u, ok := ans["usedPreAggregations"].(map[string]any); ok && len(u) > 0 {
			t.Errorf("REST, claim %s: answered from %v", country, u)
		}
		counts := map[string]string{}
		for _, row := range ans["data"].([]any) {
			r := row.(map[string]any)
			c := "NULL"
			if r["customers.country"] != nil {
				c = fmt.Sprint(r["customers.country"])
			}
			counts[c] = fmt.Sprint(r["orders.count"])
		}
		w := want(country)
		if len(counts) != len(w) {
			t.Errorf("REST, claim %s: %s, want %v", country, raw, w)
		}
		for _, row := range w {
			if counts[row[0]] != row[1] {
				t.Errorf("REST, claim %s: %s = %s, want %s (%.300s)", country, row[0], counts[row[0]], row[1], raw)
			}
		}
		ans, _ = rc.load(`{"measures":["orders.count"],"dimensions":["orders.status"]}`)
		if u, ok := ans["usedPreAggregations"].(map[string]any); !ok || u["orders.by_status"] == nil {
			t.Errorf("REST by status, claim %s: not from orders.by_status: %v", country, ans["usedPreAggregations"])
		}
	}
	if seen[0] == seen[1] {
		t.Errorf("two claims, one answer: %s", seen[0])
	}
}
