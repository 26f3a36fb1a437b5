package catalog

import (
	"fmt"
	"slices"
	"strings"
)

// Keys: a cube's primary key is a PRIMARY KEY constraint with its unique
// index, and a model join whose SQL is an equality of two visible
// columns a FOREIGN KEY, as PostgreSQL would hold them for tables shaped
// like the cubes — so that PgJDBC's getPrimaryKeys/getImportedKeys,
// psqlODBC's SQLPrimaryKeys, SQLAlchemy's inspector, Power BI's
// relationship detection and DBeaver's ER diagram see the model.

// ForeignKey is a table's columns referencing another table's.
type ForeignKey struct {
	Columns    []string
	Table      string // the referenced table
	RefColumns []string
}

// keyOIDs numbers a table's key objects after every table's own three
// (relation, row type, array type): per table its primary key's index
// and constraint, then one constraint per foreign key.
func (c *Catalog) keyOIDs() (pkIndex, pkConstraint func(table int) uint32, fk func(n int) uint32) {
	base := uint32(firstModelOID + 3*len(c.tables))
	pkIndex = func(i int) uint32 { return base + 2*uint32(i) }
	pkConstraint = func(i int) uint32 { return base + 2*uint32(i) + 1 }
	fk = func(n int) uint32 { return base + 2*uint32(len(c.tables)) + uint32(n) }
	return
}

// keyDefs are the definitions pg_get_indexdef and pg_get_constraintdef
// give for the model's key objects, by OID.
type keyDefs map[uint32]string

// keyConstraint is a key the catalog holds: a table's primary key or one
// of its foreign keys (information_schema's views list them).
type keyConstraint struct {
	name, typ, table string
	cols             []string
	ref              *Table // a foreign key's referenced table
	refCols          []string
}

