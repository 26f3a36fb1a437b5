package app_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/cubes"
)

// Time dimensions are truncated in the query's time zone and date ranges
// read in it — across a DST change — the same on Postgres and DuckDB as a
// hand-written Postgres query says.
func TestTimeZones(t *testing.T) {
	duck := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(e2eOrders)})
	pg := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(e2eOrders)})
	const q = `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"day",
		"dateRange":["2023-03-10","2023-03-14"]}],"timezone":"America/New_York","order":{"orders.created_at":"asc"}}`
	// New York is UTC-5 until 2023-03-12 02:00, then UTC-4.
	const oracle = `SELECT date_trunc('day', (created_at::timestamptz AT TIME ZONE 'America/New_York')), count(*)
		FROM public.orders_raw
		WHERE created_at >= TIMESTAMP '2023-03-10 05:00:00' AND created_at <= TIMESTAMP '2023-03-15 03:59:59.999'
		GROUP BY 1 ORDER BY 1`
	want := direct(t, pg, oracle)
	if len(want) != 5 {
		t.Fatalf("oracle: %v", want)
	}
	for _, g := range []*apptest.Gateway{pg, duck} {
		var cq cubes.Query
		json.Unmarshal([]byte(q), &cq)
		_, got := compileAndRun(t, g, nil, cq)
		sameCells(t, g.Warehouse().Dialect(), got, want)
	}

	// Over SQL, the session's TimeZone is the query's.
	_, _, connStr, _ := pg.MintCredential(context.Background(), "tz")
	conn := apptest.Connect(t, connStr)
	if _, err := conn.Exec(context.Background(), `SET TIME ZONE 'America/New_York'`); err != nil {
		t.Fatal(err)
	}
	got := viaGateway(t, conn, `SELECT date_trunc('day', created_at), MEASURE(count) FROM orders
		WHERE created_at BETWEEN '2023-03-10' AND '2023-03-14 23:59:59.999' GROUP BY 1 ORDER BY 1`)
	sameCells(t, "SQL with SET TIME ZONE", got, want)

	// Pushed down too, on both warehouses: the row source shows time
	// dimensions in the session's zone.
	for _, g := range []*apptest.Gateway{pg, duck} {
		_, _, connStr, _ := g.MintCredential(context.Background(), "tz")
		conn := apptest.Connect(t, connStr)
		if _, err := conn.Exec(context.Background(), `SET TIME ZONE 'America/New_York'`); err != nil {
			t.Fatal(err)
		}
		got := viaGateway(t, conn, `SELECT d, n FROM (SELECT date_trunc('day', created_at) AS d, COUNT(*) AS n FROM orders
			WHERE created_at BETWEEN '2023-03-10' AND '2023-03-14 23:59:59.999' GROUP BY 1) q WHERE n > 0 ORDER BY 1`)
		sameCells(t, g.Warehouse().Dialect()+" pushed down with SET TIME ZONE", got, want)
	}
}

// A relative date range resolves at the query's now, in its time zone.
func TestRelativeDateRange(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(e2eOrders)})
	ny, _ := time.LoadLocation("America/New_York")
	now := time.Date(2024, 3, 13, 15, 0, 0, 0, ny)
	var q cubes.Query
	json.Unmarshal([]byte(`{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","dateRange":"last month"}],"timezone":"America/New_York"}`), &q)
	c, err := g.Model.CompileAt(&q, cubes.DuckDB{}, now)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := g.Warehouse().Query(context.Background(), c.SQL, c.Args...)
	if err != nil {
		t.Fatal(err)
	}
	rows.Next()
	vals, _ := rows.Values()
	rows.Close()
	// February 2024 in New York: 05:00 UTC on the 1st to 05:00 UTC on March 1st.
	want := direct(t, g, `SELECT count(*) FROM public.orders_raw WHERE created_at >= TIMESTAMP '2024-02-01 05:00:00' AND created_at < TIMESTAMP '2024-03-01 05:00:00'`)
	if cell(vals[0]) != want[0][0] {
		t.Fatalf("last month = %v, want %s", vals[0], want[0][0])
	}
}
