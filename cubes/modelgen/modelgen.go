// Package modelgen writes a starter Cube YAML model from table
// descriptions, as Cube's playground scaffolds one: a file and a cube per
// table, a dimension per column typed string, number, time or boolean by
// the column's declared type, the declared primary key, a count measure,
// sum and avg measures over numeric columns that are not keys, and a
// many_to_one join per declared foreign key.
//
// It is pure: tables in (read by warehouse/introspect, or written by
// hand in a test), files out. It writes nothing to disk and opens no
// connection.
package modelgen

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode"

	"github.com/cubegate/cubegate/cubes"
)

// Table describes one warehouse table (or view).
type Table struct {
	Schema, Name string
	Columns      []Column
	// PrimaryKey is the declared primary key's columns, in key order.
	PrimaryKey  []string
	ForeignKeys []ForeignKey
}

// Column is a column and its type as the warehouse declares it
// ("numeric(12,2)", "Nullable(DateTime64(3))", "int(10) unsigned").
type Column struct {
	Name, Type string
}

// ForeignKey is a declared foreign key: Columns of the table reference
// RefColumns of RefSchema.RefTable, pairwise.
type ForeignKey struct {
	Columns             []string
	RefSchema, RefTable string
	RefColumns          []string
}

// Options say how to write the model.
type Options struct {
	// Dialect is the warehouse's SQL dialect (cubes.DialectByName): it
	// quotes identifiers and spells casts and concatenation.
	Dialect string
	// Source says where the tables were read, for the files' header; it
	// must hold no password (warehouse.Redact, or less).
	Source string
}

// File is one generated model file.
type File struct {
	// Path is relative to the model folder: cubes/<cube>.yml.
	Path string
	// Cube is the cube's name, Table the table's schema.table.
	Cube, Table string
	// Dimensions, Measures and Joins count what the cube got.
	Dimensions, Measures, Joins int
	Data                        []byte
}

// Kind is what a column's declared type makes of its dimension.
type Kind int

const (
	// Other is a type with no Cube counterpart (json, uuid, interval,
	// arrays, bytes, time of day …): a string dimension over the value
	// cast to text.
	Other Kind = iota
	String
	Number
	Time
	Boolean
)

func (k Kind) String() string {
	return [...]string{"other", "string", "number", "time", "boolean"}[k]
}

// cubeType is the Cube dimension type of a kind.
func (k Kind) cubeType() string {
	switch k {
	case Number:
		return "number"
	case Time:
		return "time"
	case Boolean:
		return "boolean"
	}
	return "string"
}

var (
	typeWrapper = regexp.MustCompile(`^(nullable|lowcardinality)\((.*)\)$`)
	typeArgs    = regexp.MustCompile(`\(.*\)`)
	spaces      = regexp.MustCompile(`\s+`)
)

var kinds = map[string]Kind{
	// Numbers: PostgreSQL, DuckDB, MySQL/MariaDB, ClickHouse spellings.
	"smallint": Number, "integer": Number, "int": Number, "bigint": Number, "tinyint": Number, "mediumint": Number,
	"int2": Number, "int4": Number, "int8": Number, "int16": Number, "int32": Number, "int64": Number, "int128": Number, "int256": Number,
	"uint8": Number, "uint16": Number, "uint32": Number, "uint64": Number, "uint128": Number, "uint256": Number,
	"hugeint": Number, "uhugeint": Number, "utinyint": Number, "usmallint": Number, "uinteger": Number, "ubigint": Number,
	"decimal": Number, "numeric": Number, "dec": Number, "fixed": Number,
	"decimal32": Number, "decimal64": Number, "decimal128": Number, "decimal256": Number,
	"real": Number, "float": Number, "float4": Number, "float8": Number, "float32": Number, "float64": Number,
	"double": Number, "double precision": Number, "serial": Number, "bigserial": Number, "smallserial": Number, "year": Number,
	// Times (a date is a time dimension, as in Cube; a time of day is not).
	"date": Time, "date32": Time, "datetime": Time, "datetime64": Time, "timestamp": Time, "timestamptz": Time,
	"timestamp without time zone": Time, "timestamp with time zone": Time,
	"timestamp_s": Time, "timestamp_ms": Time, "timestamp_ns": Time, "timestamp_us": Time,
	// Booleans.
	"boolean": Boolean, "bool": Boolean,
	// Text.
	"text": String, "varchar": String, "character varying": String, "char": String, "character": String,
	"bpchar": String, "string": String, "fixedstring": String, "name": String, "citext": String,
	"tinytext": String, "mediumtext": String, "longtext": String, "nvarchar": String, "nchar": String,
	"enum": String, "set": String,
}

