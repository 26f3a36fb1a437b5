// Package catalog answers pg_catalog and information_schema queries as
// PostgreSQL 15 does, from the model: an evaluator over the parsed
// statement with Postgres types and NULL semantics, over the built-in
// objects of a real PostgreSQL 15 (pg15.catalog.gz) and tables made from
// the cubes and views.
package catalog

import (
	"context"
	"runtime"
	"strings"
	"sync"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// DatabaseLister is a session that can open several databases: the
// catalog's pg_database lists them (the session's own first).
type DatabaseLister interface {
	Databases() []string
}

// Table is a cube or view as the catalog shows it: a table of schema
// public.
type Table struct {
	Name        string
	Description string
	Columns     []TableColumn
	// PrimaryKey names the columns of its primary key (none: no key);
	// ForeignKeys reference other tables' primary keys.
	PrimaryKey  []string
	ForeignKeys []ForeignKey
}

// TableColumn is a member shown as a column.
type TableColumn struct {
	Name        string
	Type        uint32
	NotNull     bool
	Description string
}

// Session is what a catalog query reads of its session.
type Session interface {
	User() string
	// Database is the database the session connected to.
	Database() string
	Version() string
	BackendPID() int64
	// Setting is a setting's current value (current_setting, pg_settings).
	Setting(name string) (string, bool)
	// SetConfig changes a setting (set_config).
	SetConfig(name, value string, local bool) error
	// ParamType is the type of parameter $n (0 when not known yet); Param
	// its value in text form (nil for NULL) once bound.
	ParamType(n int) uint32
	Param(n int) (*string, uint32, error)
	// InferParam gives an untyped parameter the type its use implies.
	InferParam(n int, oid uint32)
	// TempTable is the session's temporary table of that name, or nil.
	TempTable(name string) *TempTable
	// AuditLog is the rows of cubegate.audit_log the session may read.
	AuditLog() ([][]any, error)
}

// Catalog is the catalog of one model.
type Catalog struct {
	tables  []Table
	rels    map[string]*relation // "schema.name"
	dynamic map[string]func(x *executor) [][]any
	// classes: oid → schema and name, for regclass; byName: visible name
	// (and schema.name) → oid.
	classes     map[uint32][2]string
	classOIDs   map[string]uint32
	modelTypes  map[uint32]string
	modelTypeID map[string]uint32
	descs       map[descKey]string
	defs        keyDefs         // the model's key objects' definitions, by OID
	indexes     map[uint32]bool // the model's indexes (classes, but no table)
	keys        []keyConstraint // the model's keys, in OID order
}

type descKey struct {
	obj, class uint32
	sub        int64
}

// Relation OIDs of the catalogs descriptions point at.
const (
	pgClassOID     = 1259
	pgTypeOID      = 1247
	pgProcOID      = 1255
	pgNamespaceOID = 2615
	firstModelOID  = 16400
	ownerOID       = 10
)

// New builds the catalog of a model's tables.
func New(tables []Table) *Catalog {
	sn := snapshot()
	// A primary key's columns are NOT NULL, as PostgreSQL makes them.
	for i, t := range tables {
		if len(t.PrimaryKey) == 0 {
			continue
		}
		cols := append([]TableColumn(nil), t.Columns...)
		for j := range cols {
			for _, k := range t.PrimaryKey {
				if cols[j].Name == k {
					cols[j].NotNull = true
				}
			}
		}
		tables[i].Columns = cols
	}
	c := &Catalog{tables: tables, rels: map[string]*relation{}, dynamic: map[string]func(*executor) [][]any{},
		classes: map[uint32][2]string{}, classOIDs: map[string]uint32{}, modelTypes: map[uint32]string{},
		modelTypeID: map[string]uint32{}, descs: map[descKey]string{}, indexes: map[uint32]bool{}}
	for k, r := range sn.rels {
		cp := *r
		c.rels[k] = &cp
	}
	// System relations, then the model's.
	pc := c.rels["pg_catalog.pg_class"]
	pcx := colIndex(pc)
	for _, r := range pc.rows {
		oid, name, nsp := asOID(r[pcx["oid"]]), r[pcx["relname"]].(string), asOID(r[pcx["relnamespace"]])
		schema := sn.nspName[nsp]
		c.classes[oid] = [2]string{schema, name}
		c.classOIDs[schema+"."+name] = oid
		if schema == "pg_catalog" {
			c.classOIDs[name] = oid
		}
	}
	pd := c.rels["pg_catalog.pg_description"]
	for _, r := range pd.rows {
		c.descs[descKey{asOID(r[0]), asOID(r[1]), r[2].(int64)}] = r[3].(string)
	}
	c.addModel()
	c.addKeys()
	c.addDynamic()
	return c
}

func (c *Catalog) addModel() {
	sn := snapshot()
	pc, pa, pt, pd := c.rels["pg_catalog.pg_class"], c.rels["pg_catalog.pg_attribute"], c.rels["pg_catalog.pg_type"], c.rels["pg_catalog.pg_description"]
	pc.rows = append([][]any{}, pc.rows...)
	pa.rows = append([][]any{}, pa.rows...)
	pt.rows = append([][]any{}, pt.rows...)
	pd.rows = append([][]any{}, pd.rows...)
	// A composite type and its array to copy for each table's row type.
	rowType, rowArray := sn.types[83].row, sn.types[210].row // pg_class and _pg_class
	tx := colIndex(pt)
	for i, t := range c.tables {
		oid := uint32(firstModelOID + 3*i)
		c.classes[oid] = [2]string{"public", t.Name}
		c.classOIDs["public."+t.Name] = oid
		if _, sys := c.classOIDs[t.Name]; !sys {
			c.classOIDs[t.Name] = oid
		}
		c.modelTypes[oid+1], c.modelTypeID[t.Name] = t.Name, oid+1
		c.modelTypes[oid+2], c.modelTypeID["_"+t.Name] = t.Name+"[]", oid+2
		pc.rows = append(pc.rows, rowOf(pc, map[string]any{
			"oid": int64(oid), "relname": t.Name, "relnamespace": int64(publicNamespace), "reltype": int64(oid + 1),
			"relowner": int64(ownerOID), "relam": int64(2), "relfilenode": int64(oid), "reltuples": float64(-1),
			"relpersistence": "p", "relkind": "r", "relnatts": int64(len(t.Columns)), "relispopulated": true,
			"relhasindex":  len(t.PrimaryKey) > 0,
			"relreplident": "d", "relfrozenxid": int64(716), "relminmxid": int64(1),
		}))
		typ := append([]any{}, rowType...)
		typ[tx["oid"]], typ[tx["typname"]], typ[tx["typnamespace"]] = int64(oid+1), t.Name, int64(publicNamespace)
		typ[tx["typrelid"]], typ[tx["typarray"]], typ[tx["typowner"]] = int64(oid), int64(oid+2), int64(ownerOID)
		arr := append([]any{}, rowArray...)
		arr[tx["oid"]], arr[tx["typname"]], arr[tx["typnamespace"]] = int64(oid+2), "_"+t.Name, int64(publicNamespace)
		arr[tx["typelem"]], arr[tx["typowner"]] = int64(oid+1), int64(ownerOID)
		pt.rows = append(pt.rows, typ, arr)
		if t.Description != "" {
			pd.rows = append(pd.rows, []any{int64(oid), int64(pgClassOID), int64(0), t.Description})
			c.descs[descKey{oid, pgClassOID, 0}] = t.Description
		}
		for _, sys := range systemColumns {
			pa.rows = append(pa.rows, attRow(pa, oid, sys.name, sys.typ, sys.num, true))
		}
		for j, col := range t.Columns {
			pa.rows = append(pa.rows, attRow(pa, oid, col.Name, col.Type, int64(j+1), col.NotNull))
			if col.Description != "" {
				pd.rows = append(pd.rows, []any{int64(oid), int64(pgClassOID), int64(j + 1), col.Description})
				c.descs[descKey{oid, pgClassOID, int64(j + 1)}] = col.Description
			}
		}
	}
}

var systemColumns = []struct {
	name string
	typ  uint32
	num  int64
}{{"tableoid", tOID, -6}, {"cmax", 29, -5}, {"xmax", tXID, -4}, {"cmin", 29, -3}, {"xmin", tXID, -2}, {"ctid", tTID, -1}}

func attRow(pa *relation, rel uint32, name string, typ uint32, num int64, notNull bool) []any {
	ti := snapshot().types[typ]
	tr := colIndex(snapshot().rels["pg_catalog.pg_type"])
	vals := map[string]any{
		"attrelid": int64(rel), "attname": name, "atttypid": int64(typ), "attstattarget": int64(-1),
		"attnum": num, "attcacheoff": int64(-1), "atttypmod": int64(-1), "attnotnull": notNull,
		"attislocal": true, "attcompression": "", "attidentity": "", "attgenerated": "",
	}
	if num < 0 {
		vals["attstattarget"] = int64(0)
	}
	if ti != nil {
		vals["attlen"] = ti.len
		vals["attbyval"] = ti.row[tr["typbyval"]]
		vals["attalign"] = ti.row[tr["typalign"]]
		vals["attstorage"] = ti.row[tr["typstorage"]]
		vals["attcollation"] = ti.row[tr["typcollation"]]
	}
	return rowOf(pa, vals)
}

// rowOf makes a row of rel from named values; the rest are zero values
// for numbers and booleans, NULL otherwise.
func rowOf(rel *relation, vals map[string]any) []any {
	row := make([]any, len(rel.cols))
	for i, c := range rel.cols {
		if v, ok := vals[c.Name]; ok {
			row[i] = v
			continue
		}
		switch {
		case c.Type == tBool:
			row[i] = false
		case isInt(c.Type) || isFloat(c.Type):
			row[i] = int64(0)
			if isFloat(c.Type) {
				row[i] = float64(0)
			}
		case c.Type == tChar:
			row[i] = ""
		}
	}
	return row
}

// lookupRelation resolves a FROM relation as the search path
// (pg_catalog, public) does.
func (c *Catalog) lookupRelation(x *executor, rv *pg_query.RangeVar) (*relation, error) {
	schema, name := rv.GetSchemaname(), rv.GetRelname()
	if db := rv.GetCatalogname(); db != "" && db != x.s.Database() {
		return nil, pgerr.New(pgerrcode.FeatureNotSupported, "cross-database references are not implemented: %q", db+"."+schema+"."+name)
	}
	if schema == "" || schema == "pg_temp" || schema == tempNamespace {
		// pg_temp comes first on the search path.
		if t := x.s.TempTable(name); t != nil {
			return t.relation(), nil
		}
	}
	if schema == "cubegate" && name == "audit_log" {
		rows, err := x.s.AuditLog()
		if err != nil {
			return nil, err
		}
		return &relation{schema: "cubegate", name: "audit_log", kind: 'v', cols: AuditColumns, rows: rows}, nil
	}
	switch schema {
	case "":
		if r, ok := c.rels["pg_catalog."+name]; ok {
			return r, nil
		}
		if c.isModelTable(name) {
			return nil, modelTableErr(name)
		}
	case "pg_catalog", "information_schema":
		if r, ok := c.rels[schema+"."+name]; ok && r.kind != 'f' {
			return r, nil
		}
	case "public":
		if c.isModelTable(name) {
			return nil, modelTableErr(name)
		}
	}
	full := name
	if schema != "" {
		full = schema + "." + name
	}
	return nil, pgerr.New(pgerrcode.UndefinedTable, "relation %q does not exist", full)
}

func (c *Catalog) isModelTable(name string) bool {
	for _, t := range c.tables {
		if t.Name == name {
			return true
		}
	}
	return false
}

func modelTableErr(name string) *pgerr.Error {
	return pgerr.New(pgerrcode.FeatureNotSupported, "cube %q cannot be queried together with catalog relations", name).
		WithHint("query the cube and the catalog in separate statements")
}

// rowsOf returns a relation's rows, computing session-dependent ones.
func (c *Catalog) rowsOf(x *executor, r *relation) ([][]any, error) {
	if f, ok := c.dynamic[r.schema+"."+r.name]; ok {
		return f(x), nil
	}
	return r.rows, nil
}

func (c *Catalog) className(oid uint32) (string, bool) {
	n, ok := c.classes[oid]
	if !ok {
		return "", false
	}
	if n[0] == "pg_catalog" || n[0] == "public" {
		return quoteIdent(n[1]), true
	}
	return quoteIdent(n[0]) + "." + quoteIdent(n[1]), true
}

// classByName is regclass input: a possibly qualified, possibly quoted
// name.
func (c *Catalog) classByName(s string) (uint32, bool) {
	parts := splitQualified(s)
	switch len(parts) {
	case 1:
		oid, ok := c.classOIDs[parts[0]]
		return oid, ok
	case 2:
		oid, ok := c.classOIDs[parts[0]+"."+parts[1]]
		return oid, ok
	}
	return 0, false
}

// splitQualified splits a.b / "A"."b" into names, folding unquoted ones.
func splitQualified(s string) []string {
	var out []string
	var b strings.Builder
	quoted, wasQuoted := false, false
	flush := func() {
		v := b.String()
		if !wasQuoted {
			v = strings.ToLower(strings.TrimSpace(v))
		}
		out = append(out, v)
		b.Reset()
		wasQuoted = false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '"' && quoted && i+1 < len(s) && s[i+1] == '"':
			b.WriteByte('"')
			i++
		case ch == '"':
			quoted = !quoted
			wasQuoted = true
		case ch == '.' && !quoted:
			flush()
		default:
			b.WriteByte(ch)
		}
	}
	flush()
	return out
}

