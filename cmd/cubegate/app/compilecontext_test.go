package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/warehouse"
)

// A model whose sql_table reads COMPILE_CONTEXT.securityContext (a schema
// per tenant) is compiled once per compile context: two credentials with
// different security contexts read different tables over SQL and REST
// (a key with the same context as a credential shares its model), a
// reload compiles them again, and a context the model does not compile
// for answers that principal with the model's file:line error and no one
// else.
func TestCompileContextPerPrincipal(t *testing.T) {
	ctx := context.Background()
	dsn := apptest.DuckDB(t, apptest.Demo(3000))
	w, err := warehouse.OpenDuckDB(ctx, strings.TrimPrefix(dsn, "duckdb://"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE SCHEMA shared`, `CREATE TABLE shared.orders AS SELECT * FROM public.orders_raw`,
		`CREATE SCHEMA acme`, `CREATE TABLE acme.orders AS SELECT * FROM public.orders_raw WHERE channel = 'web'`,
		`CREATE SCHEMA globex`, `CREATE TABLE globex.orders AS SELECT * FROM public.orders_raw WHERE channel <> 'web'`,
	} {
		if _, err := w.DB().ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	model := `cubes:
  - name: orders
    sql_table: "{{ COMPILE_CONTEXT.securityContext.schema or 'shared' }}.orders"
{%- if COMPILE_CONTEXT.securityContext.schema == 'broken' %}
    colour: red
{%- endif %}
    measures:
      - name: count
        type: count
      - name: total_amount
        sql: amount
        type: sum
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: status
        sql: status
        type: string
`
	g := apptest.Start(t, apptest.Options{DSN: dsn, Model: model})

	sec := func(s string) auth.SecurityContext {
		sc, err := auth.ParseSecurityContext(s)
		if err != nil {
			t.Fatalf("%s: %v (security contexts with claims are needed)", s, err)
		}
		return sc
	}
	mint := func(sc auth.SecurityContext) string {
		c, pw, err := g.Auth.CreateCredential(ctx, auth.CreateCredentialInput{Label: "t", Database: g.Database, Security: sc})
		if err != nil {
			t.Fatal(err)
		}
		host, port, _ := app.ClientHost(g.SQLAddr().String())
		return app.ConnectionString(c.Username, pw, host, port, c.Database)
	}
	key := func(sc auth.SecurityContext) string {
		k, err := g.Keys.Create(ctx, auth.DefaultTenant, "t", auth.KeyInput{Scopes: &[]string{"load"}, Security: &sc})
		if err != nil {
			t.Fatal(err)
		}
		return k.KeyValue
	}
	acmeSC, globexSC := sec(`{"schema": "acme"}`), sec(`{"schema": "globex"}`)
	count := func(conn string) string {
		return viaGateway(t, apptest.Connect(t, conn), `SELECT MEASURE(count) FROM orders`)[0][0]
	}
	want := func(schema string) string { return direct(t, g, `SELECT count(*) FROM `+schema+`.orders`)[0][0] }
	wantAcme, wantGlobex, wantShared := want("acme"), want("globex"), want("shared")
	if wantAcme == wantGlobex || wantAcme == wantShared {
		t.Fatalf("the fixture's schemas should differ: %s %s %s", wantAcme, wantGlobex, wantShared)
	}

	// SQL: each credential reads its own schema; compiled once each.
	acme, globex, plain := mint(acmeSC), mint(globexSC), mint(auth.SecurityContext{})
	if got := count(plain); got != wantShared {
		t.Errorf("no context: %s, want %s", got, wantShared)
	}
	if n := g.ContextCompiles(); n != 0 {
		t.Errorf("the base context compiled %d more times", n)
	}
	if got := count(acme); got != wantAcme {
		t.Errorf("acme: %s, want %s", got, wantAcme)
	}
	if got := count(globex); got != wantGlobex {
		t.Errorf("globex: %s, want %s", got, wantGlobex)
	}
	if got := count(acme); got != wantAcme { // a second session: cached
		t.Errorf("acme again: %s, want %s", got, wantAcme)
	}
	if n := g.ContextCompiles(); n != 2 {
		t.Errorf("%d compiles for 2 contexts", n)
	}

	// REST: the same contexts, the same models.
	base := "http://" + g.HTTPAddr().String()
	if got := restCount(t, base, key(acmeSC)); got != wantAcme {
		t.Errorf("REST acme: %s, want %s", got, wantAcme)
	}
	if got := restCount(t, base, key(globexSC)); got != wantGlobex {
		t.Errorf("REST globex: %s, want %s", got, wantGlobex)
	}
	if n := g.ContextCompiles(); n != 2 {
		t.Errorf("%d compiles after REST, want the SQL sessions' 2", n)
	}

	// A context the model is invalid for: its statements get the model's
	// error (file:line), over SQL and REST; the others are served.
	broken := sec(`{"schema": "broken"}`)
	bconn := apptest.Connect(t, mint(broken))
	_, err = bconn.Exec(ctx, `SELECT MEASURE(count) FROM orders`)
	if code := pgCode(err); code != "XX000" || !strings.Contains(detailOf(err), `m.yml:5: unknown key "colour"`) {
		t.Errorf("broken context: %v (%s), detail %q", err, code, detailOf(err))
	}
	status, body := restLoad(t, base, key(broken), `{"query":{"measures":["orders.count"]}}`)
	if status != 500 || !strings.Contains(body, "MODEL_INVALID") || !strings.Contains(body, `m.yml:5: unknown key \"colour\"`) {
		t.Errorf("REST broken context: %d %s", status, body)
	}
	if got := count(acme); got != wantAcme {
		t.Errorf("acme beside a broken context: %s, want %s", got, wantAcme)
	}

	// A reload re-reads the files and drops every compiled context.
	before := g.ContextCompiles()
	path := filepath.Join(g.Config.Model.Dir, "m.yml")
	if err := os.WriteFile(path, []byte(strings.Replace(model, "'shared'", "'acme'", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := g.ReloadModel(); err != nil {
		t.Fatal(err)
	}
	if got := count(plain); got != wantAcme {
		t.Errorf("no context after the reload: %s, want %s", got, wantAcme)
	}
	if got := count(globex); got != wantGlobex {
		t.Errorf("globex after the reload: %s, want %s", got, wantGlobex)
	}
	if got := restCount(t, base, key(globexSC)); got != wantGlobex {
		t.Errorf("REST globex after the reload: %s, want %s", got, wantGlobex)
	}
	if n := g.ContextCompiles() - before; n != 1 {
		t.Errorf("%d compiles after the reload, want 1 (globex's, once)", n)
	}
}

func detailOf(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Detail
	}
	return fmt.Sprint(err)
}

func restLoad(t *testing.T, base, key, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/cubejs-api/v1/load", bytes.NewBufferString(body))
	req.Header.Set("Authorization", key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func restCount(t *testing.T, base, key string) string {
	t.Helper()
	status, body := restLoad(t, base, key, `{"query":{"measures":["orders.count"]}}`)
	if status != 200 {
		t.Fatalf("REST %d: %s", status, body)
	}
	var ans struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &ans); err != nil || len(ans.Data) != 1 {
		t.Fatalf("%v: %s", err, body)
	}
	return fmt.Sprint(ans.Data[0]["orders.count"])
}
