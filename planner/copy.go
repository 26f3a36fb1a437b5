package planner

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// copyFormat reads COPY (query) TO STDOUT's options — text, csv or binary
// — into the node that sends the query's rows as COPY data; what COPY
// cubegate does not do is refused here, before the query is planned.
func copyFormat(n *pg_query.CopyStmt) (*copyNode, error) {
	switch {
	case n.GetIsFrom():
		return nil, unsupported(nil, "COPY FROM is not supported: cubegate is read-only")
	case n.GetFilename() != "" || n.GetIsProgram():
		return nil, pgerr.New(pgerrcode.InsufficientPrivilege, "COPY to a file or program is not allowed").
			WithHint("use COPY … TO STDOUT (psql's \\copy does)")
	case n.GetQuery() == nil:
		return nil, unsupported(nil, "COPY of a whole cube is not supported yet").
			WithHint("COPY (SELECT … FROM cube GROUP BY …) TO STDOUT")
	case n.GetQuery().GetSelectStmt() == nil:
		return nil, unsupported(n.GetQuery(), "COPY needs a SELECT")
	}
	f := pgwire.CopyFormat{Format: "text", Delimiter: "\t", Null: `\N`}
	var delim, null, quote, escape *string
	var forceAll bool
	var force []string
	for _, o := range n.GetOptions() {
		d := o.GetDefElem()
		arg := ""
		if a := d.GetArg(); a != nil {
			switch {
			case a.GetString_() != nil:
				arg = a.GetString_().GetSval()
			case a.GetBoolean() != nil:
				arg = fmt.Sprint(a.GetBoolean().GetBoolval())
			case a.GetInteger() != nil:
				arg = fmt.Sprint(a.GetInteger().GetIval())
			case a.GetAStar() != nil:
				arg = "*"
			case a.GetList() != nil:
				for _, it := range a.GetList().GetItems() {
					force = append(force, it.GetString_().GetSval())
				}
			}
		}
		v := arg
		switch strings.ToLower(d.GetDefname()) {
		case "format":
			switch strings.ToLower(arg) {
			case "text", "csv", "binary":
				f.Format = strings.ToLower(arg)
			default:
				return nil, pgerr.New(pgerrcode.InvalidParameterValue, "COPY format %q not recognized", arg)
			}
		case "header":
			switch strings.ToLower(arg) {
			case "", "true", "on", "1":
				f.Header = true
			case "false", "off", "0":
			default:
				return nil, unsupported(nil, "COPY HEADER %s is not supported", arg)
			}
		case "delimiter":
			delim = &v
		case "null":
			null = &v
		case "quote":
			quote = &v
		case "escape":
			escape = &v
		case "force_quote":
			forceAll = arg == "*"
		case "encoding":
			if !strings.EqualFold(strings.ReplaceAll(arg, "-", ""), "utf8") {
				return nil, unsupported(nil, "COPY ENCODING %q is not supported: cubegate writes UTF8", arg)
			}
		default:
			return nil, unsupported(nil, "COPY option %s is not supported", d.GetDefname())
		}
	}
	csv := f.Format == "csv"
	if csv {
		f.Delimiter, f.Null, f.Quote, f.Escape = ",", "", `"`, ""
	}
	if f.Format == "binary" && (delim != nil || null != nil || f.Header || quote != nil) {
		return nil, pgerr.New(pgerrcode.SyntaxError, "cannot specify DELIMITER, NULL, HEADER or QUOTE in BINARY mode")
	}
	if !csv && (quote != nil || escape != nil || forceAll || len(force) > 0) {
		return nil, unsupported(nil, "COPY QUOTE, ESCAPE and FORCE_QUOTE are available only in CSV mode")
	}
	if delim != nil {
		if len(*delim) != 1 {
			return nil, unsupported(nil, "COPY delimiter must be a single one-byte character")
		}
		f.Delimiter = *delim
	}
	if null != nil {
		f.Null = *null
	}
	if quote != nil {
		if len(*quote) != 1 {
			return nil, unsupported(nil, "COPY quote must be a single one-byte character")
		}
		f.Quote = *quote
	}
	if f.Escape = f.Quote; escape != nil {
		if len(*escape) != 1 {
			return nil, unsupported(nil, "COPY escape must be a single one-byte character")
		}
		f.Escape = *escape
	}
	return &copyNode{format: f, force: force, forceAll: forceAll}, nil
}

// copyNode wraps its query's plan: the query's rows, sent as COPY data.
type copyNode struct {
	format   pgwire.CopyFormat
	force    []string // FORCE_QUOTE columns
	forceAll bool
	inner    *plan
}

func (n *copyNode) explain(o explainOptions) []string {
	return append([]string{"COPY TO STDOUT (" + n.format.Format + ") of:"}, n.inner.indented(o)...)
}

func (n *copyNode) open(ctx context.Context, s *Session) (pgwire.Portal, error) {
	inner, err := n.inner.node.open(ctx, s)
	if err != nil {
		return nil, err
	}
	f := n.format
	cols := inner.Columns()
	if f.Format == "csv" {
		f.ForceQuote = make([]bool, len(cols))
		for i, c := range cols {
			f.ForceQuote[i] = n.forceAll
			for _, name := range n.force {
				if name == c.Name {
					f.ForceQuote[i] = true
				}
			}
		}
	}
	return &copyPortal{Portal: inner, format: f, cols: cols}, nil
}

// copyPortal sends its query's rows as COPY data.
type copyPortal struct {
	pgwire.Portal
	format pgwire.CopyFormat
	cols   []pgwire.Column
}

// Columns is nil: COPY answers Describe with NoData, as in Postgres.
func (p *copyPortal) Columns() []pgwire.Column                      { return nil }
func (p *copyPortal) CopyOut() (pgwire.CopyFormat, []pgwire.Column) { return p.format, p.cols }
func (p *copyPortal) Tag(n int64) string                            { return fmt.Sprintf("COPY %d", n) }