// TypeOf classifies a declared column type, as any of the engines spells
// it, by its base name: nullable(…) and lowcardinality(…) wrappers,
// arguments, unsigned and zerofill do not count. MySQL's tinyint(1) is
// its boolean.
func TypeOf(declared string) Kind {
	t := strings.ToLower(strings.TrimSpace(spaces.ReplaceAllString(declared, " ")))
	for {
		m := typeWrapper.FindStringSubmatch(t)
		if m == nil {
			break
		}
		t = strings.TrimSpace(m[2])
	}
	if t == "tinyint(1)" || strings.HasPrefix(t, "tinyint(1) ") {
		return Boolean
	}
	if strings.HasSuffix(t, "[]") || strings.HasPrefix(t, "array(") {
		return Other
	}
	t = typeArgs.ReplaceAllString(t, "")
	t = strings.TrimSpace(strings.NewReplacer(" unsigned", "", " signed", "", " zerofill", "").Replace(t))
	return kinds[t]
}

// Generate writes a file per table; tables keep their order. Names are
// made valid Cube identifiers (snake_case) and unique.
func Generate(tables []Table, o Options) ([]File, error) {
	d, ok := cubes.DialectByName(o.Dialect)
	if !ok {
		return nil, fmt.Errorf("modelgen: unknown dialect %q", o.Dialect)
	}
	g := &generator{d: d, o: o, cubeOf: map[string]string{}}
	// Cube names: the table's, with its schema when tables of several
	// schemas would share it.
	count := map[string]int{}
	for _, t := range tables {
		count[Ident(t.Name, "table")]++
	}
	names := newNamer()
	for _, t := range tables {
		base := Ident(t.Name, "table")
		if count[base] > 1 {
			base = Ident(t.Schema+"_"+t.Name, "table")
		}
		key := tableKey(t.Schema, t.Name)
		if _, dup := g.cubeOf[key]; dup {
			return nil, fmt.Errorf("modelgen: table %s given twice", key)
		}
		g.cubeOf[key] = names.unique(base)
	}
	files := make([]File, 0, len(tables))
	for _, t := range tables {
		f, err := g.cube(t)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

func tableKey(schema, name string) string { return schema + "." + name }

type generator struct {
	d      cubes.Dialect
	o      Options
	cubeOf map[string]string // schema.table → cube name
}

type dimension struct {
	name, sql, typ string
	primaryKey     bool
	synthetic      bool // a composite key's concatenation: not a column
}

type measure struct {
	name, sql, typ string
}

func (g *generator) cube(t Table) (File, error) {
	name := g.cubeOf[tableKey(t.Schema, t.Name)]
	if len(t.Columns) == 0 {
		return File{}, fmt.Errorf("modelgen: table %s has no columns", tableKey(t.Schema, t.Name))
	}
	members := newNamer()
	members.take("count") // the count measure's: COUNT(*) in the SQL API
	var notes []string

	cols := map[string]Column{}
	for _, c := range t.Columns {
		cols[c.Name] = c
	}
	for _, k := range t.PrimaryKey {
		if _, ok := cols[k]; !ok {
			return File{}, fmt.Errorf("modelgen: %s: primary key column %q is not a column", tableKey(t.Schema, t.Name), k)
		}
	}
	keyCols := map[string]bool{}
	for _, k := range t.PrimaryKey {
		keyCols[k] = true
	}
	for _, fk := range t.ForeignKeys {
		for _, c := range fk.Columns {
			keyCols[c] = true
		}
	}

	var dims []dimension
	var sums []Column
	for _, c := range t.Columns {
		kind := TypeOf(c.Type)
		dn := members.unique(Ident(c.Name, "column"))
		sql := g.ref(c.Name)
		if kind == Other {
			sql = g.text(sql)
		}
		dims = append(dims, dimension{name: dn, sql: sql, typ: kind.cubeType(),
			primaryKey: len(t.PrimaryKey) == 1 && t.PrimaryKey[0] == c.Name})
		if kind == Number && !keyCols[c.Name] && !idLike(c.Name) {
			sums = append(sums, c)
		}
	}
	if len(t.PrimaryKey) > 1 {
		// Cube has one primary-key dimension per cube; a composite key is
		// its columns concatenated (Cube's documented way).
		parts := make([]string, 0, 2*len(t.PrimaryKey)-1)
		for i, k := range t.PrimaryKey {
			if i > 0 {
				parts = append(parts, "'|'")
			}
			parts = append(parts, g.text(g.ref(k)))
		}
		dn := members.unique("composite_key")
		dims = append(dims, dimension{name: dn, sql: g.d.Concat(parts...), typ: "string", primaryKey: true, synthetic: true})
		notes = append(notes, fmt.Sprintf("The primary key is composite (%s): dimension %s concatenates it,\n"+
			"as Cube does for a composite key.", strings.Join(t.PrimaryKey, ", "), dn))
	} else if len(t.PrimaryKey) == 0 {
		notes = append(notes, "No primary key is declared: add primary_key: true to a unique dimension\n"+
			"before joining this cube to another.")
	}

	ms := []measure{{name: "count", typ: "count"}}
	for _, c := range sums {
		base := Ident(c.Name, "column")
		ms = append(ms, measure{name: members.unique("total_" + base), sql: g.ref(c.Name), typ: "sum"})
		ms = append(ms, measure{name: members.unique("avg_" + base), sql: g.ref(c.Name), typ: "avg"})
	}

	type join struct{ name, sql string }
	var joins []join
	joined := map[string]bool{}
	for _, fk := range t.ForeignKeys {
		if len(fk.Columns) == 0 || len(fk.Columns) != len(fk.RefColumns) {
			return File{}, fmt.Errorf("modelgen: %s: a foreign key's columns (%s) and referenced columns (%s) do not pair",
				tableKey(t.Schema, t.Name), strings.Join(fk.Columns, ", "), strings.Join(fk.RefColumns, ", "))
		}
		ref := tableKey(fk.RefSchema, fk.RefTable)
		other, ok := g.cubeOf[ref]
		what := fmt.Sprintf("(%s) references %s (%s)", strings.Join(fk.Columns, ", "), ref, strings.Join(fk.RefColumns, ", "))
		switch {
		case !ok:
			notes = append(notes, "Foreign key "+what+": no join, that table is not generated.")
			continue
		case other == name:
			notes = append(notes, "Foreign key "+what+": no join, a cube does not join itself.")
			continue
		case joined[other]:
			notes = append(notes, "Foreign key "+what+": no join, a cube joins "+other+" once (the first key).")
			continue
		}
		joined[other] = true
		conds := make([]string, len(fk.Columns))
		for i := range fk.Columns {
			conds[i] = "{CUBE}." + g.quote(fk.Columns[i]) + " = {" + other + "}." + g.quote(fk.RefColumns[i])
		}
		joins = append(joins, join{name: other, sql: strings.Join(conds, " AND ")})
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# Generated by `cubegate model generate` from %s,\n", oneLine(g.o.Source))
	fmt.Fprintf(&b, "# table %s. A starting point: edit it freely (the command will not\n", oneLine(tableKey(t.Schema, t.Name)))
	b.WriteString("# overwrite it without --force).\n")
	for _, n := range notes {
		b.WriteString("#\n")
		for _, line := range strings.Split(n, "\n") {
			b.WriteString("# " + line + "\n")
		}
	}
	b.WriteString("cubes:\n")
	fmt.Fprintf(&b, "  - name: %s\n", name)
	fmt.Fprintf(&b, "    sql_table: %s\n", yamlString(g.quote(t.Schema)+"."+g.quote(t.Name)))
	if len(joins) > 0 {
		b.WriteString("\n    joins:\n")
		for _, j := range joins {
			fmt.Fprintf(&b, "      - name: %s\n        sql: %s\n        relationship: many_to_one\n", j.name, yamlString(j.sql))
		}
	}
	b.WriteString("\n    dimensions:\n")
	for i, dm := range dims {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "      - name: %s\n        sql: %s\n        type: %s\n", dm.name, yamlString(dm.sql), dm.typ)
		if dm.primaryKey {
			b.WriteString("        primary_key: true\n")
			if !dm.synthetic {
				// Shown (Cube hides a key by default): SQL clients
				// select and filter by it, and catalog readers see it as
				// a PRIMARY KEY, and the joins onto it as FOREIGN KEYs.
				b.WriteString("        public: true\n")
			}
		}
	}
	b.WriteString("\n    measures:\n")
	for i, m := range ms {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "      - name: %s\n", m.name)
		if m.sql != "" {
			fmt.Fprintf(&b, "        sql: %s\n", yamlString(m.sql))
		}
		fmt.Fprintf(&b, "        type: %s\n", m.typ)
	}
	return File{
		Path: path.Join("cubes", name+".yml"), Cube: name, Table: tableKey(t.Schema, t.Name),
		Dimensions: len(dims), Measures: len(ms), Joins: len(joins), Data: []byte(b.String()),
	}, nil
}

// ref is a column of the cube's table.
func (g *generator) ref(col string) string { return "{CUBE}." + g.quote(col) }

// text casts expr to the warehouse's text type.
func (g *generator) text(expr string) string {
	typ, _ := g.d.CastType("TEXT", nil)
	return "CAST(" + expr + " AS " + typ + ")"
}

// plainIdent is an identifier every engine reads unquoted as itself.
var plainIdent = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// reserved are words that cannot stand unquoted as a schema or a table
// name in some engine (the usual SQL reserved words; a column is always
// qualified, where any word is a name).
var reserved = map[string]bool{
	"all": true, "and": true, "any": true, "array": true, "as": true, "asc": true, "between": true, "by": true,
	"case": true, "cast": true, "check": true, "collate": true, "column": true, "constraint": true, "create": true,
	"cross": true, "current_date": true, "current_time": true, "current_timestamp": true, "current_user": true,
	"default": true, "delete": true, "desc": true, "distinct": true, "do": true, "else": true, "end": true,
	"except": true, "exists": true, "false": true, "fetch": true, "for": true, "foreign": true, "from": true,
	"full": true, "grant": true, "group": true, "having": true, "in": true, "index": true, "inner": true,
	"insert": true, "intersect": true, "interval": true, "into": true, "is": true, "join": true, "key": true,
	"left": true, "like": true, "limit": true, "natural": true, "not": true, "null": true, "offset": true,
	"on": true, "only": true, "or": true, "order": true, "outer": true, "primary": true, "references": true,
	"right": true, "select": true, "session_user": true, "table": true, "then": true, "to": true, "true": true,
	"union": true, "unique": true, "update": true, "user": true, "using": true, "values": true, "when": true,
	"where": true, "window": true, "with": true,
}

// quote quotes an identifier when an engine would not read it unquoted
// as written (upper case, spaces, a reserved word).
func (g *generator) quote(s string) string {
	if plainIdent.MatchString(s) && !reserved[s] {
		return s
	}
	return g.d.QuoteIdent(s)
}

// idLike tells a column named as a key (id, customer_id, customerId):
// summing it means nothing.
func idLike(col string) bool {
	n := Ident(col, "column")
	return n == "id" || strings.HasSuffix(n, "_id") || strings.HasSuffix(n, "_key") || n == "key"
}

// Ident makes s a Cube identifier in snake_case: camelCase split at its
// humps, lower case, every run of other characters an underscore, no
// underscore at either end; prefix_ goes before a leading digit, and an
// empty result is prefix.
func Ident(s, prefix string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte('_')
			}
		}
		r = unicode.ToLower(r)
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := strings.Trim(collapse.ReplaceAllString(b.String(), "_"), "_")
	switch {
	case out == "":
		return prefix
	case out[0] >= '0' && out[0] <= '9':
		return prefix + "_" + out
	}
	return out
}

var collapse = regexp.MustCompile(`_+`)

// namer hands out unique names: a name taken gets _2, _3, ….
type namer map[string]bool

func newNamer() namer { return namer{} }

func (n namer) take(s string) { n[s] = true }

func (n namer) unique(base string) string {
	s := base
	for i := 2; n[s]; i++ {
		s = fmt.Sprintf("%s_%d", base, i)
	}
	n[s] = true
	return s
}

// yamlString writes s as a YAML scalar: plain when YAML reads it back as
// the same string, else double-quoted (single-quoted when s holds a
// double quote or a backslash, which double quotes would escape).
func yamlString(s string) string {
	if plainYAML.MatchString(s) && !yamlWords[strings.ToLower(s)] {
		return s
	}
	if !strings.ContainsAny(s, "\"\\") && !hasControl(s) {
		return `"` + s + `"`
	}
	if !hasControl(s) {
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	return fmt.Sprintf("%q", s) // Go's escapes are YAML's for control characters
}

var plainYAML = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// yamlWords are plain scalars YAML reads as something else than a string.
var yamlWords = map[string]bool{"true": true, "false": true, "yes": true, "no": true, "on": true, "off": true,
	"null": true, "y": true, "n": true}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// oneLine keeps a header value on its comment line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