func (c *Catalog) classVisible(v any) bool {
	oid, _ := toInt(v)
	n, ok := c.classes[uint32(oid)]
	if !ok {
		return false
	}
	switch n[0] {
	case "pg_catalog":
		return true
	case "public":
		return c.classOIDs[n[1]] == uint32(oid)
	}
	return false
}

func (c *Catalog) modelType(oid uint32) string { return c.modelTypes[oid] }

func (c *Catalog) modelTypeByName(name string) (uint32, bool) {
	oid, ok := c.modelTypeID[name]
	return oid, ok
}

func (c *Catalog) description(obj any, class string, sub int64) any {
	oid, _ := toInt(obj)
	classOID := map[string]uint32{"pg_class": pgClassOID, "pg_type": pgTypeOID, "pg_proc": pgProcOID, "pg_namespace": pgNamespaceOID}[class]
	d, ok := c.descs[descKey{uint32(oid), classOID, sub}]
	if !ok {
		return nil
	}
	return d
}

func (c *Catalog) roleName(x *executor, v any) any {
	oid, _ := toInt(v)
	switch oid {
	case ownerOID:
		return x.s.User()
	case 6171:
		return "pg_database_owner"
	}
	return "unknown (OID=" + toText(oid) + ")"
}

func (c *Catalog) roleOID(x *executor, name string) (uint32, bool) {
	switch name {
	case x.s.User():
		return ownerOID, true
	case "pg_database_owner":
		return 6171, true
	}
	return 0, false
}

