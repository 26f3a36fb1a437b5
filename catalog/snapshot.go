package catalog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"strconv"
	"strings"
	"sync"
)

// pg15.catalog.gz holds, as a fresh PostgreSQL 15 database answers them,
// the columns of every relation of pg_catalog and information_schema and
// the rows of the built-in objects (types, functions, operators, settings,
// system relations …). TestGenerateSnapshot regenerates it.
//
//go:embed pg15.catalog.gz
var snapshotGz []byte

// Column is a relation's column.
type Column struct {
	Name string
	Type uint32
	Mod  int32
}

// relation is a table the evaluator reads: its columns and rows.
type relation struct {
	schema, name string
	oid          uint32
	kind         byte
	cols         []Column
	rows         [][]any
}

type snapshotData struct {
	rels  map[string]*relation // "schema.name"
	types map[uint32]*typeInfo
	// typeByName: pg_catalog type names (typname) → OID.
	typeByName map[string]uint32
	procs      map[uint32]string // pg_proc oid → proname
	procByName map[string]uint32
	nspOID     map[string]uint32
	nspName    map[uint32]string
}

// typeInfo is what the evaluator needs of a pg_type row.
type typeInfo struct {
	oid      uint32
	name     string
	nsp      uint32
	len      int64
	category string
	elem     uint32
	array    uint32
	relid    uint32
	typtype  string
	base     uint32 // a domain's base type
	row      []any
}

var (
	snapOnce sync.Once
	snap     *snapshotData
)

func snapshot() *snapshotData {
	snapOnce.Do(func() { snap = loadSnapshot() })
	return snap
}

func loadSnapshot() *snapshotData {
	zr, err := gzip.NewReader(bytes.NewReader(snapshotGz))
	if err != nil {
		panic("catalog: snapshot: " + err.Error())
	}
	d := &snapshotData{rels: map[string]*relation{}, types: map[uint32]*typeInfo{}, typeByName: map[string]uint32{},
		procs: map[uint32]string{}, procByName: map[string]uint32{}, nspOID: map[string]uint32{}, nspName: map[uint32]string{}}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var cur *relation
	var rawRows [][]string
	flush := func() {
		if cur == nil {
			return
		}
		cur.rows = make([][]any, 0, len(rawRows))
		for _, raw := range rawRows {
			row := make([]any, len(cur.cols))
			for i, c := range cur.cols {
				if raw[i] != `\N` {
					row[i] = parseCopyText(unescapeCopy(raw[i]), c.Type)
				}
			}
			cur.rows = append(cur.rows, row)
		}
		rawRows = nil
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "="):
			rawRows = append(rawRows, strings.Split(line[1:], "\t"))
		case strings.HasPrefix(line, "\t"):
			f := strings.Split(line[1:], "\t")
			t, _ := strconv.ParseUint(f[1], 10, 32)
			m, _ := strconv.ParseInt(f[2], 10, 32)
			cur.cols = append(cur.cols, Column{Name: f[0], Type: uint32(t), Mod: int32(m)})
		default:
			flush()
			f := strings.Split(line, "\t")
			schema, name, _ := strings.Cut(f[0], ".")
			oid, _ := strconv.ParseUint(f[1], 10, 32)
			cur = &relation{schema: schema, name: name, oid: uint32(oid), kind: f[2][0]}
			d.rels[f[0]] = cur
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		panic("catalog: snapshot: " + err.Error())
	}
	// Types first (the array columns above were parsed with the built-in
	// element table), then the lookups the functions use.
	pt := d.rels["pg_catalog.pg_type"]
	ix := colIndex(pt)
	for _, r := range pt.rows {
		t := &typeInfo{oid: asOID(r[ix["oid"]]), name: r[ix["typname"]].(string), nsp: asOID(r[ix["typnamespace"]]),
			len: r[ix["typlen"]].(int64), category: r[ix["typcategory"]].(string), elem: asOID(r[ix["typelem"]]),
			array: asOID(r[ix["typarray"]]), relid: asOID(r[ix["typrelid"]]), typtype: r[ix["typtype"]].(string),
			base: asOID(r[ix["typbasetype"]]), row: r}
		d.types[t.oid] = t
		if t.nsp == pgCatalogNamespace {
			d.typeByName[t.name] = t.oid
		}
	}
	// Columns of a domain type (information_schema's sql_identifier,
	// cardinal_number, …) are described and compared as the base type,
	// as PostgreSQL's RowDescription does.
	for _, r := range d.rels {
		for i, c := range r.cols {
			ti := d.types[c.Type]
			if ti == nil || ti.typtype != "d" {
				continue
			}
			base := ti.base
			for d.types[base] != nil && d.types[base].typtype == "d" {
				base = d.types[base].base
			}
			r.cols[i].Type = base
			for _, row := range r.rows {
				if s, ok := row[i].(string); ok {
					row[i] = parseCopyText(s, base)
				}
			}
		}
	}
	pp := d.rels["pg_catalog.pg_proc"]
	ix = colIndex(pp)
	for _, r := range pp.rows {
		oid, name := asOID(r[ix["oid"]]), r[ix["proname"]].(string)
		d.procs[oid] = name
		if _, dup := d.procByName[name]; !dup {
			d.procByName[name] = oid
		}
	}
	pn := d.rels["pg_catalog.pg_namespace"]
	ix = colIndex(pn)
	for _, r := range pn.rows {
		oid, name := asOID(r[ix["oid"]]), r[ix["nspname"]].(string)
		d.nspOID[name] = oid
		d.nspName[oid] = name
	}
	return d
}

// typeIn finds a type by schema and name.
func (d *snapshotData) typeIn(schema, name string) (uint32, bool) {
	nsp, ok := d.nspOID[schema]
	if !ok {
		return 0, false
	}
	for _, t := range d.types {
		if t.nsp == nsp && t.name == name {
			return t.oid, true
		}
	}
	return 0, false
}

func colIndex(r *relation) map[string]int {
	m := make(map[string]int, len(r.cols))
	for i, c := range r.cols {
		m[c.Name] = i
	}
	return m
}

func asOID(v any) uint32 {
	if n, ok := v.(int64); ok {
		return uint32(n)
	}
	return 0
}

// unescapeCopy undoes COPY's text-format escapes.
func unescapeCopy(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
