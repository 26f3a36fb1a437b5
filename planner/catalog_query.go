package planner

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgtype"
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/catalog"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// catalogEntry is the catalog of one model version, per security context.
type catalogEntry struct {
	model *cubes.Model
	cats  sync.Map // security context (JSON) → *catalog.Catalog
}

// catalog returns the catalog the session sees: the current model's
// cubes and members its security context allows, built once per model
// version and context.
func (s *Session) catalog() *catalog.Catalog {
	h := s.h
	m := h.Model()
	e := h.cat.Load()
	if e == nil || e.model != m {
		e = &catalogEntry{model: m}
		h.cat.Store(e)
	}
	sec := s.security()
	key := sec.String()
	if c, ok := e.cats.Load(key); ok {
		return c.(*catalog.Catalog)
	}
	c, _ := e.cats.LoadOrStore(key, catalog.New(CatalogTables(m, catalogAllows(sec, m))))
	return c.(*catalog.Catalog)
}

// security is the session's security context (none: everything).
func (s *Session) security() auth.SecurityContext { return s.principal().Security }

// visibleCubes names the cubes and views the session may read.
func (s *Session) visibleCubes(m *cubes.Model) []string {
	var out []string
	for _, name := range publicCubes(m) {
		if s.security().AllowsCube(name) {
			out = append(out, name)
		}
	}
	return out
}

// CatalogTables shows each public cube and view as a table: its public
// measures, dimensions and segments in model order (each column's
// description says which it is, after the model's own), then Cube's virtual
// __user and __cubeJoinField columns.
func CatalogTables(m *cubes.Model, allows ...func(cube, member string) bool) []catalog.Table {
	allowed := func(cube, member string) bool { return len(allows) == 0 || allows[0](cube, member) }
	var out []catalog.Table
	for _, c := range m.Cubes {
		if !c.Public {
			continue
		}
		t := catalog.Table{Name: c.Name, Description: c.Description}
		for _, ms := range c.Measures {
			if ms.Public && allowed(c.Name, ms.Name) {
				t.Columns = append(t.Columns, catalog.TableColumn{Name: ms.Name, Type: measureOID(ms),
					NotNull: ms.Type == cubes.TypeCount, Description: describeMember(ms.Description, "measure, "+string(ms.Type))})
			}
		}
		for _, d := range c.Dimensions {
			if d.Public && allowed(c.Name, d.Name) {
				t.Columns = append(t.Columns, catalog.TableColumn{Name: d.Name, Type: dimensionOID(d), Description: describeMember(d.Description, "dimension, "+string(d.Type))})
			}
		}
		for _, sg := range c.Segments {
			if sg.Public && allowed(c.Name, sg.Name) {
				t.Columns = append(t.Columns, catalog.TableColumn{Name: sg.Name, Type: pgtype.BoolOID, NotNull: true, Description: describeMember(sg.Description, "segment")})
			}
		}
		if len(t.Columns) == 0 {
			continue // nothing of it may be read: not shown
		}
		t.PrimaryKey, t.ForeignKeys = keys(m, c, allowed)
		t.Columns = append(t.Columns,
			catalog.TableColumn{Name: "__user", Type: pgtype.TextOID, Description: "Virtual column for security context switching"},
			catalog.TableColumn{Name: "__cubeJoinField", Type: pgtype.TextOID, Description: "Virtual column for joining cubes"})
		out = append(out, t)
	}
	return out
}

// tableColumns marks the outputs that are a cube's column, unchanged, with
// the table's OID and the column's number, as PostgreSQL's RowDescription
// does (PgJDBC's getTableName, grids that edit in place).
func (s *Session) tableColumns(outs []output) {
	cat := s.catalog()
	for i, o := range outs {
		cr := o.node.GetColumnRef()
		if cr == nil || o.key == "" {
			continue
		}
		cube, member, ok := strings.Cut(o.key, ".")
		if !ok || strings.Contains(member, ".") {
			continue // a time dimension at a granularity
		}
		if rel, att, ok := cat.ColumnRef(cube, member); ok {
			outs[i].col.TableOID, outs[i].col.AttrNum = rel, att
		}
	}
}

// statementKind classifies a SELECT by the relations it reads.
type statementKind int

const (
	readsNothing statementKind = iota // no relation anywhere (constants, functions)
	readsCubes
	readsCatalog
)

