package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// TestLongInLists: filters with 100,000 values — an IN list of ids, a
// NOT IN list of strings, over SQL and REST — answer as the warehouse
// queried directly, on DuckDB and on PostgreSQL (whose protocol allows
// 65,535 parameters: a long list is bound as one array).
func TestLongInLists(t *testing.T) {
	t.Run("duckdb", func(t *testing.T) {
		checkLongInLists(t, apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(20000)}))
	})
	t.Run("postgres", func(t *testing.T) {
		g := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(20000)})
		checkLongInLists(t, g)
	})
}

func checkLongInLists(t *testing.T, g *apptest.Gateway) {
	ctx := context.Background()
	_, _, connStr, err := g.MintCredential(ctx, "inlist")
	if err != nil {
		t.Fatal(err)
	}
	conn := apptest.Connect(t, connStr)
	var ids, odd, statuses []string
	for i := 1; i <= 100000; i++ {
		ids = append(ids, fmt.Sprint(i*3))
		odd = append(odd, fmt.Sprint(i*2+1))
		statuses = append(statuses, fmt.Sprintf("'s%d'", i))
	}
	statuses = append(statuses, "'completed'")
	idList, statusList := strings.Join(ids, ", "), strings.Join(statuses, ", ")
	for _, c := range []struct{ name, gateway, direct string }{
		{"IN ids", `SELECT status, MEASURE(count) FROM orders WHERE id IN (` + idList + `) GROUP BY 1 ORDER BY 1`,
			`SELECT status, count(*) FROM public.orders_raw WHERE id % 3 = 0 AND id <= 300000 GROUP BY 1 ORDER BY 1`},
		{"NOT IN statuses", `SELECT status, MEASURE(count) FROM orders WHERE status NOT IN (` + statusList + `) GROUP BY 1 ORDER BY 1`,
			`SELECT status, count(*) FROM public.orders_raw WHERE status <> 'completed' OR status IS NULL GROUP BY 1 ORDER BY 1`},
		{"pushed down IN", `SELECT count(*) FROM (SELECT id FROM orders WHERE id IN (` + strings.Join(odd, ", ") + `)) s`,
			`SELECT count(*) FROM public.orders_raw WHERE id % 2 = 1 AND id > 1 AND id <= 200001`},
	} {
		sameCells(t, c.name, viaGateway(t, conn, c.gateway), direct(t, g, c.direct))
	}

	// REST: the same list as a notEquals filter.
	key, err := g.Keys.Create(ctx, auth.DefaultTenant, "inlist", auth.KeyInput{Scopes: &[]string{"load"}})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := json.Marshal(map[string]any{"measures": []string{"orders.count"},
		"filters": []any{map[string]any{"member": "orders.id", "operator": "notEquals", "values": ids}}})
	req, _ := http.NewRequest("POST", "http://"+g.HTTPAddr().String()+"/cubejs-api/v1/load", strings.NewReader(`{"query":`+string(q)+`}`))
	req.Header.Set("Authorization", "Bearer "+key.KeyValue)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 || len(body.Data) != 1 {
		t.Fatalf("REST: %d %v %v", res.StatusCode, err, body)
	}
	want := direct(t, g, `SELECT count(*) FROM public.orders_raw WHERE id % 3 <> 0 OR id > 300000`)[0][0]
	if got := fmt.Sprint(body.Data[0]["orders.count"]); got != want {
		t.Fatalf("REST notEquals of 100,000 ids: %s, want %s", got, want)
	}
}
