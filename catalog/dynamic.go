package catalog

import (
	"github.com/cubegate/cubegate/postgres"
	"strconv"
)

// addDynamic registers the relations whose rows depend on the session
// (its user, database, settings) or are derived from pg_class.
func (c *Catalog) addDynamic() {
	named := func(rel string, f func(x *executor, r *relation) []map[string]any) {
		r := c.rels[rel]
		if r == nil {
			return
		}
		c.dynamic[rel] = func(x *executor) [][]any {
			maps := f(x, r)
			out := make([][]any, len(maps))
			for i, m := range maps {
				if r.schema == "information_schema" {
					// The views' columns are NULL where nothing applies.
					row := make([]any, len(r.cols))
					for j, col := range r.cols {
						row[j] = m[col.Name]
					}
					out[i] = row
					continue
				}
				out[i] = rowOf(r, m)
			}
			return out
		}
	}
	named("pg_catalog.pg_database", func(x *executor, _ *relation) []map[string]any {
		names := []string{x.s.Database()}
		if l, ok := x.s.(DatabaseLister); ok {
			names = l.Databases()
		}
		out := make([]map[string]any, len(names))
		for i, name := range names {
			out[i] = map[string]any{"oid": int64(postgres.DatabaseOID(name)), "datname": name, "datdba": int64(ownerOID),
				"encoding": int64(6), "datlocprovider": "c", "datistemplate": name == "template1", "datallowconn": true, "datconnlimit": int64(-1),
				"datfrozenxid": int64(716), "datminmxid": int64(1), "dattablespace": int64(1663),
				"datcollate": "C.UTF-8", "datctype": "C.UTF-8"}
		}
		return out
	})
	roles := func(x *executor, _ *relation) []map[string]any {
		return []map[string]any{{"oid": int64(ownerOID), "rolname": x.s.User(), "usename": x.s.User(), "usesysid": int64(ownerOID),
			"rolsuper": false, "rolinherit": true, "rolcanlogin": true, "rolconnlimit": int64(-1), "rolpassword": "********",
			"passwd": "********", "usecreatedb": false, "usesuper": false, "userepl": false, "usebypassrls": false}}
	}
	for _, r := range []string{"pg_catalog.pg_roles", "pg_catalog.pg_user", "pg_catalog.pg_authid", "pg_catalog.pg_shadow"} {
		named(r, roles)
	}
	c.dynamic["pg_catalog.pg_settings"] = func(x *executor) [][]any {
		r := c.rels["pg_catalog.pg_settings"]
		ix := colIndex(r)
		out := make([][]any, len(r.rows))
		for i, row := range r.rows {
			cp := append([]any{}, row...)
			if v, ok := x.s.Setting(cp[ix["name"]].(string)); ok {
				cp[ix["setting"]] = v
			}
			out[i] = cp
		}
		return out
	}
	named("pg_catalog.pg_stat_activity", func(x *executor, _ *relation) []map[string]any {
		return []map[string]any{{"datid": int64(postgres.DatabaseOID(x.s.Database())), "datname": x.s.Database(), "pid": x.s.BackendPID(),
			"usesysid": int64(ownerOID), "usename": x.s.User(), "state": "active", "backend_type": "client backend",
			"application_name": func() any { v, _ := x.s.Setting("application_name"); return v }()}}
	})
	named("pg_catalog.pg_stat_gssapi", func(x *executor, _ *relation) []map[string]any {
		return []map[string]any{{"pid": x.s.BackendPID(), "gss_authenticated": false, "encrypted": false}}
	})
	// Views over pg_class.
	classes := func(kind string) [][2]any {
		pc := c.rels["pg_catalog.pg_class"]
		ix := colIndex(pc)
		var out [][2]any
		for _, r := range pc.rows {
			if r[ix["relkind"]] == kind {
				out = append(out, [2]any{r[ix["oid"]], r[ix["relname"]]})
			}
		}
		return out
	}
	schemaOf := func(oid any) string { return c.classes[asOID(oid)][0] }
	named("pg_catalog.pg_tables", func(x *executor, _ *relation) []map[string]any {
		var out []map[string]any
		pc := c.rels["pg_catalog.pg_class"]
		ix := colIndex(pc)
		for _, r := range pc.rows {
			if r[ix["relkind"]] == "r" {
				out = append(out, map[string]any{"schemaname": schemaOf(r[ix["oid"]]), "tablename": r[ix["relname"]], "tableowner": x.s.User(),
					"hasindexes": r[ix["relhasindex"]] == true, "hasrules": false, "hastriggers": r[ix["relhastriggers"]] == true, "rowsecurity": false})
			}
		}
		return out
	})
	named("pg_catalog.pg_views", func(x *executor, _ *relation) []map[string]any {
		var out []map[string]any
		for _, cl := range classes("v") {
			out = append(out, map[string]any{"schemaname": schemaOf(cl[0]), "viewname": cl[1], "viewowner": x.s.User(), "definition": ""})
		}
		return out
	})
	for _, rel := range []string{"pg_catalog.pg_stat_user_tables", "pg_catalog.pg_stat_all_tables", "pg_catalog.pg_statio_user_tables"} {
		named(rel, func(x *executor, _ *relation) []map[string]any {
			var out []map[string]any
			for i, t := range c.tables {
				out = append(out, map[string]any{"relid": int64(firstModelOID + 3*i), "schemaname": "public", "relname": t.Name})
			}
			return out
		})
	}
	// information_schema
	named("information_schema.schemata", func(x *executor, _ *relation) []map[string]any {
		var out []map[string]any
		for _, s := range []string{"pg_toast", "pg_catalog", "public", "information_schema"} {
			owner := x.s.User()
			if s == "public" {
				owner = "pg_database_owner"
			}
			out = append(out, map[string]any{"catalog_name": x.s.Database(), "schema_name": s, "schema_owner": owner})
		}
		return out
	})
	named("information_schema.tables", func(x *executor, _ *relation) []map[string]any {
		var out []map[string]any
		for _, kind := range []string{"r", "v"} {
			for _, cl := range classes(kind) {
				typ, ins := "BASE TABLE", "YES"
				if kind == "v" {
					typ, ins = "VIEW", "NO"
				}
				out = append(out, map[string]any{"table_catalog": x.s.Database(), "table_schema": schemaOf(cl[0]),
					"table_name": cl[1], "table_type": typ, "is_insertable_into": ins, "is_typed": "NO"})
			}
		}
		return out
	})
	// The model's keys (keys.go), as information_schema shows them.
	named("information_schema.table_constraints", func(x *executor, _ *relation) []map[string]any {
		var out []map[string]any
		for _, k := range c.keys {
			out = append(out, map[string]any{"constraint_catalog": x.s.Database(), "constraint_schema": "public", "constraint_name": k.name,
				"table_catalog": x.s.Database(), "table_schema": "public", "table_name": k.table, "constraint_type": k.typ,
				"is_deferrable": "NO", "initially_deferred": "NO", "enforced": "YES", "nulls_distinct": nil})
		}
		return out
	})
	named("information_schema.key_column_usage", func(x *executor, _ *relation) []map[string]any {
		var out []map[string]any
		for _, k := range c.keys {
			for i, col := range k.cols {
				m := map[string]any{"constraint_catalog": x.s.Database(), "constraint_schema": "public", "constraint_name": k.name,
					"table_catalog": x.s.Database(), "table_schema": "public", "table_name": k.table, "column_name": col,
					"ordinal_position": int64(i + 1), "position_in_unique_constraint": nil}
				if k.ref != nil {
					for j, rc := range k.ref.PrimaryKey {
						if rc == k.refCols[i] {
							m["position_in_unique_constraint"] = int64(j + 1)
						}
					}
				}
				out = append(out, m)
			}
		}
		return out
	})
	named("information_schema.referential_constraints", func(x *executor, _ *relation) []map[string]any {
		var out []map[string]any
		for _, k := range c.keys {
			if k.ref != nil {
				out = append(out, map[string]any{"constraint_catalog": x.s.Database(), "constraint_schema": "public", "constraint_name": k.name,
					"unique_constraint_catalog": x.s.Database(), "unique_constraint_schema": "public", "unique_constraint_name": k.ref.Name + "_pkey",
					"match_option": "NONE", "update_rule": "NO ACTION", "delete_rule": "NO ACTION"})
			}
		}
		return out
	})
	named("information_schema.constraint_column_usage", func(x *executor, _ *relation) []map[string]any {
		var out []map[string]any
		for _, k := range c.keys {
			table, cols := k.table, k.cols
			if k.ref != nil {
				table, cols = k.ref.Name, k.refCols
			}
			for _, col := range cols {
				out = append(out, map[string]any{"table_catalog": x.s.Database(), "table_schema": "public", "table_name": table,
					"column_name": col, "constraint_catalog": x.s.Database(), "constraint_schema": "public", "constraint_name": k.name})
			}
		}
		return out
	})
	named("information_schema.views", func(x *executor, _ *relation) []map[string]any {
		var out []map[string]any
		for _, cl := range classes("v") {
			out = append(out, map[string]any{"table_catalog": x.s.Database(), "table_schema": schemaOf(cl[0]), "table_name": cl[1],
				"check_option": "NONE", "is_updatable": "NO", "is_insertable_into": "NO", "is_trigger_updatable": "NO",
				"is_trigger_deletable": "NO", "is_trigger_insertable_into": "NO"})
		}
		return out
	})
	named("information_schema.columns", func(x *executor, _ *relation) []map[string]any {
		pa := c.rels["pg_catalog.pg_attribute"]
		ax := colIndex(pa)
		var out []map[string]any
		for _, r := range pa.rows {
			num := r[ax["attnum"]].(int64)
			if num <= 0 {
				continue
			}
			rel := asOID(r[ax["attrelid"]])
			name, ok := c.classes[rel]
			if !ok || c.indexes[rel] {
				continue
			}
			typ := asOID(r[ax["atttypid"]])
			m := map[string]any{"table_catalog": x.s.Database(), "table_schema": name[0], "table_name": name[1],
				"column_name": r[ax["attname"]], "ordinal_position": num, "is_nullable": "YES",
				"data_type": x.sqlDataType(typ), "udt_catalog": x.s.Database(), "udt_schema": "pg_catalog",
				"udt_name": x.udtName(typ), "dtd_identifier": strconv.FormatInt(num, 10), "is_self_referencing": "NO",
				"is_identity": "NO", "identity_cycle": "NO", "is_generated": "NEVER", "is_updatable": "YES"}
			if r[ax["attnotnull"]] == true {
				m["is_nullable"] = "NO"
			}
			if name[0] != "public" && c.rels[name[0]+"."+name[1]] != nil && c.rels[name[0]+"."+name[1]].kind == 'v' {
				m["is_updatable"] = "NO"
			}
			switch typ {
			case tInt2:
				m["numeric_precision"], m["numeric_precision_radix"], m["numeric_scale"] = int64(16), int64(2), int64(0)
			case tInt4:
				m["numeric_precision"], m["numeric_precision_radix"], m["numeric_scale"] = int64(32), int64(2), int64(0)
			case tInt8:
				m["numeric_precision"], m["numeric_precision_radix"], m["numeric_scale"] = int64(64), int64(2), int64(0)
			case tFloat4:
				m["numeric_precision"], m["numeric_precision_radix"] = int64(24), int64(2)
			case tFloat8:
				m["numeric_precision"], m["numeric_precision_radix"] = int64(53), int64(2)
			case tNumeric:
				m["numeric_precision_radix"] = int64(10)
			case tTimestamp, tTimestamptz, 1083, 1266, tInterval:
				m["datetime_precision"] = int64(6)
			case tDate:
				m["datetime_precision"] = int64(0)
			case tText, tVarchar, tBPChar:
				m["character_octet_length"] = int64(1073741824)
			}
			out = append(out, m)
		}
		return out
	})
}

// sqlDataType is information_schema's data_type: the SQL name, ARRAY or
// USER-DEFINED.
func (x *executor) sqlDataType(t uint32) string {
	ti := snapshot().types[t]
	switch {
	case ti == nil:
		return "USER-DEFINED"
	case ti.category == "A":
		return "ARRAY"
	case ti.nsp != pgCatalogNamespace:
		return "USER-DEFINED"
	}
	return x.formatType(t, -1)
}

func (x *executor) udtName(t uint32) string {
	if ti := snapshot().types[t]; ti != nil {
		return ti.name
	}
	return x.cat.modelTypes[t]
}