// classify walks the whole statement (subqueries and CTEs included) for
// the relations it names: any catalog relation makes it a catalog query.
func classify(sel *pg_query.SelectStmt, m *cubes.Model, temps ...map[string]*catalog.TempTable) statementKind {
	kind := readsNothing
	ctes := map[string]bool{}
	var rvs []*pg_query.RangeVar
	fromFunc := false
	catalog.Walk(sel.ProtoReflect(), func(m proto.Message) bool {
		switch v := m.(type) {
		case *pg_query.RangeVar:
			rvs = append(rvs, v)
			return false
		case *pg_query.CommonTableExpr:
			ctes[v.GetCtename()] = true
		case *pg_query.RangeFunction:
			fromFunc = true
		}
		return true
	})
	if fromFunc {
		kind = readsCatalog
	}
	for _, rv := range rvs {
		schema, name := rv.GetSchemaname(), rv.GetRelname()
		switch {
		case schema == "pg_catalog" || schema == "information_schema" || schema == "cubegate":
			return readsCatalog
		case (schema == "" || schema == "pg_temp") && len(temps) > 0 && temps[0][name] != nil:
			return readsCatalog
		case schema == "" && ctes[name]:
			// A CTE reads what its query reads.
		case schema == "" && !isCube(m, name) && catalog.IsCatalogRelation(name):
			return readsCatalog
		default:
			if kind != readsCatalog {
				kind = readsCubes
			}
		}
	}
	return kind
}

// usesRegTypes reports whether a statement casts to an object identifier
// type (regclass, regtype, …): those are the catalog engine's to answer.
func usesRegTypes(sel *pg_query.SelectStmt) bool {
	found := false
	catalog.Walk(sel.ProtoReflect(), func(m proto.Message) bool {
		if tn, ok := m.(*pg_query.TypeName); ok {
			if names := tn.GetNames(); len(names) > 0 && strings.HasPrefix(names[len(names)-1].GetString_().GetSval(), "reg") {
				found = true
			}
			return false
		}
		return !found
	})
	return found
}

// planCatalog answers a SELECT over pg_catalog and information_schema.
func (s *Session) planCatalog(ctx context.Context, sel *pg_query.SelectStmt) (pgwire.Portal, error) {
	cat := s.catalog()
	if s.params.describing() {
		cols, err := cat.Describe(ctx, sel, s.catalogSession())
		if err != nil {
			return nil, err
		}
		return &staticPortal{tag: "SELECT", cols: wireColumns(cols)}, nil
	}
	// An audited statement like any other: refused while the audit log
	// cannot be written (audit.fail_closed).
	if err := s.h.opts.Queries.Refusal(); err != nil {
		return nil, err
	}
	started := time.Now()
	res, err := cat.Query(ctx, sel, s.catalogSession())
	st := s.statement(sel, "catalog", "catalog", "", nil)
	if err != nil {
		s.h.opts.Queries.Record(s.principal(), st, started, 0, err)
		return nil, err
	}
	s.h.opts.Queries.Record(s.principal(), st, started, int64(len(res.Rows)), nil)
	// The portal (a cursor's, a named one) holds the rows' memory in the
	// shared pool until it closes.
	return &staticPortal{tag: "SELECT", cols: wireColumns(res.Columns), rows: res.Rows, onClose: func(bool) { res.Release() }}, nil
}

func wireColumns(cols []catalog.ResultColumn) []pgwire.Column {
	out := make([]pgwire.Column, len(cols))
	for i, c := range cols {
		out[i] = pgwire.Column{Name: c.Name, TypeOID: c.Type, TypeSize: c.Size, TypeMod: c.Mod}
	}
	return out
}

// catalogSession is the session as the catalog sees it.
type catalogSession struct{ s *Session }

func (s *Session) catalogSession() catalogSession { return catalogSession{s} }

// Limits implements catalog.LimitedSession.
func (c catalogSession) Limits() catalog.Limits { return c.s.h.opts.Evaluator }

func (c catalogSession) User() string     { return c.s.info.User }
func (c catalogSession) Database() string { return c.s.info.Database }

// Databases implements catalog.DatabaseLister: the database the session
// connected to and, from a maintenance database (postgres, template1),
// the one its credential opens.
func (c catalogSession) Databases() []string {
	out := []string{c.s.info.Database}
	if p, ok := c.s.info.Principal.(auth.Principal); ok && p.Database != "" && p.Database != c.s.info.Database {
		out = append(out, p.Database)
	}
	return out
}
func (c catalogSession) Version() string   { return c.s.version() }
func (c catalogSession) BackendPID() int64 { return int64(c.s.info.ProcessID) }

func (c catalogSession) Setting(name string) (string, bool) {
	_, v, err := c.s.vars.show(name)
	return v, err == nil
}

