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

func intervalText(months int, seconds int64) string {
	return fmt.Sprintf("%d months %d seconds", months, seconds)
}

// compileRolling renders a query with rolling-window measures, as Cube
// does: a series of periods over the date range at the granularity; each
// rolling measure aggregates the rows of its window around the period;
// the other measures aggregate each period's own rows.
func (c *compiler) compileRolling(plan *joinPlan, where []string, measureFilters []Filter, nGroup int, order orderClause) (*Compiled, error) {
	q := c.q
	refuse := func(why string) (*Compiled, error) {
		return nil, pgerr.New(pgerrcode.FeatureNotSupported, "rolling window measures: %s", why).
			WithHint("query them with one time dimension, a built-in granularity and a dateRange")
	}
	// refuseYet refuses what the compiler lacks (pgerr.ErrNotYet): a row-wise
	// path may answer it.
	refuseYet := func(why string) (*Compiled, error) {
		_, err := refuse(why)
		return nil, err.(*pgerr.Error).Mark(pgerr.ErrNotYet)
	}
	switch {
	case len(q.TimeDimensions) != 1 || q.TimeDimensions[0].Granularity == "" || q.TimeDimensions[0].DateRange.IsZero():
		return refuse("a time dimension with a granularity and a dateRange is needed")
	case len(measureFilters) > 0 || q.Ungrouped:
		return refuseYet("measure filters and ungrouped queries are not supported yet")
	case c.loc != nil:
		return refuseYet("time zones other than UTC are not supported yet")
	case len(plan.used) > 1:
		return refuseYet("joins are not supported yet")
	}
	td := q.TimeDimensions[0]
	g := td.Granularity
	step, ok := granularityInterval[g]
	if !ok {
		return refuseYet("custom granularities are not supported yet")
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
	dTo := "(" + c.d.Interval(c.d.Interval(dFrom, '+', step), '-', "1 millisecond") + ")"
	series := "(" + c.d.Series(g, from, to, step) + ") AS " + s
	rowWhere := where // the date range is not among them: it bounds the periods
	// The time dimension is the last grouping column; the others are
	// plain dimensions of the rows a window reaches.
	tdCol := -1
	for i := 0; i < nGroup; i++ {
		if c.cols[i].Granularity != "" {
			tdCol = i
		}
	}
	keyOf := func(v string) string { return nullSafeKey(c.d, v) }
	// The parts' grouping columns, in their select lists' order.
	groupAliases := []string{c.cols[tdCol].Alias}
	for j := 0; j < nGroup; j++ {
		if j != tdCol {
			groupAliases = append(groupAliases, c.cols[j].Alias)
		}
	}
	var parts []string
	for i := nGroup; i < len(c.cols); i++ {
		m := resolveMember(c.cols[i].Member).(*Measure)
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
				cond = append(cond, t+gt+c.d.Interval(anchor, '-', intervalText(w.TrailingMonths, w.TrailingSeconds)))
			}
			if w.HasLeading {
				cond = append(cond, t+le+c.d.Interval(anchor, '+', intervalText(w.LeadingMonths, w.LeadingSeconds)))
			} else {
				cond = append(cond, t+le+anchor)
			}
		}
		cond = append(cond, rowWhere...)
		sel := []string{dFrom + " " + qi(c.cols[tdCol].Alias)}
		keys := []string{keyOf(dFrom) + " " + qi("__kt")}
		for j := 0; j < nGroup; j++ {
			if j != tdCol {
				sel = append(sel, c.exprs[j]+" "+qi(c.cols[j].Alias))
				keys = append(keys, keyOf(c.exprs[j])+" "+qi(fmt.Sprintf("__k%d", j)))
			}
		}
		sel = append(sel, c.exprs[i]+" "+qi("v"))
		groups := make([]string, nGroup)
		for j := range groups {
			groups[j] = c.d.GroupKey(j+1, groupAliases[j])
		}
		parts = append(parts, "SELECT "+strings.Join(append(sel, keys...), ", ")+" FROM "+series+" LEFT JOIN "+c.table(plan.root)+
			" ON "+strings.Join(cond, " AND ")+" GROUP BY "+strings.Join(groups, ", "))
	}
	name := func(k int) string { return qi(fmt.Sprintf("__w%d", k)) }
	// Parts may hold different groups (a window reaches rows a period does
	// not): full joins on the null-safe keys, dimensions from any part.
	keyNames := []string{qi("__kt")}
	for j := 0; j < nGroup; j++ {
		if j != tdCol {
			keyNames = append(keyNames, qi(fmt.Sprintf("__k%d", j)))
		}
	}
	if !c.d.FullJoin() && len(parts) > 1 {
		sql, outer := c.joinOnKeys(parts, nGroup, keyNames)
		order.outer = outer
		return c.finish(sql, order), nil
	}
	var b strings.Builder
	var sel []string
	order.outer = nil
	for j := 0; j < nGroup; j++ {
		vals := make([]string, len(parts))
		for k := range parts {
			vals[k] = name(k) + "." + qi(c.cols[j].Alias)
		}
		e := "COALESCE(" + strings.Join(vals, ", ") + ")"
		order.outer = append(order.outer, e)
		sel = append(sel, e+" "+qi(c.cols[j].Alias))
	}
	for k := range parts {
		order.outer = append(order.outer, name(k)+"."+qi("v"))
		sel = append(sel, name(k)+"."+qi("v")+" "+qi(c.cols[nGroup+k].Alias))
	}
	b.WriteString("SELECT " + strings.Join(sel, ", ") + " FROM (" + parts[0] + ") AS " + name(0))
	for k := 1; k < len(parts); k++ {
		var conds []string
		for _, kn := range keyNames {
			prev := make([]string, k)
			for p := 0; p < k; p++ {
				prev[p] = name(p) + "." + kn
			}
			left := prev[0]
			if k > 1 {
				left = "COALESCE(" + strings.Join(prev, ", ") + ")"
			}
			conds = append(conds, left+" = "+name(k)+"."+kn)
		}
		b.WriteString(" FULL JOIN (" + parts[k] + ") AS " + name(k) + " ON " + strings.Join(conds, " AND "))
	}
	return c.finish(b.String(), order), nil
}

