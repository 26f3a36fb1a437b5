package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

func TestSessionSettingsAndPreparedSQL(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000)})
	ctx := context.Background()
	_, _, connStr, err := g.MintCredential(ctx, "session")
	if err != nil {
		t.Fatal(err)
	}
	conn := apptest.Connect(t, connStr)
	pc := conn.PgConn()
	one := func(sql string) string {
		t.Helper()
		res, err := pc.Exec(ctx, sql).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		last := res[len(res)-1]
		if len(last.Rows) == 0 {
			return last.CommandTag.String()
		}
		return string(last.Rows[0][0])
	}
	fails := func(sql, code string) {
		t.Helper()
		_, err := pc.Exec(ctx, sql).ReadAll()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != code {
			t.Fatalf("%s: err = %v, want %s", sql, err, code)
		}
	}

	// A reported setting's change reaches the client as ParameterStatus.
	if pc.ParameterStatus("server_version") != "15.0 (cubegate)" || pc.ParameterStatus("TimeZone") != "UTC" {
		t.Fatalf("startup parameters: %q %q", pc.ParameterStatus("server_version"), pc.ParameterStatus("TimeZone"))
	}
	one(`SET TIME ZONE 'Europe/Paris'`)
	if got := pc.ParameterStatus("TimeZone"); got != "Europe/Paris" {
		t.Fatalf("TimeZone ParameterStatus = %q", got)
	}
	if one(`SHOW timezone`) != "Europe/Paris" {
		t.Fatal("SHOW timezone")
	}
	one(`SET application_name TO 'bi tool'`)
	if pc.ParameterStatus("application_name") != "bi tool" {
		t.Fatal("application_name ParameterStatus")
	}
	one(`SET DateStyle = 'ISO'`)
	if one(`SHOW DateStyle`) != "ISO, MDY" {
		t.Fatal("DateStyle normalization")
	}
	one(`SET statement_timeout = 5000`)
	if one(`SHOW statement_timeout`) != "5s" {
		t.Fatal("statement_timeout display")
	}
	one(`RESET statement_timeout`)
	if one(`SHOW statement_timeout`) != "0" {
		t.Fatal("RESET")
	}
	one(`SET myapp.tenant = '42'`)
	if one(`SHOW myapp.tenant`) != "42" {
		t.Fatal("custom setting")
	}
	fails(`SET nonsense = 1`, "42704")
	fails(`SHOW nonsense`, "42704")
	fails(`SET extra_float_digits = 9`, "22023")
	fails(`SET TimeZone = 'Mars/Olympus'`, "22023")
	fails(`SET server_version = '16'`, "55P02")
	one(`SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE`)

	// SET LOCAL lasts until the transaction ends.
	one(`BEGIN`)
	one(`SET LOCAL TimeZone = 'Asia/Tokyo'`)
	if one(`SHOW TimeZone`) != "Asia/Tokyo" {
		t.Fatal("SET LOCAL")
	}
	one(`COMMIT`)
	if one(`SHOW TimeZone`) != "Europe/Paris" || pc.ParameterStatus("TimeZone") != "Europe/Paris" {
		t.Fatalf("SET LOCAL not undone: %s", one(`SHOW TimeZone`))
	}
	res, err := pc.Exec(ctx, `SHOW ALL`).ReadAll()
	if err != nil || len(res[0].Rows) < 30 || len(res[0].FieldDescriptions) != 3 {
		t.Fatalf("SHOW ALL: %v", err)
	}

	// SQL-level prepared statements.
	if one(`PREPARE by_status (text) AS SELECT MEASURE(count) FROM orders WHERE status = $1`) != "PREPARE" {
		t.Fatal("PREPARE")
	}
	want := direct(t, g, `SELECT count(*) FROM public.orders_raw WHERE status = 'shipped'`)[0][0]
	if got := one(`EXECUTE by_status('shipped')`); got != want {
		t.Fatalf("EXECUTE = %s, want %s", got, want)
	}
	fails(`PREPARE by_status AS SELECT 1`, "42P05")
	fails(`EXECUTE by_status`, "42601")
	fails(`EXECUTE nope('x')`, "26000")
	if one(`DEALLOCATE by_status`) != "DEALLOCATE" {
		t.Fatal("DEALLOCATE")
	}
	fails(`EXECUTE by_status('shipped')`, "26000")

	// DISCARD ALL resets settings and drops protocol-level statements too.
	if _, err := pc.Prepare(ctx, "proto", `SELECT MEASURE(count) FROM orders`, nil); err != nil {
		t.Fatal(err)
	}
	one(`PREPARE again AS SELECT 1`)
	if one(`DISCARD ALL`) != "DISCARD ALL" {
		t.Fatal("DISCARD ALL")
	}
	if pc.ParameterStatus("TimeZone") != "UTC" || one(`SHOW application_name`) != "" {
		t.Fatalf("settings survive DISCARD ALL: %q", pc.ParameterStatus("TimeZone"))
	}
	fails(`EXECUTE again`, "26000")
	rr := pc.ExecPrepared(ctx, "proto", nil, nil, nil).Read()
	var pe *pgconn.PgError
	if !errors.As(rr.Err, &pe) || pe.Code != "26000" {
		t.Fatalf("protocol statement after DISCARD ALL: %v", rr.Err)
	}
	one(`BEGIN`)
	fails(`DISCARD ALL`, "25001")
	one(`ROLLBACK`)
}
