package console

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strconv"
	"strings"
)

// The playground's chart: a small SVG written on the server (no script,
// no library), a line over time or bars by category, with axes, labels,
// a <title> and <desc> for screen readers, and a <title> on every point
// or bar. Values are plotted as float64; the table next to it keeps their
// exact decimal text.

// Chart is what a chart draws: X labels (ascending time for a line) and
// one or more series of values, NaN where the value is NULL.
type Chart struct {
	Title string
	// Desc says what is drawn (and what is not: rows or series left out).
	Desc string
	// Line draws a line chart (X is time), else bars.
	Line   bool
	XLabel string
	YLabel string
	X      []string
	Series []ChartSeries
}

// ChartSeries is one line or one bar colour.
type ChartSeries struct {
	Name   string
	Values []float64
}

// Chart geometry: the plot area inside the SVG's viewBox.
const (
	chartW, chartH                        = 720, 320
	chartLeft, chartRight                 = 72, 16
	chartTop, chartBottom                 = 36, 64
	maxChartSeries, maxXLabels, maxYTicks = 8, 8, 5
)

// chartColors are distinguishable on light and dark backgrounds.
var chartColors = []string{"#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"}

// SVG renders the chart. Every text in it is escaped here: the result is
// safe to put in a page as it is.
func (c Chart) SVG() template.HTML {
	var b strings.Builder
	esc := template.HTMLEscapeString
	kind := "bar"
	if c.Line {
		kind = "line"
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" id="result-chart" class="chart" data-kind="%s" viewBox="0 0 %d %d" width="100%%" role="img" aria-labelledby="chart-title chart-desc">`, kind, chartW, chartH)
	fmt.Fprintf(&b, `<title id="chart-title">%s</title><desc id="chart-desc">%s</desc>`, esc(c.Title), esc(c.Desc))
	plotW, plotH := float64(chartW-chartLeft-chartRight), float64(chartH-chartTop-chartBottom)
	lo, hi, ok := c.extent()
	if !ok || len(c.X) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="currentColor">No numeric values to draw</text></svg>`, chartW/2, chartH/2)
		return template.HTML(b.String())
	}
	ticks := niceTicks(lo, hi, maxYTicks)
	lo, hi = ticks[0], ticks[len(ticks)-1]
	y := func(v float64) float64 { return chartTop + plotH - (v-lo)/(hi-lo)*plotH }
	// Axes, grid and Y ticks.
	b.WriteString(`<g class="axis" fill="currentColor" stroke="none" font-size="12">`)
	for _, t := range ticks {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%s" y2="%s" stroke="currentColor" stroke-opacity="0.15"/>`, chartLeft, chartW-chartRight, num(y(t)), num(y(t)))
		fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end" dominant-baseline="middle">%s</text>`, chartLeft-6, num(y(t)), esc(tickLabel(t)))
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="currentColor"/>`, chartLeft, chartLeft, chartTop, chartH-chartBottom)
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%s" y2="%s" stroke="currentColor"/>`, chartLeft, chartW-chartRight, num(y(math.Max(lo, math.Min(0, hi)))), num(y(math.Max(lo, math.Min(0, hi)))))
	n := len(c.X)
	step := plotW / float64(n)
	xAt := func(i int) float64 { return chartLeft + step*(float64(i)+0.5) }
	every := (n + maxXLabels - 1) / maxXLabels
	for i := 0; i < n; i += every {
		fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle">%s</text>`, num(xAt(i)), chartH-chartBottom+16, esc(shorten(axisLabel(c.X[i]), 20)))
	}
	if c.XLabel != "" {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-weight="bold">%s</text>`, chartLeft+int(plotW)/2, chartH-chartBottom+36, esc(c.XLabel))
	}
	if c.YLabel != "" {
		fmt.Fprintf(&b, `<text x="14" y="%d" text-anchor="middle" font-weight="bold" transform="rotate(-90 14 %d)">%s</text>`, chartTop+int(plotH)/2, chartTop+int(plotH)/2, esc(c.YLabel))
	}
	b.WriteString(`</g>`)
	// The data.
	base := y(math.Max(lo, math.Min(0, hi)))
	for si, s := range c.Series {
		color := chartColors[si%len(chartColors)]
		fmt.Fprintf(&b, `<g class="series" data-series="%s">`, esc(s.Name))
		if c.Line {
			var pts []string
			for i, v := range s.Values {
				if math.IsNaN(v) {
					if len(pts) > 1 {
						fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, color, strings.Join(pts, " "))
					}
					pts = pts[:0]
					continue
				}
				pts = append(pts, num(xAt(i))+","+num(y(v)))
			}
			if len(pts) > 1 {
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, color, strings.Join(pts, " "))
			}
			for i, v := range s.Values {
				if !math.IsNaN(v) {
					fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"><title>%s</title></circle>`, num(xAt(i)), num(y(v)), color, esc(pointTitle(s.Name, c.X[i], v)))
				}
			}
		} else {
			bw := step * 0.8 / float64(len(c.Series))
			for i, v := range s.Values {
				if math.IsNaN(v) {
					continue
				}
				x0 := chartLeft + step*float64(i) + step*0.1 + bw*float64(si)
				top, h := y(v), base-y(v)
				if h < 0 {
					top, h = base, -h
				}
				fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`, num(x0), num(top), num(bw), num(h), color, esc(pointTitle(s.Name, c.X[i], v)))
			}
		}
		b.WriteString(`</g>`)
	}
	// The legend, when there is more than one series.
	if len(c.Series) > 1 {
		b.WriteString(`<g class="legend" font-size="12" fill="currentColor">`)
		x := chartLeft
		for si, s := range c.Series {
			fmt.Fprintf(&b, `<rect x="%d" y="6" width="10" height="10" fill="%s"/><text x="%d" y="15">%s</text>`, x, chartColors[si%len(chartColors)], x+14, esc(shorten(s.Name, 24)))
			x += 24 + 7*len([]rune(shorten(s.Name, 24)))
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// extent is the smallest and largest value drawn (false: none).
func (c Chart) extent() (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for _, v := range s.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			lo, hi, ok = math.Min(lo, v), math.Max(hi, v), true
		}
	}
	if !c.Line || lo > 0 {
		// Bars start at zero; so does a line of positive values.
		lo = math.Min(lo, 0)
	}
	hi = math.Max(hi, 0)
	if lo == hi {
		hi = lo + 1
	}
	return lo, hi, ok
}

// niceTicks are about n round values covering lo..hi (1, 2 or 5 times a
// power of ten apart).
func niceTicks(lo, hi float64, n int) []float64 {
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		step = m * mag
		if step >= raw {
			break
		}
	}
	decimals := max(0, int(-math.Floor(math.Log10(step))))
	first := math.Floor(lo / step)
	var out []float64
	for i := 0.0; ; i++ {
		// Spelled at the step's precision: 0.30000000000000004 is 0.3.
		v, _ := strconv.ParseFloat(strconv.FormatFloat((first+i)*step, 'f', decimals, 64), 64)
		out = append(out, v)
		if v >= hi || i > 100 {
			break
		}
	}
	if len(out) < 2 {
		out = append(out, out[0]+step)
	}
	return out
}

// tickLabel spells a tick: 1.5k, 2M, 0.25.
func tickLabel(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e12:
		return strconv.FormatFloat(v, 'g', 3, 64)
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', -1, 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// pointTitle is a point's or bar's tooltip.
func pointTitle(series, x string, v float64) string {
	return series + " at " + x + ": " + strconv.FormatFloat(v, 'f', -1, 64)
}

// axisLabel is an X label as the axis shows it: a timestamp without its
// zero time or milliseconds (the tooltips keep the whole text).
func axisLabel(x string) string {
	x = strings.TrimSuffix(x, ".000")
	return strings.TrimSuffix(x, "T00:00:00")
}

// num spells a coordinate with at most two decimals.
func num(f float64) string { return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64) }

// shorten cuts s to n characters with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Result is a query's answer as the playground shows it: columns, rows of
// exact text (nil: NULL), and how many rows are not shown.
type Result struct {
	Columns []ResultColumn
	Rows    [][]*string
	// More is how many rows the answer had past Rows (the page size);
	// MoreAtLeast: at least that many (the counting stopped).
	More        int64
	MoreAtLeast bool
	// Total is the query's row count without its limit when known (-1
	// not), and Limit the limit it ran with (0: none).
	Total, Limit int64
}

// Count is how many rows the answer had.
func (r *Result) Count() int64 { return int64(len(r.Rows)) + r.More }

// ResultColumn is a column of a Result: Time (a time dimension's or a
// date/timestamp column), Numeric (a measure or a number column) or
// neither (a category).
type ResultColumn struct {
	Name, Title, Type string
	Time, Numeric     bool
}

// ChartOf draws a result: a line over its first time column when it has
// one, else bars over its first category column (or the row number);
// the numeric columns are the series — or, with a time column and a
// category column, the category's values are, for the first numeric
// column. What is left out is said in the chart's description.
func ChartOf(res *Result, title string) (Chart, bool) {
	tcol, ccol := -1, -1
	var ncols []int
	for i, c := range res.Columns {
		switch {
		case c.Time && tcol < 0:
			tcol = i
		case c.Numeric:
			ncols = append(ncols, i)
		case !c.Time && ccol < 0:
			ccol = i
		}
	}
	if len(ncols) == 0 || len(res.Rows) == 0 {
		return Chart{}, false
	}
	if tcol < 0 && ccol < 0 && len(ncols) > 1 {
		// Numbers only (a SQL answer): the first column is the X axis.
		ccol, ncols = ncols[0], ncols[1:]
	}
	ch := Chart{Title: title, Line: tcol >= 0}
	var notes []string
	xcol := tcol
	if xcol < 0 {
		xcol = ccol
	}
	if xcol >= 0 {
		ch.XLabel = res.Columns[xcol].Title
	}
	rows := res.Rows
	if ch.Line {
		// A line runs forward in time (ISO text sorts as time does).
		rows = append([][]*string(nil), rows...)
		sort.SliceStable(rows, func(a, b int) bool { return text(rows[a][tcol]) < text(rows[b][tcol]) })
	}
	if ch.Line && ccol >= 0 {
		// Pivot: one line per category value, of the first measure.
		mcol := ncols[0]
		ch.YLabel = res.Columns[mcol].Title
		xs, xi := []string{}, map[string]int{}
		for _, r := range rows {
			if x := text(r[tcol]); !hasKey(xi, x) {
				xi[x] = len(xs)
				xs = append(xs, x)
			}
		}
		ch.X = xs
		si := map[string]int{}
		dropped := 0
		for _, r := range rows {
			name := text(r[ccol])
			k, ok := si[name]
			if !ok {
				if len(ch.Series) == maxChartSeries {
					dropped++
					si[name] = -1
					continue
				}
				k = len(ch.Series)
				si[name] = k
				vals := make([]float64, len(xs))
				for i := range vals {
					vals[i] = math.NaN()
				}
				ch.Series = append(ch.Series, ChartSeries{Name: name, Values: vals})
			}
			if k >= 0 {
				ch.Series[k].Values[xi[text(r[tcol])]] = value(r[mcol])
			}
		}
		if dropped > 0 {
			notes = append(notes, fmt.Sprintf("%d more values of %s are not drawn (at most %d lines)", dropped, res.Columns[ccol].Title, maxChartSeries))
		}
		if len(ncols) > 1 {
			notes = append(notes, fmt.Sprintf("only %s is drawn of %d numeric columns", res.Columns[mcol].Title, len(ncols)))
		}
	} else {
		for i, r := range rows {
			switch {
			case xcol >= 0:
				ch.X = append(ch.X, text(r[xcol]))
			default:
				ch.X = append(ch.X, strconv.Itoa(i+1))
			}
		}
		if len(ncols) > maxChartSeries {
			notes = append(notes, fmt.Sprintf("%d more numeric columns are not drawn (at most %d series)", len(ncols)-maxChartSeries, maxChartSeries))
			ncols = ncols[:maxChartSeries]
		}
		for _, k := range ncols {
			s := ChartSeries{Name: res.Columns[k].Title}
			for _, r := range rows {
				s.Values = append(s.Values, value(r[k]))
			}
			ch.Series = append(ch.Series, s)
		}
		if len(ncols) == 1 {
			ch.YLabel = res.Columns[ncols[0]].Title
		}
	}
	var names []string
	for _, s := range ch.Series {
		names = append(names, s.Name)
	}
	kind := "Bar chart"
	if ch.Line {
		kind = "Line chart"
	}
	ch.Desc = fmt.Sprintf("%s of %s", kind, strings.Join(names, ", "))
	if ch.XLabel != "" {
		ch.Desc += " by " + ch.XLabel
	}
	ch.Desc += fmt.Sprintf(", %d rows shown", len(rows))
	if res.More > 0 {
		notes = append(notes, fmt.Sprintf("%d more rows of the answer are not drawn", res.More))
	}
	if len(notes) > 0 {
		ch.Desc += "; " + strings.Join(notes, "; ")
	}
	ch.Desc += "."
	return ch, true
}

func hasKey(m map[string]int, k string) bool { _, ok := m[k]; return ok }

// text is a cell's text ("∅" for NULL).
func text(s *string) string {
	if s == nil {
		return "∅"
	}
	return *s
}

// value is a cell as a number to plot (NaN: NULL or not a number).
func value(s *string) float64 {
	if s == nil {
		return math.NaN()
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(*s), 64)
	if err != nil {
		return math.NaN()
	}
	return f
}
