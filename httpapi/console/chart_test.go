package console

import (
	"encoding/xml"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var rewriteCharts = flag.Bool("rewrite-charts", false, "rewrite testdata/chart/*.svg from the charts drawn")

func strp(s string) *string { return &s }

// TestChartGolden draws a time series (a line, pivoted by a category,
// with a NULL making a gap) and categories (bars of two measures, one
// negative) and compares the SVG with testdata/chart/*.svg; the SVG must
// be well-formed XML and carry its title and description.
func TestChartGolden(t *testing.T) {
	series := &Result{Columns: []ResultColumn{
		{Name: "orders.created_at.month", Title: "Orders Created at", Type: "time", Time: true},
		{Name: "orders.status", Title: "Orders Status", Type: "string"},
		{Name: "orders.count", Title: "Orders Count", Type: "number", Numeric: true},
	}, Rows: [][]*string{
		{strp("2024-02-01T00:00:00.000"), strp("completed"), strp("12")},
		{strp("2024-01-01T00:00:00.000"), strp("completed"), strp("10")},
		{strp("2024-01-01T00:00:00.000"), strp("shipped"), strp("4")},
		{strp("2024-02-01T00:00:00.000"), strp("shipped"), nil},
		{strp("2024-03-01T00:00:00.000"), strp("shipped"), strp("7")},
		{strp("2024-03-01T00:00:00.000"), strp("completed"), strp("15")},
	}, More: 3}
	bars := &Result{Columns: []ResultColumn{
		{Name: "products.category", Title: "Products Category <b>", Type: "string"},
		{Name: "orders.total_amount", Title: "Orders Total Amount", Type: "number", Numeric: true},
		{Name: "orders.margin", Title: "Orders Margin", Type: "number", Numeric: true},
	}, Rows: [][]*string{
		{strp("Books & <Things>"), strp("123456.25"), strp("-1500")},
		{strp("Games"), strp("25000"), strp("4000.5")},
		{nil, strp("1000"), strp("0")},
	}}
	for _, tc := range []struct {
		name string
		res  *Result
		line bool
	}{{"timeseries", series, true}, {"categories", bars, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ch, ok := ChartOf(tc.res, "Result of the query")
			if !ok || ch.Line != tc.line {
				t.Fatalf("chart %v, line %v", ok, ch.Line)
			}
			svg := string(ch.SVG())
			checkXML(t, svg)
			for _, want := range []string{`<title id="chart-title">Result of the query</title>`, `role="img"`, `aria-labelledby="chart-title chart-desc"`} {
				if !strings.Contains(svg, want) {
					t.Errorf("the chart lacks %s", want)
				}
			}
			if strings.Contains(svg, "<Things>") || strings.Contains(svg, "<b>") {
				t.Error("a label is not escaped")
			}
			path := filepath.Join("testdata", "chart", tc.name+".svg")
			if *rewriteCharts {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(svg+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -rewrite-charts to write it)", err)
			}
			if svg+"\n" != string(want) {
				t.Errorf("%s differs from the chart drawn (run with -rewrite-charts and look at the diff):\n%s", path, svg)
			}
		})
	}
	t.Run("pivot and notes", func(t *testing.T) {
		ch, _ := ChartOf(series, "t")
		if len(ch.Series) != 2 || ch.Series[0].Name != "completed" || len(ch.X) != 3 || ch.X[0] != "2024-01-01T00:00:00.000" {
			t.Fatalf("series %+v, x %v", ch.Series, ch.X)
		}
		if !math.IsNaN(ch.Series[1].Values[1]) {
			t.Errorf("a NULL is drawn: %v", ch.Series[1].Values)
		}
		if !strings.Contains(ch.Desc, "3 more rows of the answer are not drawn") {
			t.Errorf("desc %q does not say what is left out", ch.Desc)
		}
	})
	t.Run("nothing numeric", func(t *testing.T) {
		if _, ok := ChartOf(&Result{Columns: []ResultColumn{{Name: "a"}}, Rows: [][]*string{{strp("x")}}}, "t"); ok {
			t.Error("a chart of no numeric column")
		}
	})
}

// checkXML fails unless s is well-formed XML.
func checkXML(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed: %v\n%s", err, s)
		}
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   string
	}{{0, 15, "0 5 10 15"}, {-1500, 25000, "-10000 0 10000 20000 30000"}, {0, 0.3, "0 0.1 0.2 0.3"}, {0, 1, "0 0.2 0.4 0.6 0.8 1"}} {
		var got []string
		for _, v := range niceTicks(tc.lo, tc.hi, maxYTicks) {
			got = append(got, tickLabel(v))
		}
		if g := strings.Join(got, " "); g != strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(tc.want, "10000", "10k"), "20000", "20k"), "30000", "30k") {
			t.Errorf("niceTicks(%v, %v) = %s", tc.lo, tc.hi, g)
		}
	}
}