// joinOnKeys joins the rolling-window parts where the warehouse has no
// FULL JOIN: the union of their groups (keys and dimensions), each part
// left-joined to it on the null-safe keys.
func (c *compiler) joinOnKeys(parts []string, nGroup int, keyNames []string) (string, []string) {
	qi := c.d.QuoteIdent
	name := func(k int) string { return qi(fmt.Sprintf("__w%d", k)) }
	cols := append([]string{}, keyNames...)
	for j := 0; j < nGroup; j++ {
		cols = append(cols, qi(c.cols[j].Alias))
	}
	union := make([]string, len(parts))
	for k, p := range parts {
		union[k] = "SELECT " + strings.Join(cols, ", ") + " FROM (" + p + ") AS " + name(k)
	}
	keys := qi("__keys")
	var sel, outer []string
	for j := 0; j < nGroup; j++ {
		outer = append(outer, keys+"."+qi(c.cols[j].Alias))
		sel = append(sel, outer[j]+" "+qi(c.cols[j].Alias))
	}
	for k := range parts {
		outer = append(outer, name(k)+"."+qi("v"))
		sel = append(sel, outer[nGroup+k]+" "+qi(c.cols[nGroup+k].Alias))
	}
	var b strings.Builder
	b.WriteString("SELECT " + strings.Join(sel, ", ") + " FROM (" + strings.Join(union, " UNION ") + ") AS " + keys)
	for k, p := range parts {
		conds := make([]string, len(keyNames))
		for i, kn := range keyNames {
			conds[i] = keys + "." + kn + " = " + name(k) + "." + kn
		}
		b.WriteString(" LEFT JOIN (" + p + ") AS " + name(k) + " ON " + strings.Join(conds, " AND "))
	}
	return b.String(), outer
}
