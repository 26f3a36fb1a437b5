package query

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// The audit log says what served each query and the SQLSTATE of its
// error: the warehouse; a rollup (by name); the warehouse again when the
// rollup's table was gone and the statement fell back to the cubes'
// tables; the result cache on a hit; nothing for a statement no
// warehouse ran (the catalog, a refusal, whose SQLSTATE is its own); an
// error without a SQLSTATE is XX000, as the wire says.
func TestServiceRecordsServedAndCode(t *testing.T) {
	f := newFixture(t, 0)
	f.svc.Cache = NewCache(1 << 20)
	p := Principal{TenantID: "acme", CredentialID: "c1"}
	a, _ := f.svc.Admit(p)
	defer a.Release()
	ctx := context.Background()
	run := func(st Statement) {
		t.Helper()
		res := f.svc.Run(a, f.wh, st)
		for {
			if _, err := res.Next(ctx); err != nil {
				if err != io.EOF {
					t.Fatal(err)
				}
				break
			}
		}
		res.Close(nil)
	}
	st := Statement{API: "sql", Kind: "cube", Action: "sql"}
	warehouse := st
	warehouse.SQL = "SELECT count(*) FROM orders"
	run(warehouse)
	rollup := st
	rollup.SQL, rollup.Rollup = "SELECT 3", "orders.by_status"
	run(rollup)
	gone := rollup
	gone.SQL, gone.Fallback = "SELECT * FROM rollup_gone", &Fallback{SQL: "SELECT count(*) FROM orders", Warehouse: f.wh}
	run(gone)
	cached := warehouse
	cached.SQL, cached.Cache = "SELECT status FROM orders ORDER BY 1", &Cacheable{Source: "default", Model: f.m, TTL: time.Minute}
	run(cached)
	run(cached)
	f.svc.Record(p, Statement{API: "sql", Kind: "catalog", Action: "catalog", Text: "SELECT 1"}, time.Now(), 1, nil)
	f.svc.Record(p, Statement{API: "sql", Kind: "cube", Action: "sql", Text: "SELECT nope FROM orders"}, time.Now(), 0,
		pgerr.New("42703", `column "nope" does not exist`))
	res := f.svc.Run(a, f.wh, warehouse)
	if _, err := res.Next(ctx); err != nil {
		t.Fatal(err)
	}
	res.Close(errors.New("the client went away"))

	ev := f.audited(t)
	want := []struct{ served, code string }{
		{"warehouse", ""}, {"rollup:orders.by_status", ""}, {"warehouse", ""}, {"warehouse", ""}, {"cache", ""},
		{"", ""}, {"", "42703"}, {"warehouse", "XX000"},
	}
	if len(ev) != len(want) {
		t.Fatalf("%d events, want %d", len(ev), len(want))
	}
	for i, w := range want {
		e := ev[len(ev)-1-i]
		if e.Served != w.served || e.Code != w.code {
			t.Errorf("event %d (%s): served %q code %q, want %q %q", i, e.Statement, e.Served, e.Code, w.served, w.code)
		}
	}
}
