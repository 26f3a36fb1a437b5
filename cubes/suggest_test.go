package cubes

import (
	"strings"
	"testing"
	"time"
)

// suggestModel: orders (additive, count_distinct, avg and number
// measures), customers (orders belong to one) and items (an order has
// many: fan-out), with one existing rollup by status.
var suggestModel = map[string][]byte{"model.yml": []byte(`
cubes:
  - name: orders
    sql_table: orders
    joins:
      - name: customers
        relationship: many_to_one
        sql: "{CUBE}.customer_id = {customers.id}"
      - name: items
        relationship: one_to_many
        sql: "{CUBE}.id = {items.order_id}"
    measures:
      - name: count
        type: count
      - name: revenue
        sql: amount
        type: sum
      - name: unique_customers
        sql: customer_id
        type: count_distinct
      - name: avg_amount
        sql: amount
        type: avg
      - name: avg_order
        sql: "{revenue} / NULLIF({count}, 0)"
        type: number
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
    segments:
      - name: completed
        sql: "{CUBE}.status = 'completed'"
    pre_aggregations:
      - name: existing
        measures: [count]
        dimensions: [channel]
  - name: customers
    sql_table: customers
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: city
        sql: city
        type: string
  - name: items
    sql_table: items
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: order_id
        sql: order_id
        type: number
      - name: sku
        sql: sku
        type: string
`)}

// TestSuggest: a history of shapes → the rollups suggested, what they
// serve, and the YAML loaded into the model serving exactly that.
func TestSuggest(t *testing.T) {
	m, err := LoadFiles(suggestModel)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 6, 15, 12, 0, 0, 0, time.UTC)
	type shape struct {
		query string // as the audit log keeps it
		n     int
		ms    int // each query's duration
	}
	by := func(dims string) string {
		return `{"measures":["orders.count","orders.revenue"],"dimensions":[` + dims + `],"timeDimensions":[{"dimension":"orders.created_at","granularity":"day","dateRange":["$1","$2"]}],"limit":10000}`
	}
	type want struct {
		name, yaml string
		queries    int
		shapes     int
	}
	for _, c := range []struct {
		name       string
		history    []shape
		n          int
		want       []want
		unservable []string // substrings of the reasons, most queries first
		already    int
	}{
		{
			name: "dimension subsets merge, by the finest granularity used",
			history: []shape{
				{by(`"orders.status"`), 10, 100},
				{by(`"orders.status","customers.city"`), 5, 200},
				{`{"measures":["orders.revenue"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month"}],"filters":[{"member":"orders.status","operator":"equals","values":["$1"]}]}`, 5, 50},
			},
			n: 5,
			want: []want{{"orders_status_city_day", `- name: orders_status_city_day
  measures: [count, revenue]
  dimensions: [status, customers.city]
  time_dimension: created_at
  granularity: day
  partition_granularity: month
`, 20, 3}},
		},
		{
			name: "count_distinct, avg, fan-out and ungrouped are not suggested; an existing rollup's queries are not counted",
			history: []shape{
				{`{"measures":["orders.unique_customers"],"dimensions":["orders.status"]}`, 7, 1000},
				{`{"measures":["orders.avg_amount"],"dimensions":["orders.status"]}`, 6, 1000},
				{`{"measures":["orders.revenue"],"dimensions":["items.sku"]}`, 5, 1000},
				{`{"measures":["orders.count"],"dimensions":["orders.id"],"ungrouped":true}`, 4, 1000},
				{`{"measures":["orders.count"],"dimensions":["orders.channel"]}`, 3, 1000},
				{`{"measures":["orders.avg_order"],"segments":["orders.completed"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"week"}],"timezone":"UTC"}`, 2, 10},
			},
			n: 5,
			want: []want{{"orders_completed_week", `- name: orders_completed_week
  measures: [revenue, count]
  segments: [completed]
  time_dimension: created_at
  granularity: week
`, 2, 1}},
			unservable: []string{
				"orders.unique_customers (count_distinct) does not combine across rollup rows",
				"orders.avg_amount (avg) does not combine",
				"orders.revenue is multiplied by a join of the query (fan-out)",
				"an ungrouped query reads rows",
			},
			already: 3,
		},
		{
			name: "the slowest first, top n; the queries others serve overlap",
			history: []shape{
				{`{"measures":["customers.count"],"dimensions":["customers.city"]}`, 20, 1},
				{`{"measures":["orders.count"],"dimensions":["orders.status"],"filters":[{"member":"orders.created_at","operator":"inDateRange","values":["$1","$2"]}]}`, 2, 5000},
				{`{"measures":["orders.revenue"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"hour"}],"timezone":"America/New_York"}`, 3, 100},
			},
			n: 1,
			want: []want{{"orders_status_day", `- name: orders_status_day
  measures: [count]
  dimensions: [status]
  time_dimension: created_at
  granularity: day
  partition_granularity: month
`, 2, 1}},
			unservable: []string{"time zone America/New_York is not the rollup's (UTC)"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var history []SuggestQuery
			for _, s := range c.history {
				q, err := ParseAuditQuery(s.query)
				if err != nil {
					t.Fatal(err)
				}
				for range s.n {
					history = append(history, SuggestQuery{Query: q, Duration: time.Duration(s.ms) * time.Millisecond, When: now})
				}
			}
			rep := SuggestAll(m, history, c.n, now)
			if len(rep.Suggestions) != len(c.want) {
				t.Fatalf("%d suggestions, want %d: %+v", len(rep.Suggestions), len(c.want), rep.Suggestions)
			}
			for i, w := range c.want {
				s := rep.Suggestions[i]
				if s.Name != w.name || s.YAML != w.yaml || s.Queries != w.queries || s.Shapes != w.shapes {
					t.Errorf("suggestion %d: %s (%d queries, %d shapes)\n%s\nwant %s (%d queries, %d shapes)\n%s", i, s.Name, s.Queries, s.Shapes, s.YAML, w.name, w.queries, w.shapes, w.yaml)
				}
				if want := float64(w.queries) / float64(len(history)); s.Share != want {
					t.Errorf("share %v, want %v", s.Share, want)
				}
				checkSuggestionLoads(t, history, s, now)
			}
			if len(rep.Unservable) != len(c.unservable) {
				t.Fatalf("unservable: %+v, want %q", rep.Unservable, c.unservable)
			}
			for i, why := range c.unservable {
				if !strings.Contains(rep.Unservable[i].Why, why) {
					t.Errorf("unservable %d: %q, want %q", i, rep.Unservable[i].Why, why)
				}
			}
			if rep.AlreadyServed != c.already {
				t.Errorf("already served: %d, want %d", rep.AlreadyServed, c.already)
			}
		})
	}
}

