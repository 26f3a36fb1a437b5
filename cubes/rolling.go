package cubes

import (
	"fmt"
	"strings"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

var granularityInterval = map[string]string{
	"second": "1 second", "minute": "1 minute", "hour": "1 hour", "day": "1 day",
	"week": "7 days", "month": "1 month", "quarter": "3 months", "year": "1 year",
}

func intervalLiteral(months int, seconds int64) string {
	return fmt.Sprintf("INTERVAL '%d months %d seconds'", months, seconds)
}

// compileRolling renders a query with rolling-window measures, as Cube
// does: a series of periods over the date range at the granularity; each
// rolling measure aggregates the rows of its window around the period;
// the other measures aggregate each period's own rows.
func (c *compiler) compileRolling(plan *joinPlan, where []string, measureFilters []Filter, nGroup int, order string) (*Compiled, error) {
	q := c.q
	refuse := func(why string) (*Compiled, error) {
		return nil, pgerr.New(pgerrcode.FeatureNotSupported, "rolling window measures: %s", why).
			WithHint("query them with one time dimension, a built-in granularity and a dateRange")
	}
	switch {
	case len(q.TimeDimensions) != 1 || q.TimeDimensions[0].Granularity == "" || q.TimeDimensions[0].DateRange.IsZero():
		return refuse("a time dimension with a granularity and a dateRange is needed")
	case nGroup != 1:
		return refuse("other dimensions are not supported yet")
	case len(measureFilters) > 0 || q.Ungrouped:
		return refuse("measure filters and ungrouped queries are not supported yet")
	case c.loc != nil:
		return refuse("time zones other than UTC are not supported yet")
	case len(plan.used) > 1:
		return refuse("joins are not supported yet")
	}
	td := q.TimeDimensions[0]
	g := td.Granularity
	step, ok := granularityInterval[g]
	if !ok {
		return refuse("custom granularities are not supported yet")
	}
	mem, err := c.member(td.Dimension)
	if err != nil {
		return nil, err
	}
	t, err := c.r.memberExpr(mem)
	if err != nil {
		return nil, err
	}
	var from, to string
	if td.DateRange.Relative != "" {
		lo, hi, err := relativeRange(td.DateRange.Relative, c.now, c.loc)
		if err != nil {
			return nil, pgerr.New(pgerrcode.InvalidDatetimeFormat, "%s", err.Error())
		}
		from, to = c.arg(lo.UTC()), c.arg(hi.UTC())
	} else if from, to, err = c.rangeArgs(td.DateRange.Pair[0], td.DateRange.Pair[1], td.Dimension); err != nil {
		return nil, err
	}
	qi := c.d.QuoteIdent
	s := qi("__series")
	dFrom := s + "." + qi("date_from")
	dTo := "(" + dFrom + " + INTERVAL '" + step + "' - INTERVAL '1 millisecond')"
	series := "(SELECT d " + qi("date_from") + " FROM generate_series(" + c.d.DateTrunc(g, "CAST("+from+" AS TIMESTAMP)") +
		", CAST(" + to + " AS TIMESTAMP), INTERVAL '" + step + "') AS s(d)) AS " + s
	rowWhere := where // the date range is not among them: it bounds the periods
	var b strings.Builder
	b.WriteString("SELECT " + dFrom + " " + qi(c.cols[0].Alias))
	var joins []string
	for i := 1; i < len(c.cols); i++ {
		m := resolveMember(c.cols[i].Member).(*Measure)
		alias := qi(fmt.Sprintf("__w%d", i))
		var cond []string
		anchor := dTo
		if m.Rolling != nil && m.Rolling.AtStart {
			anchor = dFrom
		}
		switch {
		case m.Rolling == nil: // the period's own rows
			cond = append(cond, t+" >= "+dFrom, t+" <= "+dTo)
		default:
			// Cube's window: anchored at the period's last millisecond,
			// (anchor - trailing, anchor + leading]; or at its start,
			// [anchor - trailing, anchor + leading).
			w := m.Rolling
			gt, le := " > ", " <= "
			if w.AtStart {
				gt, le = " >= ", " < "
			}
			if !w.Unbounded {
				cond = append(cond, t+gt+anchor+" - "+intervalLiteral(w.TrailingMonths, w.TrailingSeconds))
			}
			if w.HasLeading {
				cond = append(cond, t+le+anchor+" + "+intervalLiteral(w.LeadingMonths, w.LeadingSeconds))
			} else {
				cond = append(cond, t+le+anchor)
			}
		}
		cond = append(cond, rowWhere...)
		// Each measure aggregates its own window: one lateral-free
		// subquery per measure, joined on the period.
		sub := "SELECT " + dFrom + " " + qi("date_from") + ", " + c.exprs[i] + " " + qi("v") +
			" FROM " + series + " LEFT JOIN " + c.table(plan.root) + " ON " + strings.Join(cond, " AND ") + " GROUP BY 1"
		joins = append(joins, " LEFT JOIN ("+sub+") AS "+alias+" ON "+alias+"."+qi("date_from")+" = "+dFrom)
		b.WriteString(", " + alias + "." + qi("v") + " " + qi(c.cols[i].Alias))
	}
	b.WriteString(" FROM " + series)
	for _, j := range joins {
		b.WriteString(j)
	}
	sql := b.String()
	out := &Compiled{Columns: c.cols}
	if q.Total {
		out.TotalSQL = "SELECT count(*) FROM (" + sql + ") AS " + qi("q")
		out.TotalArgs = append([]any(nil), c.args...)
	}
	sql += order
	if q.Limit != nil {
		sql += " LIMIT " + c.arg(*q.Limit)
	}
	if q.Offset > 0 {
		sql += " OFFSET " + c.arg(q.Offset)
	}
	out.SQL, out.Args = sql, c.args
	return out, nil
}
