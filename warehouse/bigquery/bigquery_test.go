package bigquery

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/warehouse"
)

func TestParseDSN(t *testing.T) {
	c, err := ParseDSN("bigquery://my-proj/sales?credentials_file=/etc/sa.json&location=EU&storage_read=false")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Project: "my-proj", Dataset: "sales", CredentialsFile: "/etc/sa.json", Location: "EU"}
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	c, err = ParseDSN("bigquery://p")
	if err != nil || c.Project != "p" || c.Dataset != "" || !c.StorageRead {
		t.Fatalf("got %+v, %v", c, err)
	}
	for _, bad := range []string{
		"bigquery:///ds", "bigquery://p/a/b", "bigquery://p?nope=1", "bigquery://p?storage_read=maybe",
		"bigquery://user:s3cret@p", "mysql://p",
	} {
		_, err := ParseDSN(bad)
		if err == nil {
			t.Errorf("%s: no error", bad)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the secret: %v", bad, err)
		}
	}
}

func TestRegistered(t *testing.T) {
	// The scheme is registered: a DSN error is this package's, not
	// "unknown scheme".
	_, err := warehouse.Open(context.Background(), "bigquery://")
	if err == nil || !strings.Contains(err.Error(), "names no project") {
		t.Fatalf("got %v", err)
	}
}

func TestOID(t *testing.T) {
	for typ, oid := range map[bigquery.FieldType]uint32{
		bigquery.StringFieldType: 25, bigquery.BytesFieldType: 17, bigquery.IntegerFieldType: 20,
		bigquery.FloatFieldType: 701, bigquery.BooleanFieldType: 16, bigquery.TimestampFieldType: 1114,
		bigquery.DateTimeFieldType: 1114, bigquery.DateFieldType: 1082, bigquery.TimeFieldType: 1083,
		bigquery.NumericFieldType: 1700, bigquery.BigNumericFieldType: 1700, bigquery.IntervalFieldType: 1186,
		bigquery.JSONFieldType: 114, bigquery.RecordFieldType: 114, bigquery.GeographyFieldType: 25,
	} {
		if got := OID(&bigquery.FieldSchema{Type: typ}); got != oid {
			t.Errorf("%s: OID %d, want %d", typ, got, oid)
		}
	}
	if got := OID(&bigquery.FieldSchema{Type: bigquery.IntegerFieldType, Repeated: true}); got != 114 {
		t.Errorf("ARRAY<INT64>: OID %d, want 114", got)
	}
}

func TestValue(t *testing.T) {
	ts := time.Date(2024, 3, 1, 12, 30, 0, 500000000, time.UTC)
	num := func(s string) pgtype.Numeric {
		var n pgtype.Numeric
		n.Scan(s)
		return n
	}
	rat := func(s string) *big.Rat { r, _ := new(big.Rat).SetString(s); return r }
	cases := []struct {
		f    *bigquery.FieldSchema
		in   bigquery.Value
		want any
	}{
		{&bigquery.FieldSchema{Type: bigquery.IntegerFieldType}, int64(7), int64(7)},
		{&bigquery.FieldSchema{Type: bigquery.FloatFieldType}, 1.5, 1.5},
		{&bigquery.FieldSchema{Type: bigquery.StringFieldType}, "x", "x"},
		{&bigquery.FieldSchema{Type: bigquery.BooleanFieldType}, true, true},
		{&bigquery.FieldSchema{Type: bigquery.BytesFieldType}, []byte("ab"), []byte("ab")},
		{&bigquery.FieldSchema{Type: bigquery.StringFieldType}, nil, nil},
		{&bigquery.FieldSchema{Type: bigquery.TimestampFieldType}, ts.In(time.FixedZone("x", 3600)), ts},
		{&bigquery.FieldSchema{Type: bigquery.DateTimeFieldType}, civil.DateTimeOf(ts), ts},
		{&bigquery.FieldSchema{Type: bigquery.DateFieldType}, civil.DateOf(ts), time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)},
		{&bigquery.FieldSchema{Type: bigquery.TimeFieldType}, civil.TimeOf(ts), time.Date(1970, 1, 1, 12, 30, 0, 500000000, time.UTC)},
		{&bigquery.FieldSchema{Type: bigquery.NumericFieldType}, rat("1234.5"), num("1234.5")},
		{&bigquery.FieldSchema{Type: bigquery.NumericFieldType}, rat("-1/3"), num("-0.333333333")},
		{&bigquery.FieldSchema{Type: bigquery.BigNumericFieldType}, rat("1/8"), num("0.125")},
		{&bigquery.FieldSchema{Type: bigquery.NumericFieldType}, rat("100"), num("100")},
		{&bigquery.FieldSchema{Type: bigquery.IntervalFieldType}, &bigquery.IntervalValue{Years: 1, Months: 2, Days: 3, Hours: 4, Minutes: 5, Seconds: 6, SubSecondNanos: 7000},
			pgtype.Interval{Months: 14, Days: 3, Microseconds: (4*3600+5*60+6)*1e6 + 7, Valid: true}},
		{&bigquery.FieldSchema{Type: bigquery.IntegerFieldType, Repeated: true}, []bigquery.Value{int64(1), nil, int64(3)}, "[1,null,3]"},
		{&bigquery.FieldSchema{Type: bigquery.RecordFieldType, Schema: bigquery.Schema{
			{Name: "a", Type: bigquery.StringFieldType}, {Name: "b", Type: bigquery.FloatFieldType, Repeated: true}}},
			[]bigquery.Value{"x\"y", []bigquery.Value{0.5}}, `{"a":"x\"y","b":[0.5]}`},
	}
	for _, c := range cases {
		got, err := Value(c.f, c.in)
		if err != nil {
			t.Errorf("%s %v: %v", c.f.Type, c.in, err)
			continue
		}
		if !equal(got, c.want) {
			t.Errorf("%s %#v: got %#v, want %#v", c.f.Type, c.in, got, c.want)
		}
	}
}

func equal(a, b any) bool {
	switch x := a.(type) {
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y) && x.Location() == time.UTC
	case pgtype.Numeric:
		y, ok := b.(pgtype.Numeric)
		xv, _ := x.Value()
		yv, _ := y.Value()
		return ok && xv == yv
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	}
	return a == b
}

func TestParams(t *testing.T) {
	ts := time.Date(2023, 1, 2, 3, 4, 5, 6000, time.FixedZone("x", -3600))
	ps := Params([]any{"a", int64(2), 1.5, true, ts, nil})
	want := []any{"a", int64(2), 1.5, true, "2023-01-02 04:04:05.000006", bigquery.NullString{}}
	for i, p := range ps {
		if p.Name != "p"+string(rune('1'+i)) || p.Value != want[i] {
			t.Errorf("parameter %d: got %s = %#v, want %#v", i+1, p.Name, p.Value, want[i])
		}
	}
}

func TestOpenBadCredentials(t *testing.T) {
	// A missing key file: a ConnectError naming the project only.
	_, err := Open(context.Background(), "bigquery://proj?credentials_file=/nonexistent/sa.json", warehouse.Options{})
	var ce *warehouse.ConnectError
	if !errors.As(err, &ce) || ce.Address != "proj" || ce.Engine != "bigquery" {
		t.Fatalf("got %T %v", err, err)
	}
}
