package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// contextModel reads orders through SECURITY_CONTEXT: each principal's
// claims choose its rows, in the cube's own SQL (Cube's row-level
// security before queryRewrite).
const contextModel = `cubes:
  - name: orders
    sql: SELECT * FROM public.orders_raw WHERE {SECURITY_CONTEXT.customer_id.filter('customer_id')}
    measures:
      - name: count
        type: count
      - name: total_amount
        sql: amount
        type: sum
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: status
        sql: status
        type: string
      - name: customer_id
        sql: customer_id
        type: number
  - name: strict_orders
    sql: SELECT * FROM public.orders_raw WHERE {SECURITY_CONTEXT.customer_id.requiredFilter('customer_id')}
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
`

// TestContextVariables: two credentials whose security contexts carry
// different claims read different rows of the same cube, over SQL (the
// cube query and the push-down) and over REST with keys carrying the same
// claims; a credential without the claim reads every row of a filter()
// cube and is refused (42501) by a requiredFilter() one.
func TestContextVariables(t *testing.T) {
	g := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(200), Model: contextModel})
	ctx := context.Background()
	host, port, _ := app.ClientHost(g.SQLAddr().String())
	mint := func(claims string) string {
		sec, err := auth.ParseSecurityContext(claims)
		if err != nil {
			t.Fatal(err)
		}
		c, pw, err := g.Auth.CreateCredential(ctx, auth.CreateCredentialInput{Label: "claims", Database: g.Database, Security: sec})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Security.String(); got != sec.String() {
			t.Fatalf("stored context %s, want %s", got, sec.String())
		}
		return app.ConnectionString(c.Username, pw, host, port, c.Database)
	}
	one := apptest.Connect(t, mint(`{"customer_id": 3}`))
	many := apptest.Connect(t, mint(`{"customer_id": [4, 5], "note": "x'; DROP TABLE orders_raw; --"}`))
	none := apptest.Connect(t, mint(`{}`))

	const byStatus = `SELECT status, MEASURE(count), MEASURE(total_amount) FROM orders GROUP BY 1 ORDER BY 1`
	const rawByStatus = `SELECT status, count(*), sum(amount) FROM public.orders_raw WHERE %s GROUP BY 1 ORDER BY 1`
	where := func(cond string) string { return fmt.Sprintf(rawByStatus, cond) }
	sameCells(t, "customer 3", viaGateway(t, one, byStatus), direct(t, g, where("customer_id = 3")))
	sameCells(t, "customers 4 and 5", viaGateway(t, many, byStatus), direct(t, g, where("customer_id IN (4, 5)")))
	sameCells(t, "no claim: every row", viaGateway(t, none, byStatus), direct(t, g, where("true")))
	if a, b := viaGateway(t, one, byStatus), viaGateway(t, many, byStatus); len(a) > 0 && len(b) > 0 && a[0][1] == b[0][1] && a[0][2] == b[0][2] {
		t.Errorf("two claims, same answer: %v", a)
	}
	// The push-down reads the cube's row source with the same claims.
	sameCells(t, "pushed down", viaGateway(t, many, `SELECT lower(status), count(*) FROM (SELECT status FROM orders) s GROUP BY 1 ORDER BY 1`),
		direct(t, g, `SELECT lower(status), count(*) FROM public.orders_raw WHERE customer_id IN (4, 5) GROUP BY 1 ORDER BY 1`))
	// The extended protocol (prepared, parameters) too.
	var n int64
	if err := many.QueryRow(ctx, `SELECT MEASURE(count) FROM orders WHERE status <> $1`, "nope").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := direct(t, g, `SELECT count(*) FROM public.orders_raw WHERE customer_id IN (4, 5)`)[0][0]; want != strconv.FormatInt(n, 10) {
		t.Errorf("extended protocol: %d, want %s", n, want)
	}
	// requiredFilter: the claim or 42501.
	sameCells(t, "required present", viaGateway(t, one, `SELECT MEASURE(count) FROM strict_orders`),
		direct(t, g, `SELECT count(*) FROM public.orders_raw WHERE customer_id = 3`))
	if _, err := none.Exec(ctx, `SELECT MEASURE(count) FROM strict_orders`); pgCode(err) != "42501" {
		t.Errorf("requiredFilter without the claim: %v, want 42501", err)
	}

	// REST: keys with claims, made by the store and by the admin API.
	admin, err := g.Keys.Create(ctx, auth.DefaultTenant, "admin", auth.KeyInput{Scopes: &[]string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	sec3, _ := auth.ParseSecurityContext(`{"customer_id": 3}`)
	k3, err := g.Keys.Create(ctx, auth.DefaultTenant, "c3", auth.KeyInput{Scopes: &[]string{"load"}, Security: &sec3})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + g.HTTPAddr().String()
	body, _ := json.Marshal(map[string]any{"description": "c45", "scope_names": []string{"load"},
		"security_context": map[string]any{"customer_id": []int{4, 5}}})
	req, _ := http.NewRequest("POST", base+"/admin/v1/api_keys", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+admin.KeyValue)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("admin API: %d %s", resp.StatusCode, raw)
	}
	var created struct {
		Data struct {
			KeyValue string         `json:"key_value"`
			Security map[string]any `json:"security_context"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &created); err != nil || created.Data.KeyValue == "" {
		t.Fatalf("admin API answer %s: %v", raw, err)
	}
	if created.Data.Security["customer_id"] == nil {
		t.Errorf("the admin API lost the claim: %s", raw)
	}
	restCount := func(key string) string {
		t.Helper()
		q := url.QueryEscape(`{"measures":["orders.count"]}`)
		status, _, out := restGet(t, base+"/cubejs-api/v1/load?query="+q, "Bearer "+key, "")
		if status != http.StatusOK {
			t.Fatalf("REST: %d %s", status, out)
		}
		var ans struct {
			Data []map[string]any `json:"data"`
		}
		if err := json.Unmarshal([]byte(out), &ans); err != nil || len(ans.Data) != 1 {
			t.Fatalf("REST answer %s: %v", out, err)
		}
		return fmt.Sprint(ans.Data[0]["orders.count"])
	}
	if got, want := restCount(k3.KeyValue), direct(t, g, `SELECT count(*) FROM public.orders_raw WHERE customer_id = 3`)[0][0]; got != want {
		t.Errorf("REST key with customer 3: %s, want %s", got, want)
	}
	if got, want := restCount(created.Data.KeyValue), direct(t, g, `SELECT count(*) FROM public.orders_raw WHERE customer_id IN (4, 5)`)[0][0]; got != want {
		t.Errorf("REST key with customers 4, 5: %s, want %s", got, want)
	}
	// A key with claims cannot mint a key with other claims.
	body, _ = json.Marshal(map[string]any{"description": "wider", "scope_names": []string{"load"}, "security_context": map[string]any{"customer_id": 9}})
	req, _ = http.NewRequest("POST", base+"/admin/v1/api_keys", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+k3.KeyValue)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode < 400 {
		t.Errorf("a key with claims minted other claims: %v %v", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	// The injection attempt in a claim never reached SQL: the table is there.
	if got := direct(t, g, `SELECT count(*) FROM public.orders_raw`)[0][0]; got == "0" {
		t.Error("orders_raw is empty")
	}
}
