package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/cubes"
)

// Issue #18: a gateway on MariaDB answers psql, PgJDBC and REST exactly
// as a gateway on PostgreSQL over the same data.

// engineStatements are what psql sends: cube queries and push-down.
var engineStatements = []string{
	`SELECT status, MEASURE(count) AS n, MEASURE(total_amount) AS amount FROM orders GROUP BY 1 ORDER BY 1`,
	`SELECT date_trunc('month', created_at) AS m, MEASURE(count) FROM orders WHERE status = 'completed' GROUP BY 1 ORDER BY 1`,
	`SELECT date_trunc('quarter', created_at) AS q, channel, MEASURE(avg_order_value) FROM orders GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 7 OFFSET 3`,
	`SELECT is_gift, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1`,
	`SELECT amount_tier, MEASURE(min_amount), MEASURE(max_amount) FROM orders GROUP BY 1 ORDER BY 1`,
	`SELECT customers_tier, MEASURE(total_amount) FROM sales GROUP BY 1 ORDER BY 2 DESC`,
	`SELECT channel, MEASURE(unique_customers) FROM orders WHERE created_at >= '2022-06-01' AND created_at < '2022-07-01' GROUP BY 1 ORDER BY 1`,
	`SELECT status FROM orders WHERE status ILIKE '%SHIP%' GROUP BY 1`,
	// Push-down: the warehouse computes what the cube query feeds.
	`SELECT upper(status) AS s, MEASURE(count) * 2 AS twice FROM orders GROUP BY 1 ORDER BY 2 DESC, 1`,
	`SELECT channel, round(MEASURE(total_amount) / MEASURE(count), 2) AS avg FROM orders GROUP BY 1 ORDER BY 1`,
	`SELECT t.status, t.n FROM (SELECT status, MEASURE(count) AS n FROM orders GROUP BY 1) AS t WHERE t.n > 10 ORDER BY t.n DESC NULLS LAST, 1`,
	`SELECT coalesce(city, 'none') AS c, MEASURE(count) FROM customers GROUP BY 1 ORDER BY 1 LIMIT 5`,
	`SELECT CASE WHEN MEASURE(count) > 100 THEN 'many' ELSE 'few' END AS k, count(*) FROM (SELECT status, MEASURE(count) FROM orders GROUP BY 1) s GROUP BY 1 ORDER BY 1`,
	`SELECT nope FROM orders`,
}

// engineQueries are what REST applications send.
var engineQueries = []string{
	`{"measures":["orders.count","orders.total_amount"],"dimensions":["orders.status"]}`,
	`{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"week","dateRange":["2022-01-01","2022-03-31"]}]}`,
	`{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"day","dateRange":["2022-03-10","2022-03-14"]}],"timezone":"America/New_York"}`,
	`{"measures":["orders.completed_ratio","orders.avg_order_value"],"dimensions":["orders.channel"],"order":{"orders.channel":"asc"}}`,
	`{"measures":["orders.count"],"dimensions":["customers.tier","products.category"],"order":[["customers.tier","asc"],["products.category","desc"]],"limit":5,"offset":2,"total":true}`,
	`{"measures":["customers.count"],"dimensions":["orders.status"],"order":[["customers.count","desc"],["orders.status","asc"]]}`,
	`{"measures":["orders.count"],"filters":[{"member":"orders.status","operator":"contains","values":["ship"]},{"member":"orders.amount","operator":"gte","values":["100.5"]}],"segments":["orders.completed"]}`,
	`{"dimensions":["customers.city"],"order":{"customers.city":"desc"},"limit":4}`,
	`{"measures":["orders.count"],"dimensions":["orders.is_gift"]}`,
}