// checkSuggestionLoads: the suggestion's YAML pasted under its cube
// loads, and MatchRollup on the loaded model answers with it exactly the
// queries it claims.
func checkSuggestionLoads(t *testing.T, history []SuggestQuery, s Suggestion, now time.Time) {
	t.Helper()
	n, err := VerifySuggestion(suggestModel, history, s, now)
	if err != nil || n != s.Queries {
		t.Errorf("%s: %d queries served once loaded, %d claimed: %v", s.Name, n, s.Queries, err)
	}
	// A claim the loaded model does not bear out is an error.
	wrong := s
	wrong.Served = append([]bool{!s.Served[0]}, s.Served[1:]...)
	if _, err := VerifySuggestion(suggestModel, history, wrong, now); err == nil || !strings.Contains(err.Error(), "than claimed") {
		t.Errorf("a wrong claim verified: %v", err)
	}
}

// TestParseAuditQuery: the audit log's form of a REST query reads back.
func TestParseAuditQuery(t *testing.T) {
	q, err := ParseAuditQuery(`{"dimensions":["orders.status"],"filters":[{"member":"orders.status","operator":"equals","values":["$3","$4"]}],"limit":10001,"measures":["orders.count"],"order":[{"id":"orders.count","desc":true}],"timeDimensions":[{"dateRange":["$1","$2"],"dimension":"orders.created_at","granularity":"day"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.TimeDimensions) != 1 || q.TimeDimensions[0].DateRange.Pair[1] != "$2" || q.Filters[0].Values[0] != "$3" || len(q.Order) != 1 || !q.Order[0].Desc {
		t.Fatalf("%+v", q)
	}
}
