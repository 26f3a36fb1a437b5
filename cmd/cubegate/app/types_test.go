package app_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// typeCases are literals of every type the wire must carry, as Postgres
// writes them.
var typeCases = []struct{ lit, typ string }{
	{"t", "bool"}, {"12", "int2"}, {"-7", "int4"}, {"9007199254740993", "int8"},
	{"0.1", "float4"}, {"1e300", "float8"}, {"-0.000012345", "float8"}, {"1234567", "float8"},
	{"12345.6700", "numeric"}, {"-0.001", "numeric"}, {"héllo wörld", "text"}, {"v", "varchar"},
	{"b", "bpchar"}, {"nm", "name"}, {"c", `"char"`}, {"2024-02-29", "date"},
	{"13:45:06.5", "time"}, {"2024-02-29 13:45:06.123456", "timestamp"}, {"2024-02-29 13:45:06+02", "timestamptz"},
	{"1 year 2 mons 3 days 04:05:06.5", "interval"}, {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "uuid"},
	{`\xdeadbeef`, "bytea"}, {`{"b": 1, "a": [1, 2]}`, "json"}, {`{"a": 1}`, "jsonb"}, {`{"bb":[1,{"z":null,"y":true}],"a":"x<y"}`, "jsonb"}, {"12345", "oid"},
	{"{1,2,NULL}", "int4[]"}, {`{a,"b c",NULL}`, "text[]"}, {"{1.5,2}", "float8[]"}, {"{t,f}", "bool[]"},
	{"{2024-01-01,2024-12-31}", "date[]"}, {"{1.50,2}", "numeric[]"},
}

type typedResult struct {
	oid   uint32
	size  int16
	name  string
	value string
}

func queryTyped(t *testing.T, pc *pgconn.PgConn, sql string, binary bool) typedResult {
	t.Helper()
	var res *pgconn.Result
	if binary {
		res = pc.ExecParams(context.Background(), sql, nil, nil, nil, []int16{1}).Read()
	} else {
		rs, err := pc.Exec(context.Background(), sql).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		res = rs[0]
	}
	if res.Err != nil {
		t.Fatalf("%s: %v", sql, res.Err)
	}
	fd := res.FieldDescriptions[0]
	return typedResult{fd.DataTypeOID, fd.DataTypeSize, fd.Name, fmt.Sprintf("%q", res.Rows[0][0])}
}

// Constants of every type come back exactly as from PostgreSQL 15: the
// same type OID, size, column name and bytes, in text and in binary.
func TestTypesMatchPostgres(t *testing.T) {
	ctx := context.Background()
	ref, gw := postgresAndGateway(t)
	for _, tz := range []string{"UTC", "Asia/Kolkata"} {
		for _, pc := range []*pgconn.PgConn{ref, gw} {
			if _, err := pc.Exec(ctx, "SET TIME ZONE '"+tz+"'").ReadAll(); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range typeCases {
			sql := fmt.Sprintf("SELECT '%s'::%s", c.lit, c.typ)
			for _, binary := range []bool{false, true} {
				want := queryTyped(t, ref, sql, binary)
				got := queryTyped(t, gw, sql, binary)
				if got != want {
					t.Errorf("%s (binary %v, TimeZone %s):\n got %+v\nwant %+v", sql, binary, tz, got, want)
				}
			}
		}
	}
}

// Parameters of every type, sent in text and in binary, arrive intact.
func TestParametersRoundTrip(t *testing.T) {
	ctx := context.Background()
	ref, gw := postgresAndGateway(t)
	for _, c := range typeCases {
		sql := fmt.Sprintf("SELECT $1::%s", c.typ)
		// The binary form of the value, as Postgres encodes it.
		bin := ref.ExecParams(ctx, fmt.Sprintf("SELECT '%s'::%s", c.lit, c.typ), nil, nil, nil, []int16{1}).Read()
		if bin.Err != nil {
			t.Fatal(bin.Err)
		}
		sd, err := ref.Prepare(ctx, "", sql, nil)
		if err != nil {
			t.Fatal(err)
		}
		oid := sd.ParamOIDs[0]
		for _, format := range []int16{0, 1} {
			val := []byte(c.lit)
			if format == 1 {
				val = bin.Rows[0][0]
			}
			want := ref.ExecParams(ctx, sql, [][]byte{val}, []uint32{oid}, []int16{format}, []int16{0}).Read()
			got := gw.ExecParams(ctx, sql, [][]byte{val}, []uint32{oid}, []int16{format}, []int16{0}).Read()
			if want.Err != nil || got.Err != nil {
				t.Errorf("%s (param format %d): postgres %v, cubegate %v", sql, format, want.Err, got.Err)
				continue
			}
			if string(got.Rows[0][0]) != string(want.Rows[0][0]) {
				t.Errorf("%s (param format %d): got %q, want %q", sql, format, got.Rows[0][0], want.Rows[0][0])
			}
		}
	}
}

// postgresAndGateway connects to a real PostgreSQL 15 (the reference) and
// to a gateway, both closed when the test ends.
func postgresAndGateway(t *testing.T) (ref, gw *pgconn.PgConn) {
	t.Helper()
	ctx := context.Background()
	pg := pgtest.Start(t)
	ref, err := pgconn.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ref.Close(ctx) })
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(100)})
	_, _, connStr, err := g.MintCredential(ctx, "types")
	if err != nil {
		t.Fatal(err)
	}
	gw, err = pgconn.Connect(ctx, connStr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close(ctx) })
	return ref, gw
}