func TestEnginesAnswerAlike(t *testing.T) {
	pg := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(e2eOrders)})
	for _, engine := range []struct {
		name string
		o    apptest.Options
		// refused are what this server version cannot run: each must be
		// an error, never another answer; rounded, statements whose
		// numbers the engine's own arithmetic rounds (to 1e-4).
		refused, rounded map[string]string
	}{
		{"MariaDB", apptest.Options{MariaDB: apptest.Demo(e2eOrders)}, nil, nil},
		{"ClickHouse", apptest.Options{ClickHouse: apptest.Demo(e2eOrders)}, clickHouse1816Refused, clickHouseRounded},
	} {
		t.Run(engine.name, func(t *testing.T) {
			other := apptest.Start(t, engine.o)
			gws := []*apptest.Gateway{pg, other}
			t.Run("psql", func(t *testing.T) {
				conns := make([]string, 2)
				for i, g := range gws {
					conns[i] = g.ConnString(t, "psql")
				}
				for _, sql := range engineStatements {
					var outs [2]string
					for i := range gws {
						out, _ := psql(t, conns[i], "-A", "-F", "|", "-c", sql)
						outs[i] = out
					}
					if why, ok := engine.refused[sql]; ok {
						if !strings.HasPrefix(outs[1], "ERROR:") {
							t.Errorf("%s: answered on %s, which is listed as refusing it (%s):\n%s", sql, engine.name, why, outs[1])
						}
						continue
					}
					tol := 1e-9
					if _, ok := engine.rounded[sql]; ok {
						tol = 1e-4
					}
					if !samePsql(outs[0], outs[1], tol) {
						t.Errorf("%s\npostgres:\n%s\n%s:\n%s", sql, outs[0], other.Warehouse().Dialect(), outs[1])
					}
				}
			})
			t.Run("PgJDBC", func(t *testing.T) {
				jar := "/usr/share/java/postgresql.jar"
				if _, err := os.Stat(jar); err != nil {
					t.Fatalf("%s: install libpostgresql-jdbc-java (make deps)", jar)
				}
				var outs [2]map[string]string
				for i, g := range gws {
					c, pw, _, err := g.MintCredential(context.Background(), "jdbc")
					if err != nil {
						t.Fatal(err)
					}
					host, port, _ := app.ClientHost(g.SQLAddr().String())
					url := fmt.Sprintf("jdbc:postgresql://%s:%s/%s", host, port, c.Database)
					outs[i] = runClient(t, "java", "-cp", jar, filepath.Join(clientsDir, "jdbc", "CubegateClient.java"), url, c.Username, pw)
				}
				if len(outs[0]) < 10 {
					t.Fatalf("PgJDBC printed little: %v", outs[0])
				}
				for k, v := range outs[0] {
					if outs[1][k] != v {
						t.Errorf("PgJDBC %s: %s on %s, %s on postgres", k, outs[1][k], other.Warehouse().Dialect(), v)
					}
				}
			})
			t.Run("REST", func(t *testing.T) {
				var clients [2]restClient
				for i, g := range gws {
					clients[i] = restClient{t: t, base: "http://" + g.HTTPAddr().String(), key: testKey(t, g, nil, "load")}
				}
				for _, q := range engineQueries {
					if why, ok := engine.refused[q]; ok {
						if code := clients[1].status(q); code == 200 {
							t.Errorf("%s: answered on %s, which is listed as refusing it (%s)", q, engine.name, why)
						}
						continue
					}
					a, _ := clients[0].load(q)
					b, _ := clients[1].load(q)
					da, _ := a["data"].([]any)
					db, _ := b["data"].([]any)
					if len(da) == 0 {
						t.Errorf("%s: no rows on postgres", q)
					}
					diff := sameData(da, db)
					if _, ok := engine.rounded[q]; ok {
						diff = nearData(da, db, 1e-4)
					}
					if diff != "" {
						ja, _ := json.Marshal(da)
						jb, _ := json.Marshal(db)
						t.Errorf("%s: %s\npostgres: %.600s\n%s: %.600s", q, diff, ja, other.Warehouse().Dialect(), jb)
					}
					if fmt.Sprint(a["total"]) != fmt.Sprint(b["total"]) {
						t.Errorf("%s: total %v, %v on postgres", q, b["total"], a["total"])
					}
				}
				// An invalid query is refused alike.
				for i, c := range clients {
					req, _ := http.NewRequest("POST", c.base+"/cubejs-api/v1/load", strings.NewReader(`{"query":{"measures":["orders.nope"]}}`))
					req.Header.Set("Authorization", c.key)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != 400 {
						t.Errorf("gateway %d: an unknown member is %d, want 400", i, resp.StatusCode)
					}
				}
			})
		})
	}
}

// clickHouse1816Refused are the statements and queries Debian's ClickHouse
// 18.16 refuses (a current ClickHouse runs their SQL: warehouse/clickhouse's
// golden test).
var clickHouse1816Refused = map[string]string{
	benchJoin:           joinsRefused,
	engineStatements[9]: "round() of a Decimal: ClickHouse's rounding of halves is not PostgreSQL's (refused, 0A000)",
	engineStatements[5]: joinsRefused,
	engineQueries[4]:    joinsRefused,
	engineQueries[5]:    joinsRefused,
	engineQueries[6]:    "a Decimal column compared with a fractional filter value (18.16 compares no Decimal with a Float64)",
}

// clickHouseRounded are statements whose numbers ClickHouse's Decimal
// arithmetic rounds: a Decimal divided by an integer keeps the dividend's
// scale (the model's avg_order_value, {total_amount} / NULLIF({count}, 0)).
var clickHouseRounded = map[string]string{
	engineStatements[2]: "avg_order_value: a Decimal(38,2) quotient",
	engineQueries[3]:    "avg_order_value: a Decimal(38,2) quotient",
}

// nearData compares two answers' rows: numbers to tol relative, anything
// else exactly.
func nearData(a, b []any, tol float64) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d rows vs %d", len(a), len(b))
	}
	for i := range a {
		ra, _ := a[i].(map[string]any)
		rb, _ := b[i].(map[string]any)
		for k, va := range ra {
			if !near(fmt.Sprint(va), fmt.Sprint(rb[k]), tol) {
				return fmt.Sprintf("row %d %s: %v vs %v", i, k, va, rb[k])
			}
		}
	}
	return ""
}

