// Package cubestest holds the compiler's feature queries over the oracle
// model (testdata/oracle/model) and the features model
// (cubes/testdata/features): cubes' golden files compile them for every
// dialect, and each engine's tests run them against a live server beside
// DuckDB.
package cubestest

import "strings"

// Query is a Cube query (its JSON) with a name.
type Query struct{ Name, JSON string }

// Golden are queries over the oracle model, one per compiler feature.
var Golden = []Query{
	{"count_all", `{"measures":["orders.count"]}`},
	{"by_status_default_order", `{"measures":["orders.count","orders.total_amount"],"dimensions":["orders.status"]}`},
	{"order_object_form", `{"measures":["orders.count"],"dimensions":["orders.status"],"order":{"orders.count":"desc","orders.status":"asc"}}`},
	{"no_order", `{"measures":["orders.count"],"dimensions":["orders.status"],"order":[]}`},
	{"order_repeated", `{"measures":["orders.count"],"dimensions":["orders.status"],"order":[["orders.status","asc"],["orders.count","desc"],["orders.status","desc"],["orders.count","asc"]]}`},
	{"case_dimension", `{"measures":["orders.count","orders.min_amount","orders.max_amount"],"dimensions":["orders.amount_tier"]}`},
	{"filtered_and_calculated", `{"measures":["orders.completed_count","orders.completed_amount","orders.completed_ratio","orders.avg_order_value"],"dimensions":["orders.channel"]}`},
	{"count_distinct", `{"measures":["orders.unique_customers"],"dimensions":["orders.channel"]}`},
	{"time_month", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month"}]}`},
	{"date_range", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","dateRange":["2023-01-01","2023-03-31"]}]}`},
	{"filters_all_kinds", `{"measures":["orders.count"],"filters":[
		{"member":"orders.status","operator":"equals","values":["completed","shipped"]},
		{"member":"orders.channel","operator":"notEquals","values":["web"]},
		{"member":"orders.amount","operator":"gte","values":["100.5"]},
		{"member":"orders.quantity","operator":"lt","values":["4"]},
		{"member":"orders.discount","operator":"set"},
		{"member":"orders.status","operator":"contains","values":["ship"]},
		{"member":"orders.channel","operator":"notStartsWith","values":["mo"]},
		{"or":[{"member":"orders.is_gift","operator":"equals","values":["true"]},{"member":"orders.created_at","operator":"beforeDate","values":["2023-01-01"]}]}]}`},
	{"measure_filter_having", `{"measures":["orders.count"],"dimensions":["orders.channel"],"filters":[{"member":"orders.count","operator":"gt","values":["1000"]}]}`},
	{"segments", `{"measures":["orders.count"],"segments":["orders.completed","orders.large_orders"]}`},
	{"limit_offset", `{"measures":["orders.count"],"dimensions":["orders.status"],"limit":2,"offset":1}`},
	{"join_many_to_one", `{"measures":["orders.count"],"dimensions":["customers.tier","products.category"]}`},
	{"view", `{"measures":["sales.count","sales.total_amount"],"dimensions":["sales.customers_tier"]}`},
	{"dimensions_only", `{"dimensions":["customers.country"]}`},
	{"max_of_time", `{"measures":["orders.last_order_at"]}`},
	{"ungrouped", `{"ungrouped":true,"measures":["orders.total_amount","orders.count","orders.completed_count","orders.avg_order_value"],"dimensions":["orders.id"],"filters":[{"member":"orders.count","operator":"gt","values":["0"]}],"order":{"orders.id":"asc"},"limit":3}`},
	{"order_by_unselected_measure", `{"dimensions":["products.category"],"measures":["products.count"],"order":[["products.avg_price","desc"]]}`},
	{"total", `{"measures":["orders.count"],"dimensions":["orders.status"],"limit":2,"offset":1,"total":true}`},
	{"measure_filter_operator", `{"measures":["orders.count"],"dimensions":["orders.channel"],"filters":[{"member":"orders.completed_amount","operator":"measureFilter"}]}`},
	{"fanout_dedup", `{"measures":["customers.count"],"dimensions":["orders.status"]}`},
	{"fanout_mixed_with_filter", `{"measures":["orders.count","customers.count","customers.unique_cities"],"dimensions":["customers.tier"],"filters":[{"member":"customers.count","operator":"gt","values":["10"]},{"member":"orders.channel","operator":"equals","values":["web"]}],"order":{"customers.count":"desc"},"limit":3}`},
}

// Features are queries over the features model (extends, custom
// granularities, sub_query, rolling windows) and the query time zone.
var Features = []Query{
	{"timezone", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"day","dateRange":["2023-03-10","2023-03-14"]}],"timezone":"America/New_York"}`},
	{"custom_granularity_offset", `{"measures":["events.count"],"timeDimensions":[{"dimension":"events.at","granularity":"fiscal_year"}]}`},
	{"custom_granularity_origin", `{"measures":["events.value"],"timeDimensions":[{"dimension":"events.at","granularity":"two_weeks"}]}`},
	{"extends_with_join", `{"measures":["events.count","events.value"],"dimensions":["accounts.plan"]}`},
	{"sub_query", `{"measures":["accounts.count"],"dimensions":["accounts.lifetime_events"],"filters":[{"member":"accounts.lifetime_events","operator":"gt","values":["10"]}]}`},
	{"rolling_window", `{"measures":["events.value","events.rolling_value","events.running_count"],"timeDimensions":[{"dimension":"events.at","granularity":"day","dateRange":["2024-01-01","2024-01-31"]}]}`},
	{"rolling_window_week", `{"measures":["events.rolling_value","events.running_count"],"timeDimensions":[{"dimension":"events.at","granularity":"week","dateRange":["2023-11-01","2024-03-31"]}]}`},
}

// Times are more granularities and time zones over the oracle model, for
// engines whose time functions are their own.
var Times = []Query{
	{"time_week_by_status", `{"measures":["orders.count","orders.total_amount"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"week"}],"dimensions":["orders.status"]}`},
	{"quarter_ny", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"quarter"}],"timezone":"America/New_York"}`},
	{"hour_tokyo", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"hour","dateRange":["2023-03-01","2023-03-03"]}],"timezone":"Asia/Tokyo"}`},
	{"year", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"year"}]}`},
	{"minute_second", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"second","dateRange":["2023-03-01","2023-03-10"]}]}`},
}

// UsesFeatures tells whether q reads the features model.
func UsesFeatures(q Query) bool {
	return strings.Contains(q.JSON, "events.") || strings.Contains(q.JSON, "accounts.")
}