func (c catalogSession) SetConfig(name, value string, local bool) error {
	return c.s.vars.set(name, value, local)
}

func (c catalogSession) ParamType(n int) uint32 {
	p := c.s.params
	if p == nil || n < 1 || n > len(p.oids) {
		if p != nil && p.values == nil {
			for len(p.oids) < n {
				p.oids = append(p.oids, 0)
			}
		}
		return 0
	}
	return p.oids[n-1]
}

func (c catalogSession) TempTable(name string) *catalog.TempTable { return c.s.tempTable(name) }

// AuditLog is the audit log the session may read, newest first: its own
// credential's events, or with scope audit:read its tenant's whole log.
// Nothing is left out silently: past the statement's row limit it is an
// error (54000), not a shorter log.
func (c catalogSession) AuditLog() ([][]any, error) {
	a := c.s.h.opts.Queries.Audit
	if a == nil {
		return nil, nil
	}
	p := c.s.principal()
	f := auth.AuditFilter{Tenant: p.Tenant()}
	if !p.Holds("audit:read") {
		if p.CredentialID == "" {
			return nil, nil // no credential: no event is its own
		}
		f.CredentialID = p.CredentialID
	}
	max := c.Limits().Rows
	if max <= 0 {
		max = catalog.DefaultLimits().Rows
	}
	f.Limit = int(max) + 1
	a.Sync()
	events, err := a.Read(context.Background(), f)
	if err != nil {
		return nil, err
	}
	if int64(len(events)) > max {
		return nil, pgerr.New(pgerrcode.ProgramLimitExceeded, "cubegate.audit_log holds more than %d rows this session may read", max).
			WithDetail("A statement materializes at most limits.statement_rows rows; the log is not cut short silently.").
			WithHint("read it over the admin API, page by page (/admin/v1/audit?limit=10000, then before_id=meta.next_before_id), or shorten audit.retention")
	}
	rows := make([][]any, len(events))
	for i, e := range events {
		rows[i] = []any{e.ID, e.Time.Format("2006-01-02 15:04:05.000Z07"), e.Kind, e.Action, e.Outcome, e.TenantID, e.CredentialID,
			e.APIKeyID, e.Username, e.Address, e.Object, e.Fingerprint, e.Statement, e.WarehouseSQL, e.Rows, e.DurationMS, e.Error,
			e.Code, e.Served}
	}
	return rows, nil
}

func (c catalogSession) InferParam(n int, oid uint32) { c.s.params.infer(n, oid) }

func (c catalogSession) Param(n int) (*string, uint32, error) {
	v, err := c.s.params.param(&pg_query.ParamRef{Number: int32(n)})
	if err != nil || v.isNull {
		return nil, v.oid, err
	}
	return &v.text, v.oid, nil
}

func isCube(m *cubes.Model, name string) bool {
	_, ok := m.Cube(name)
	return ok
}

// keys are a cube's primary key — its primary-key dimension, when shown
// — and its foreign keys: each join to a cube whose SQL is the equality
// of one of its shown dimensions and that cube's shown primary key (the
// model's relationships, as Power BI and DBeaver look for them). Views
// have none.
func keys(m *cubes.Model, c *cubes.Cube, allowed func(cube, member string) bool) ([]string, []catalog.ForeignKey) {
	shown := func(d *cubes.Dimension) bool { return d != nil && d.Public && allowed(d.Cube.Name, d.Name) }
	if c.IsView {
		return nil, nil
	}
	var pk []string
	if d := c.PrimaryKey(); shown(d) {
		pk = []string{d.Name}
	}
	var fks []catalog.ForeignKey
	for _, j := range c.Joins {
		to, ok := m.Cube(j.Name)
		if !ok || !to.Public || to.IsView || j.Relationship == "one_to_many" || j.Relationship == "has_many" {
			continue
		}
		ref := to.PrimaryKey()
		if !shown(ref) {
			continue
		}
		for _, d := range c.Dimensions {
			if shown(d) && m.JoinsOn(d, ref) {
				fks = append(fks, catalog.ForeignKey{Columns: []string{d.Name}, Table: to.Name, RefColumns: []string{ref.Name}})
				break
			}
		}
	}
	return pk, fks
}

// describeMember is a column's description: the member's own, then what
// it is ("measure, sum", "dimension, time", "segment"), so that \d+ and
// the tools' column comments tell measures from dimensions.
func describeMember(own, kind string) string {
	if own == "" {
		return "[" + kind + "]"
	}
	return own + " [" + kind + "]"
}