func (c *Catalog) addKeys() {
	pc, pa, pi, pcon := c.rels["pg_catalog.pg_class"], c.rels["pg_catalog.pg_attribute"], c.rels["pg_catalog.pg_index"], c.rels["pg_catalog.pg_constraint"]
	pi.rows = append([][]any{}, pi.rows...)
	pcon.rows = append([][]any{}, pcon.rows...)
	c.defs = keyDefs{}
	pkIndex, pkConstraint, fkOID := c.keyOIDs()
	byName := map[string]int{}
	flags := map[int]map[string]bool{} // pg_class booleans to set, by table OID
	for i, t := range c.tables {
		byName[t.Name] = i
		flags[firstModelOID+3*i] = map[string]bool{}
	}
	attnums := func(t Table, cols []string) ([]any, bool) {
		var out []any
		for _, name := range cols {
			found := false
			for j, col := range t.Columns {
				if col.Name == name {
					out, found = append(out, int64(j+1)), true
				}
			}
			if !found {
				return nil, false
			}
		}
		return out, len(out) > 0
	}
	quoted := func(names []string) string {
		q := make([]string, len(names))
		for i, n := range names {
			q[i] = quoteIdent(n)
		}
		return strings.Join(q, ", ")
	}
	for i, t := range c.tables {
		keys, ok := attnums(t, t.PrimaryKey)
		if !ok {
			continue
		}
		rel, idx, con := uint32(firstModelOID+3*i), pkIndex(i), pkConstraint(i)
		name := t.Name + "_pkey"
		pc.rows = append(pc.rows, rowOf(pc, map[string]any{
			"oid": int64(idx), "relname": name, "relnamespace": int64(publicNamespace), "reltype": int64(0),
			"relowner": int64(ownerOID), "relam": int64(403), "relfilenode": int64(idx), "reltuples": float64(-1),
			"relpersistence": "p", "relkind": "i", "relnatts": int64(len(keys)), "relispopulated": true,
			"relreplident": "n",
		}))
		zeros, classes := make([]any, len(keys)), make([]any, len(keys))
		for k, num := range keys {
			col := t.Columns[num.(int64)-1]
			pa.rows = append(pa.rows, attRow(pa, idx, col.Name, col.Type, int64(k+1), false))
			zeros[k], classes[k] = int64(0), int64(btreeOpclass(col.Type))
		}
		pi.rows = append(pi.rows, rowOf(pi, map[string]any{
			"indexrelid": int64(idx), "indrelid": int64(rel), "indnatts": int64(len(keys)), "indnkeyatts": int64(len(keys)),
			"indisunique": true, "indisprimary": true, "indimmediate": true, "indisvalid": true, "indisready": true,
			"indislive": true, "indkey": keys, "indcollation": zeros, "indclass": classes, "indoption": zeros,
			"indexprs": nil, "indpred": nil,
		}))
		pcon.rows = append(pcon.rows, rowOf(pcon, map[string]any{
			"oid": int64(con), "conname": name, "connamespace": int64(publicNamespace), "contype": "p",
			"convalidated": true, "conrelid": int64(rel), "contypid": int64(0), "conindid": int64(idx),
			"conparentid": int64(0), "confrelid": int64(0), "confupdtype": " ", "confdeltype": " ", "confmatchtype": " ",
			"conislocal": true, "coninhcount": int64(0), "connoinherit": true, "conkey": keys,
		}))
		c.classes[idx] = [2]string{"public", name}
		c.classOIDs["public."+name] = idx
		if _, sys := c.classOIDs[name]; !sys {
			c.classOIDs[name] = idx
		}
		c.indexes[idx] = true
		c.defs[idx] = fmt.Sprintf("CREATE UNIQUE INDEX %s ON public.%s USING btree (%s)", quoteIdent(name), quoteIdent(t.Name), quoted(t.PrimaryKey))
		c.defs[con] = fmt.Sprintf("PRIMARY KEY (%s)", quoted(t.PrimaryKey))
		c.keys = append(c.keys, keyConstraint{name: name, typ: "PRIMARY KEY", table: t.Name, cols: t.PrimaryKey})
		flags[int(rel)]["relhasindex"] = true
	}
	n := 0
	for i, t := range c.tables {
		for _, fk := range t.ForeignKeys {
			j, ok := byName[fk.Table]
			if !ok {
				continue
			}
			ref := c.tables[j]
			keys, ok1 := attnums(t, fk.Columns)
			refKeys, ok2 := attnums(ref, fk.RefColumns)
			if !ok1 || !ok2 || len(keys) != len(refKeys) || !slices.Equal(ref.PrimaryKey, fk.RefColumns) {
				continue // a foreign key references a primary key
			}
			oid := fkOID(n)
			n++
			name := t.Name + "_" + strings.Join(fk.Columns, "_") + "_fkey"
			eq := make([]any, len(keys))
			for k, num := range keys {
				eq[k] = int64(equalityOperator(t.Columns[num.(int64)-1].Type))
			}
			pcon.rows = append(pcon.rows, rowOf(pcon, map[string]any{
				"oid": int64(oid), "conname": name, "connamespace": int64(publicNamespace), "contype": "f",
				"convalidated": true, "conrelid": int64(firstModelOID + 3*i), "contypid": int64(0), "conindid": int64(pkIndex(j)),
				"conparentid": int64(0), "confrelid": int64(firstModelOID + 3*j), "confupdtype": "a", "confdeltype": "a",
				"confmatchtype": "s", "conislocal": true, "coninhcount": int64(0), "connoinherit": true, "conkey": keys,
				"confkey": refKeys, "conpfeqop": eq, "conppeqop": eq, "conffeqop": eq,
			}))
			// PostgreSQL keeps a foreign key with triggers on both tables
			// (psql's \d shows foreign keys of tables that have them).
			flags[firstModelOID+3*i]["relhastriggers"], flags[firstModelOID+3*j]["relhastriggers"] = true, true
			c.defs[oid] = fmt.Sprintf("FOREIGN KEY (%s) REFERENCES %s(%s)", quoted(fk.Columns), quoteIdent(ref.Name), quoted(fk.RefColumns))
			c.keys = append(c.keys, keyConstraint{name: name, typ: "FOREIGN KEY", table: t.Name, cols: fk.Columns, ref: &c.tables[j], refCols: fk.RefColumns})
		}
	}
	// The tables' own rows say they have an index (a primary key) and
	// triggers (foreign keys, on both ends).
	ix := colIndex(pc)
	for k, r := range pc.rows {
		oid, _ := toInt(r[ix["oid"]])
		if set := flags[int(oid)]; len(set) > 0 {
			cp := append([]any{}, r...)
			for col := range set {
				cp[ix[col]] = true
			}
			pc.rows[k] = cp
		}
	}
}

// btreeOpclass is the default btree operator class of a type (pg_opclass).
func btreeOpclass(typ uint32) uint32 {
	switch typ {
	case tInt2:
		return 1979
	case tInt4:
		return 1978
	case tInt8:
		return 3124
	case tNumeric:
		return 3125
	case tText, tVarchar:
		return 3126
	case tBool:
		return 424
	case tDate:
		return 3122
	case tTimestamp:
		return 3128
	case tTimestamptz:
		return 3127
	case tFloat8:
		return 3123
	}
	return 0
}

// equalityOperator is a type's = operator (pg_operator).
func equalityOperator(typ uint32) uint32 {
	switch typ {
	case tInt2:
		return 94
	case tInt4:
		return 96
	case tInt8:
		return 410
	case tNumeric:
		return 1752
	case tText, tVarchar:
		return 98
	case tBool:
		return 91
	case tDate:
		return 1093
	case tTimestamp:
		return 2060
	case tTimestamptz:
		return 1320
	case tFloat8:
		return 670
	}
	return 0
}

// keyColumn is pg_get_indexdef(index, n): the name of the index's nth
// column.
func (c *Catalog) keyColumn(index uint32, n int64) any {
	pkIndex, _, _ := c.keyOIDs()
	for i, t := range c.tables {
		if pkIndex(i) == index && n >= 1 && int(n) <= len(t.PrimaryKey) {
			return quoteIdent(t.PrimaryKey[n-1])
		}
	}
	return nil
}
