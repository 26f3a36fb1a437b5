package postgres

import (
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// Type names as SQL spells them, as pg_type names them and as messages
// print them, against PostgreSQL 15's answers (SELECT 'integer'::regtype::oid,
// format_type(oid, NULL), typlen FROM pg_type).
func TestTypes(t *testing.T) {
	for _, c := range []struct {
		name    string
		oid     uint32
		printed string
		len     int16
	}{
		{"integer", pgtype.Int4OID, "integer", 4},
		{"int", pgtype.Int4OID, "integer", 4},
		{"int8", pgtype.Int8OID, "bigint", 8},
		{"double precision", pgtype.Float8OID, "double precision", 8},
		{"decimal", pgtype.NumericOID, "numeric", -1},
		{"character varying", pgtype.VarcharOID, "character varying", -1},
		{"bpchar", pgtype.BPCharOID, "character", -1},
		{"char", pgtype.QCharOID, "char", 1}, // the parser's one-word char is "char"
		{"timestamp with time zone", pgtype.TimestamptzOID, "timestamp with time zone", 8},
		{"date", pgtype.DateOID, "date", 4},
		{"name", pgtype.NameOID, "name", 64},
		{"uuid", pgtype.UUIDOID, "uuid", 16},
		{"jsonb", pgtype.JSONBOID, "jsonb", -1},
	} {
		oid, ok := TypeOID(c.name)
		if !ok || oid != c.oid || TypeName(oid) != c.printed || TypeLen(oid) != c.len {
			t.Errorf("%s: oid %d %v, printed %q, len %d; want %d %q %d", c.name, oid, ok, TypeName(oid), TypeLen(oid), c.oid, c.printed, c.len)
		}
	}
	if _, ok := TypeOID("cube"); ok {
		t.Error("an unknown type resolved")
	}
	if arr, ok := ArrayOf(pgtype.TextOID); !ok || arr != pgtype.TextArrayOID {
		t.Errorf("text[]: %d %v", arr, ok)
	}
	if v, err := DecodeText(pgtype.Int4OID, "42"); err != nil || v != int32(42) {
		t.Errorf("int4 '42': %v %v", v, err)
	}
	if _, err := DecodeText(pgtype.Int4OID, "4x2"); err == nil {
		t.Error("int4 '4x2' read")
	}
}

func TestLocation(t *testing.T) {
	for _, tz := range []string{"UTC", "utc", "Etc/UTC", "GMT", "Z", "Zulu"} {
		if loc, err := Location(tz); err != nil || loc != nil && loc.String() != "UTC" {
			t.Errorf("%s: %v %v", tz, loc, err)
		}
	}
	if loc, err := Location("Europe/Paris"); err != nil || loc.String() != "Europe/Paris" {
		t.Errorf("Europe/Paris: %v %v", loc, err)
	}
	for _, tz := range []string{"", "Local", "Mars/Olympus"} {
		if _, err := Location(tz); err == nil {
			t.Errorf("%q read as a time zone", tz)
		}
	}
}