// near compares numbers to tol relative, anything else exactly.
func near(a, b string, tol float64) bool {
	ra, okA := new(big.Rat).SetString(a)
	rb, okB := new(big.Rat).SetString(b)
	if !okA || !okB {
		return a == b
	}
	fa, _ := ra.Float64()
	fb, _ := rb.Float64()
	return math.Abs(fa-fb) <= tol*math.Max(1, math.Max(math.Abs(fa), math.Abs(fb)))
}

// samePsql compares two psql -A outputs cell by cell: text alike, numbers
// equal to 1e-9 relative (a quotient's digits past PostgreSQL's numeric
// scale are the engine's: MySQL keeps div_precision_increment of them).
func samePsql(a, b string, tol float64) bool {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(la) != len(lb) {
		return false
	}
	for i := range la {
		ca, cb := strings.Split(la[i], "|"), strings.Split(lb[i], "|")
		if len(ca) != len(cb) {
			return false
		}
		for j := range ca {
			if ca[j] != cb[j] && !near(ca[j], cb[j], tol) {
				return false
			}
		}
	}
	return true
}

// benchJoin is the benchmark's query over a join.
const benchJoin = `SELECT customers_tier, MEASURE(total_amount) FROM sales GROUP BY 1`

// BenchmarkEnginesGatewayVsDirect times cube queries through the gateway
// (pgx over loopback, simple protocol) against the SQL the gateway
// compiles for the engine sent to the engine directly, in one run, on
// each engine that runs here (make bench; 100,000 orders).
func BenchmarkEnginesGatewayVsDirect(b *testing.B) {
	ctx := context.Background()
	queries := []struct{ name, gateway, cube string }{
		{"count_by_status", `SELECT status, MEASURE(count) FROM orders GROUP BY 1`,
			`{"measures":["orders.count"],"dimensions":["orders.status"],"order":[]}`},
		{"month_by_channel_filtered", `SELECT date_trunc('month', created_at), channel, MEASURE(total_amount) FROM orders WHERE status = 'completed' GROUP BY 1, 2`,
			`{"measures":["orders.total_amount"],"dimensions":["orders.channel"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month"}],"filters":[{"member":"orders.status","operator":"equals","values":["completed"]}],"order":[]}`},
		{"join_tier_category", benchJoin,
			`{"measures":["sales.total_amount"],"dimensions":["sales.customers_tier"],"order":[]}`},
	}
	for _, engine := range []struct {
		name string
		o    apptest.Options
	}{
		{"mariadb", apptest.Options{MariaDB: apptest.Demo(100000), Adjust: uncached}},
		{"clickhouse", apptest.Options{ClickHouse: apptest.Demo(100000), Adjust: uncached}},
	} {
		b.Run(engine.name, func(b *testing.B) {
			g := apptest.Start(b, engine.o)
			_, _, connStr, err := g.MintCredential(ctx, "bench")
			if err != nil {
				b.Fatal(err)
			}
			conn := apptest.Connect(b, connStr)
			d, _ := cubes.DialectByName(g.Warehouse().Dialect())
			for _, q := range queries {
				var cq cubes.Query
				if err := json.Unmarshal([]byte(q.cube), &cq); err != nil {
					b.Fatal(err)
				}
				c, err := g.Model.Compile(&cq, d)
				if err != nil {
					b.Fatal(err)
				}
				if _, ok := clickHouse1816Refused[q.gateway]; ok && engine.name == "clickhouse" {
					continue
				}
				b.Run(q.name, func(b *testing.B) {
					var viaGW, viaDirect time.Duration
					for i := 0; i < b.N; i++ {
						t0 := time.Now()
						res, err := conn.PgConn().Exec(ctx, q.gateway).ReadAll()
						if err != nil || len(res[0].Rows) == 0 {
							b.Fatal(err)
						}
						t1 := time.Now()
						rows, err := g.Warehouse().Query(ctx, c.SQL, c.Args...)
						if err != nil {
							b.Fatal(err)
						}
						n := 0
						for rows.Next() {
							if _, err := rows.Values(); err != nil {
								b.Fatal(err)
							}
							n++
						}
						rows.Close()
						if n != len(res[0].Rows) {
							b.Fatalf("direct %d rows, gateway %d", n, len(res[0].Rows))
						}
						viaGW += t1.Sub(t0)
						viaDirect += time.Since(t1)
					}
					b.ReportMetric(float64(viaGW.Microseconds())/float64(b.N), "gateway-µs/op")
					b.ReportMetric(float64(viaDirect.Microseconds())/float64(b.N), "direct-µs/op")
					b.ReportMetric(float64(viaGW)/float64(viaDirect), "gateway/direct")
				})
			}
		})
	}
}