func (c *Catalog) indexDef(a []any) (any, error) {
	pretty := len(a) > 2 && a[2] == true
	if oid, _ := toInt(a[0]); c.defs[uint32(oid)] != "" {
		if len(a) > 1 {
			if n, _ := toInt(a[1]); n != 0 {
				return c.keyColumn(uint32(oid), n), nil
			}
		}
		return c.defs[uint32(oid)], nil
	}
	if len(a) > 1 {
		if n, _ := toInt(a[1]); n != 0 {
			return nil, nil // one column of the index: not kept
		}
	}
	return definition("pg_catalog.pg_get_indexdef", a[0], pretty), nil
}

func (c *Catalog) constraintDef(a []any) (any, error) {
	if oid, _ := toInt(a[0]); c.defs[uint32(oid)] != "" {
		return c.defs[uint32(oid)], nil
	}
	return definition("pg_catalog.pg_get_constraintdef", a[0], len(a) > 1 && a[1] == true), nil
}

// definition looks up a built-in object's definition in the snapshot.
func definition(rel string, oid any, pretty bool) any {
	n, _ := toInt(oid)
	for _, r := range snapshot().rels[rel].rows {
		if r[0] == n {
			if pretty {
				return r[2]
			}
			return r[1]
		}
	}
	return nil
}

