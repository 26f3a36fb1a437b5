package cubes

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var matchNow = time.Date(2024, 6, 15, 12, 0, 0, 0, time.UTC)

// Each case is a query, the rollup MatchRollup picks ("" for none) and
// reason lines it must give (a substring of the line of that candidate).
var matchCases = []struct {
	name, query, want string
	rowFilters        string
	reasons           []string
}{
	{"exact granularity", `{"measures":["orders.count"],"dimensions":["orders.status"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month"}]}`,
		"orders.by_status_month", "", []string{"orders.by_status_month: yes", "orders.raw_source: no — original_sql: once built, its table is read in place of the cube's"}},
	{"coarser granularity", `{"measures":["orders.total_amount","orders.min_amount","orders.max_amount"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"quarter"}]}`,
		"orders.by_status_month", "", []string{"orders.by_status_month: yes"}},
	{"week is not divided by month", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"week"}]}`,
		"orders.by_day", "", []string{"orders.by_status_month: no — orders.created_at by week cannot be computed from the rollup's month", "orders.by_day: yes", "orders.by_week: yes"}},
	{"week does not divide month", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month"}]}`,
		"orders.by_status_month", "", []string{"orders.by_week: no — orders.created_at by month cannot be computed from the rollup's week"}},
	{"finer granularity", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"hour"}]}`,
		"", "", []string{"orders.by_day: no — orders.created_at by hour cannot be computed from the rollup's day"}},
	{"custom granularity from months", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"fiscal_year"}]}`,
		"orders.by_status_month", "", []string{"orders.by_status_month: yes"}},
	{"custom granularity from days", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"two_weeks"}]}`,
		"orders.by_day", "", []string{"orders.by_status_month: no — orders.created_at by two_weeks cannot be computed from the rollup's month", "orders.by_day: yes"}},
	{"filter member not in rollup", `{"measures":["orders.count"],"filters":[{"member":"orders.customer_id","operator":"equals","values":["3"]}]}`,
		"", "", []string{"orders.by_status_month: no — orders.customer_id (filter) not in the rollup"}},
	{"nested filter member not in rollup", `{"measures":["orders.count"],"filters":[{"or":[{"member":"orders.status","operator":"equals","values":["a"]},{"member":"orders.amount","operator":"gt","values":["3"]}]}]}`,
		"", "", []string{"orders.by_status_month: no — orders.amount (filter) not in the rollup"}},
	{"filters in the rollup", `{"measures":["orders.count"],"dimensions":["customers.city"],"filters":[{"and":[{"member":"orders.status","operator":"equals","values":["a"]},{"member":"customers.city","operator":"startsWith","values":["P"]}]}]}`,
		"orders.by_day", "", []string{"orders.by_status_month: no — customers.city (dimension) not in the rollup", "orders.by_day: yes"}},
	{"dimension not in rollup", `{"measures":["orders.count"],"dimensions":["orders.customer_id"]}`,
		"", "", []string{"orders.by_day: no — orders.customer_id (dimension) not in the rollup"}},
	{"time dimension as a plain dimension", `{"measures":["orders.count"],"dimensions":["orders.created_at"]}`,
		"", "", []string{"orders.by_status_month: no — orders.created_at (dimension) is in the rollup only by month"}},
	{"segment not in rollup", `{"measures":["orders.count"],"segments":["orders.completed"]}`,
		"orders.by_day", "", []string{"orders.by_status_month: no — orders.completed (segment) not in the rollup", "orders.by_day: yes"}},
	{"segment never in a rollup", `{"measures":["orders.count"],"segments":["orders.big"]}`,
		"", "", []string{"orders.by_day: no — orders.big (segment) not in the rollup"}},
	{"count_distinct exact", `{"measures":["orders.unique_customers","orders.approx_customers"],"dimensions":["orders.status","customers.city"],"segments":["orders.completed"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"day"}]}`,
		"orders.by_day", "", []string{"orders.by_day: yes"}},
	{"count_distinct re-aggregated", `{"measures":["orders.unique_customers"],"dimensions":["orders.status"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"day"}]}`,
		"", "", []string{"orders.by_day: no — orders.unique_customers (count_distinct) does not combine across rollup rows: the query must group exactly by the rollup's dimensions and orders.created_at by day"}},
	{"count_distinct_approx coarser", `{"measures":["orders.approx_customers"],"dimensions":["orders.status","customers.city"],"segments":["orders.completed"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month"}]}`,
		"", "", []string{"orders.by_day: no — orders.approx_customers (count_distinct_approx) does not combine"}},
	{"avg does not combine", `{"measures":["orders.avg_amount"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month"}]}`,
		"", "", []string{"orders.by_status_month: no — orders.avg_amount (measure) not in the rollup", "orders.by_day: no — orders.avg_amount (avg) does not combine"}},
	{"number measure from leaves", `{"measures":["orders.avg_order","orders.completed_share"],"dimensions":["orders.status"]}`,
		"orders.by_status_month", "", []string{"orders.by_status_month: yes — orders.avg_order computed from orders.total_amount, orders.count; orders.completed_share computed from orders.completed_count, orders.count"}},
	{"number measure with a missing leaf", `{"measures":["orders.completed_share"],"dimensions":["orders.status"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"day"}]}`,
		"", "", []string{"orders.by_day: no — orders.completed_share (measure) reads orders.completed_count, which is not in the rollup"}},
	{"rolling window", `{"measures":["orders.rolling_amount"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"day","dateRange":["2024-01-01","2024-01-31"]}]}`,
		"", "", []string{"orders.by_day: no — orders.rolling_amount is a rolling window measure"}},
	{"ungrouped", `{"ungrouped":true,"measures":["orders.count"],"dimensions":["orders.id"]}`,
		"", "", []string{"orders.by_status_month: no — an ungrouped query reads rows, not a rollup"}},
	{"time zone", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month"}],"timezone":"America/New_York"}`,
		"", "", []string{"orders.by_status_month: no — the query's time zone America/New_York is not the rollup's (UTC)"}},
	{"utc spelled out", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month"}],"timezone":"UTC"}`,
		"orders.by_status_month", "", nil},
	{"aligned date range", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","dateRange":["2024-01-01","2024-03-31"]}]}`,
		"orders.by_status_month", "", []string{"orders.by_status_month: yes"}},
	{"relative date range", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month","dateRange":"last month"}]}`,
		"orders.by_status_month", "", nil},
	{"unaligned date range", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month","dateRange":["2024-01-05","2024-03-31"]}]}`,
		"orders.by_day", "", []string{"orders.by_status_month: no — orders.created_at (dateRange) bound 2024-01-05T00:00:00.000 is not the start of a month", "orders.by_day: yes"}},
	{"unaligned end", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","dateRange":["2024-01-01","2024-03-30"]}]}`,
		"orders.by_day", "", []string{"orders.by_status_month: no — orders.created_at (dateRange) bound 2024-03-30T23:59:59.999 is not the end of a month"}},
	{"non-strict date range", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"week","dateRange":["2024-01-03T05:00:00","2024-01-10"]}]}`,
		"orders.by_week", "", []string{"orders.by_day: no — orders.created_at (dateRange) bound 2024-01-03T05:00:00.000 is not the start of a day", "orders.by_week: yes"}},
	{"date filters aligned", `{"measures":["orders.count"],"filters":[{"member":"orders.created_at","operator":"afterDate","values":["2024-01-31T23:59:59.999"]},{"member":"orders.created_at","operator":"beforeDate","values":["2024-06-01"]},{"member":"orders.created_at","operator":"inDateRange","values":["2024-01-01","2024-12-31"]}]}`,
		"orders.by_status_month", "", []string{"orders.by_status_month: yes"}},
	{"date filter unaligned", `{"measures":["orders.count"],"filters":[{"member":"orders.created_at","operator":"afterOrOnDate","values":["2024-01-31"]}]}`,
		"orders.by_day", "", []string{"orders.by_status_month: no — orders.created_at (afterOrOnDate) bound 2024-01-31T00:00:00.000 is not the start of a month"}},
	{"equals on the time dimension", `{"measures":["orders.count"],"filters":[{"member":"orders.created_at","operator":"equals","values":["2024-01-01"]}]}`,
		"orders.by_week", "", []string{"orders.by_status_month: no — orders.created_at (filter equals) needs raw times; the rollup has them by month"}},
	{"measure filter", `{"measures":["orders.count"],"dimensions":["orders.status"],"filters":[{"member":"orders.total_amount","operator":"gt","values":["10"]}]}`,
		"orders.by_status_month", "", nil},
	{"measure filter not in rollup", `{"measures":["orders.count"],"dimensions":["orders.status"],"filters":[{"member":"orders.avg_amount","operator":"gt","values":["10"]}]}`,
		"", "", []string{"orders.by_status_month: no — orders.avg_amount (filter) not in the rollup"}},
	{"measureFilter operator", `{"measures":["orders.count"],"dimensions":["orders.status"],"filters":[{"member":"orders.completed_count","operator":"measureFilter"}]}`,
		"", "", []string{"orders.by_status_month: no — orders.completed_count (measureFilter) filters raw rows"}},
	{"order by a measure not in the rollup", `{"measures":["orders.count"],"dimensions":["orders.status"],"order":[["orders.avg_amount","desc"]]}`,
		"", "", []string{"orders.by_status_month: no — orders.avg_amount (order) not in the rollup"}},
	{"fan-out in the query", `{"measures":["customers.count","orders.count"],"dimensions":["customers.city"]}`,
		"", "", []string{"customers.by_city: no — customers.count is multiplied by a join of the query (fan-out)"}},
	{"fan-out in the rollup", `{"measures":["customers.count"],"dimensions":["customers.city"]}`,
		"", "", []string{"customers.by_city: no — customers.count is multiplied by a join of the rollup (fan-out)"}},
	{"other root", `{"measures":["orders.count"],"dimensions":["customers.city"]}`,
		"orders.by_day", "", []string{"customers.by_city: no — the query reads from orders, the rollup from customers"}},
	{"view query matches cube rollup", `{"measures":["sales.count","sales.total_amount"],"dimensions":["sales.status"]}`,
		"orders.by_status_month", "", []string{"orders.by_status_month: yes", "sales.by_status: no — sales.total_amount (measure) not in the rollup"}},
	{"view rollup", `{"measures":["sales.count"],"dimensions":["sales.status"],"segments":["sales.completed"]}`,
		"orders.by_day", "", []string{"sales.by_status: no — sales.completed (segment) not in the rollup"}},
	{"view rollup by cube members", `{"measures":["orders.count"],"dimensions":["sales.status"]}`,
		"orders.by_status_month", "", []string{"sales.by_status: yes"}},
	{"row filter not in rollup", `{"measures":["orders.count"],"dimensions":["orders.status"]}`,
		"", `[{"member":"orders.customer_id","operator":"equals","values":["1"]}]`, []string{"orders.by_status_month: no — orders.customer_id (row filter) not in the rollup"}},
	{"row filter in rollup", `{"measures":["orders.count"],"dimensions":["orders.status"]}`,
		"orders.by_status_month", `[{"member":"orders.status","operator":"notEquals","values":["x"]}]`, nil},
	{"row filter on a joined cube", `{"measures":["orders.count"],"dimensions":["customers.city"]}`,
		"orders.by_day", `[{"member":"customers.city","operator":"equals","values":["Paris"]}]`, []string{"orders.by_day: yes"}},
	{"row filter on a cube not read", `{"measures":["orders.count"],"dimensions":["orders.status"]}`,
		"orders.by_status_month", `[{"member":"customers.city","operator":"equals","values":["Paris"]}]`, nil},
	// A row filter's values are the principal's: a reason names no value.
	{"row filter's bound unaligned, no value shown", `{"measures":["orders.count"],"dimensions":["orders.status"]}`,
		"", `[{"member":"orders.created_at","operator":"afterOrOnDate","values":["2023-03-15T10:00:00"]}]`,
		[]string{"orders.by_status_month: no — orders.created_at (row filter): a bound is not the start of a month: the rollup cannot split it"}},
}

func TestMatchRollup(t *testing.T) {
	m := preaggModel(t)
	for _, c := range matchCases {
		t.Run(c.name, func(t *testing.T) {
			var q Query
			if err := json.Unmarshal([]byte(c.query), &q); err != nil {
				t.Fatal(err)
			}
			o := Options{Now: matchNow}
			if c.rowFilters != "" {
				var fs []Filter
				if err := json.Unmarshal([]byte(c.rowFilters), &fs); err != nil {
					t.Fatal(err)
				}
				p, err := m.NewPolicy(nil, fs)
				if err != nil {
					t.Fatal(err)
				}
				o.Policy = p
			}
			pa, reasons := m.MatchRollup(&q, o)
			got := ""
			if pa != nil {
				got = pa.FullName()
			}
			all := strings.Join(reasons, "\n")
			if got != c.want {
				t.Errorf("matched %q, want %q\n%s", got, c.want, all)
			}
			for _, r := range c.reasons {
				if !strings.Contains(all, r) {
					t.Errorf("no reason %q in\n%s", r, all)
				}
			}
			// A match compiles from the rollup.
			if pa != nil {
				if _, err := m.CompileFromRollup(&q, pa, "rollup_table", Postgres{}, o); err != nil {
					t.Errorf("compile from %s: %v", got, err)
				}
			}
		})
	}
}

func TestDivides(t *testing.T) {
	m := preaggModel(t)
	orders, _ := m.Cube("orders")
	at, _ := orders.Member("created_at")
	d := at.(*Dimension)
	yes := [][2]string{{"day", "week"}, {"day", "month"}, {"day", "quarter"}, {"day", "year"}, {"hour", "day"}, {"month", "quarter"},
		{"month", "year"}, {"quarter", "year"}, {"week", "week"}, {"second", "week"}, {"month", "fiscal_year"}, {"day", "two_weeks"}, {"day", "fiscal_year"}}
	nos := [][2]string{{"week", "month"}, {"week", "quarter"}, {"week", "year"}, {"month", "week"}, {"day", "hour"}, {"week", "two_weeks"},
		{"quarter", "fiscal_year"}, {"fiscal_year", "year"}}
	for _, p := range yes {
		if !divides(p[0], p[1], d) {
			t.Errorf("%s should divide %s", p[0], p[1])
		}
	}
	for _, p := range nos {
		if divides(p[0], p[1], d) {
			t.Errorf("%s should not divide %s", p[0], p[1])
		}
	}
}
