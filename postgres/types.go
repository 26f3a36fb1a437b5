// Package postgres holds what PostgreSQL does that every layer of
// cubegate must agree on: built-in type OIDs and their names as SQL spells
// them and as messages print them (format_type), their wire sizes, the
// and how TimeZone values read (postgres/pgnames adds the names PostgreSQL
// gives to parsed expressions). It is a leaf: pgwire, the planner, the
// push-down, the catalog and the compiler use it and it uses none of them.
package postgres

import "github.com/jackc/pgx/v5/pgtype"

// aliases are the SQL spellings of built-in type names, as pg_type names
// them ("integer" is int4). The one-word char is not among them: written
// so by the parser it is the one-byte "char" type (SQL's CHAR comes out
// of the grammar as bpchar already).
var aliases = map[string]string{
	"int": "int4", "integer": "int4", "smallint": "int2", "bigint": "int8", "boolean": "bool",
	"real": "float4", "double precision": "float8", "decimal": "numeric", "character varying": "varchar",
	"character": "bpchar", "timestamp without time zone": "timestamp",
	"timestamp with time zone": "timestamptz", "time without time zone": "time", "time with time zone": "timetz",
}

// Canonical is pg_type's name of a built-in type written as SQL spells it
// ("integer" → "int4"); other names are returned as they are.
func Canonical(name string) string {
	if a, ok := aliases[name]; ok {
		return a
	}
	return name
}

// types knows PostgreSQL's built-in types by OID and name.
var types = pgtype.NewMap()

// TypeOID is the OID of a built-in type by name, SQL spellings included.
func TypeOID(name string) (uint32, bool) {
	if t, ok := types.TypeForName(Canonical(name)); ok {
		return t.OID, true
	}
	return 0, false
}

// ArrayOf is the OID of the array type of a built-in type.
func ArrayOf(oid uint32) (uint32, bool) {
	if t, ok := types.TypeForOID(oid); ok {
		if arr, ok := types.TypeForName("_" + t.Name); ok {
			return arr.OID, true
		}
	}
	return 0, false
}

// DecodeText reads a value of built-in type oid from its text form, as
// pgx's codec of the type does.
func DecodeText(oid uint32, text string) (any, error) {
	t, ok := types.TypeForOID(oid)
	if !ok {
		return text, nil
	}
	return t.Codec.DecodeValue(types, oid, pgtype.TextFormatCode, []byte(text))
}

// TypeName is a built-in type's name as PostgreSQL's messages print it
// (format_type: "integer", "timestamp with time zone", "date"); "" for a
// type it does not know.
func TypeName(oid uint32) string {
	switch oid {
	case pgtype.Int2OID:
		return "smallint"
	case pgtype.Int4OID:
		return "integer"
	case pgtype.Int8OID:
		return "bigint"
	case pgtype.Float4OID:
		return "real"
	case pgtype.Float8OID:
		return "double precision"
	case pgtype.BoolOID:
		return "boolean"
	case pgtype.TimestampOID:
		return "timestamp without time zone"
	case pgtype.TimestamptzOID:
		return "timestamp with time zone"
	case pgtype.TimeOID:
		return "time without time zone"
	case pgtype.VarcharOID:
		return "character varying"
	case pgtype.BPCharOID:
		return "character"
	}
	if t, ok := types.TypeForOID(oid); ok {
		return t.Name
	}
	return ""
}

// TypeLen is pg_type.typlen of a built-in type: the size RowDescription
// reports, -1 for variable length.
func TypeLen(oid uint32) int16 {
	switch oid {
	case pgtype.BoolOID, pgtype.QCharOID:
		return 1
	case pgtype.Int2OID:
		return 2
	case pgtype.Int4OID, pgtype.Float4OID, pgtype.DateOID, pgtype.OIDOID:
		return 4
	case pgtype.Int8OID, pgtype.Float8OID, pgtype.TimeOID, pgtype.TimestampOID, pgtype.TimestamptzOID:
		return 8
	case pgtype.TimetzOID:
		return 12
	case pgtype.IntervalOID, pgtype.UUIDOID:
		return 16
	case pgtype.NameOID:
		return 64
	}
	return -1
}

// Maintenance reports whether a database name is one every PostgreSQL
// server has and tools connect to first to list the others: postgres
// (pgAdmin, DBeaver, psql -l) and template1.
func Maintenance(database string) bool { return database == "postgres" || database == "template1" }

// DatabaseOID is the OID PostgreSQL gives its maintenance databases
// (template1 1, postgres 5) and, to any other, the first OID of user
// objects, 16384.
func DatabaseOID(database string) uint32 {
	switch database {
	case "template1":
		return 1
	case "postgres":
		return 5
	}
	return 16384
}