func (c *Catalog) procRow(v any) ([]any, map[string]int) {
	oid, _ := toInt(v)
	pp := snapshot().rels["pg_catalog.pg_proc"]
	ix := colIndex(pp)
	for _, r := range pp.rows {
		if r[ix["oid"]] == oid {
			return r, ix
		}
	}
	return nil, nil
}

func (c *Catalog) procResult(x *executor, v any) any {
	r, ix := c.procRow(v)
	if r == nil {
		return nil
	}
	t := asOID(r[ix["prorettype"]])
	s := x.formatType(t, -1)
	if r[ix["proretset"]] == true {
		s = "SETOF " + s
	}
	return s
}

func (c *Catalog) procArgs(x *executor, v any) any {
	r, ix := c.procRow(v)
	if r == nil {
		return nil
	}
	args, _ := r[ix["proargtypes"]].([]any)
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = x.formatType(asOID(a), -1)
	}
	return strings.Join(parts, ", ")
}

// Result is a catalog query's answer, its values ready for the wire.
// It holds its share of the evaluator's shared pool until Release (or,
// failing that, until it is garbage): a cursor or a named portal keeping
// it keeps that memory accounted for.
type Result struct {
	Columns []ResultColumn
	Rows    [][]any
	release func()
}

// Release gives the result's memory back to the shared pool; the rows
// must not be used after.
func (r *Result) Release() {
	if r != nil && r.release != nil {
		r.release()
	}
}

// hold makes the result own the statement's pool reservation.
func (r *Result) hold(b *budget) {
	var once sync.Once
	release := func() { once.Do(b.done) }
	r.release = release
	runtime.AddCleanup(r, func(f func()) { f() }, release)
}

// ResultColumn describes a result column.
type ResultColumn struct {
	Name string
	Type uint32
	Size int16
	Mod  int32
}

// Query runs a SELECT over the catalog.
func (c *Catalog) Query(ctx context.Context, sel *pg_query.SelectStmt, s Session) (*Result, error) {
	x := newExecutor(ctx, c, s, sel)
	q, err := x.compileSelect(sel, nil)
	if err != nil {
		x.b.done()
		return nil, err
	}
	rows, err := q.run(nil)
	if err != nil {
		x.b.done()
		return nil, err
	}
	res := &Result{Columns: x.columns(q), Rows: rows}
	res.hold(x.b)
	for _, r := range rows {
		for i, v := range r {
			r[i] = x.wire(v, q.cols[i].typ)
		}
	}
	return res, nil
}

// Describe compiles a SELECT and returns its columns without running it.
func (c *Catalog) Describe(ctx context.Context, sel *pg_query.SelectStmt, s Session) ([]ResultColumn, error) {
	x := newExecutor(ctx, c, s, sel)
	defer x.b.done()
	q, err := x.compileSelect(sel, nil)
	if err != nil {
		return nil, err
	}
	return x.columns(q), nil
}

func (x *executor) columns(q *query) []ResultColumn {
	out := make([]ResultColumn, len(q.cols))
	for i, c := range q.cols {
		t := resolved(c.typ)
		size := int16(-1)
		if ti := snapshot().types[t]; ti != nil {
			size = int16(ti.len)
		}
		out[i] = ResultColumn{Name: c.name, Type: t, Size: size, Mod: c.mod}
		if out[i].Mod == 0 {
			out[i].Mod = -1
		}
	}
	return out
}

// wire converts an evaluator value to what the wire encoder takes.
func (x *executor) wire(v any, t uint32) any {
	switch v := v.(type) {
	case nil, bool, string:
		return v
	case int64:
		if isReg(t) {
			return x.regName(v, t)
		}
		return v
	case float64:
		if t == tNumeric {
			return formatFloat(v, t)
		}
		return v
	}
	return x.text(v, t)
}

// ColumnRef is the OID of a cube's table and the number of its column.
func (c *Catalog) ColumnRef(table, column string) (uint32, uint16, bool) {
	for i, t := range c.tables {
		if t.Name != table {
			continue
		}
		for j, col := range t.Columns {
			if col.Name == column {
				return uint32(firstModelOID + 3*i), uint16(j + 1), true
			}
		}
	}
	return 0, 0, false
}

// AuditColumns are cubegate.audit_log's columns.
var AuditColumns = []Column{
	{"id", tInt8, -1}, {"time", tText, -1}, {"kind", tText, -1}, {"action", tText, -1}, {"outcome", tText, -1},
	{"tenant_id", tText, -1}, {"credential_id", tText, -1}, {"api_key_id", tText, -1}, {"username", tText, -1},
	{"address", tText, -1}, {"object", tText, -1}, {"fingerprint", tText, -1}, {"statement", tText, -1},
	{"warehouse_sql", tText, -1}, {"rows", tInt8, -1}, {"duration_ms", tFloat8, -1}, {"error", tText, -1},
	{"code", tText, -1}, {"served", tText, -1},
}

// IsCatalogRelation reports whether an unqualified name is a relation of
// pg_catalog (which the search path finds first).
func IsCatalogRelation(name string) bool {
	r, ok := snapshot().rels["pg_catalog."+name]
	return ok && r.kind != 'f'
}
