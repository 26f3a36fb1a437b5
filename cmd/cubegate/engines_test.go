package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// `cubegate serve` on MariaDB and on ClickHouse: the real binary with a
// mysql:// or clickhouse:// DSN whose password comes from
// $CUBEGATE_WAREHOUSE_PASSWORD answers psql's cube query as the data
// says, and never logs the password.
func TestServeOnEngines(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "cubegate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	model := filepath.Join(dir, "model")
	if err := app.WriteDemoModel(model); err != nil {
		t.Fatal(err)
	}
	fixture := apptest.Demo(1000)
	_, mariaDSN := apptest.MariaDB(t, fixture)
	_, chDSN := apptest.ClickHouse(t, fixture)
	for _, dsn := range []string{mariaDSN, chDSN} {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		password, _ := u.User.Password()
		u.User = url.User(u.User.Username()) // the password from the environment
		t.Run(u.Scheme, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state.db")
			env := append(os.Environ(),
				"CUBEGATE_SQL_LISTEN=127.0.0.1:"+freePort(t),
				"CUBEGATE_HTTP_LISTEN=127.0.0.1:"+freePort(t),
				"CUBEGATE_MODEL_DIR="+model,
				"CUBEGATE_WAREHOUSE_DSN="+u.String(),
				"CUBEGATE_WAREHOUSE_PASSWORD="+password,
				"CUBEGATE_STATE_DSN=sqlite://"+state,
				"CUBEGATE_LOG_LEVEL=debug",
			)
			create := exec.Command(bin, "credentials", "create", "--json")
			create.Env = env
			out, err := create.Output()
			if err != nil {
				t.Fatal(err)
			}
			var cred map[string]string
			json.Unmarshal(out, &cred)
			serve := exec.Command(bin, "serve")
			serve.Env = env
			var log strings.Builder
			serve.Stdout, serve.Stderr = &log, &log
			if err := serve.Start(); err != nil {
				t.Fatal(err)
			}
			defer serve.Process.Kill()
			ctx := context.Background()
			var pc *pgconn.PgConn
			for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
				if pc, err = pgconn.Connect(ctx, cred["connection_string"]+"?sslmode=disable"); err == nil {
					break
				}
				if time.Since(start) > 30*time.Second {
					t.Fatalf("%v\n%s", err, log.String())
				}
			}
			defer pc.Close(ctx)
			res, err := pc.Exec(ctx, `SELECT status, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1`).ReadAll()
			if err != nil {
				t.Fatalf("%v\n%s", err, log.String())
			}
			total := 0
			for _, row := range res[0].Rows {
				n := 0
				for _, c := range row[1] {
					n = n*10 + int(c-'0')
				}
				total += n
			}
			if len(res[0].Rows) != 5 || total != 1000 {
				t.Errorf("%d statuses, %d orders; want 5 and 1000", len(res[0].Rows), total)
			}
			serve.Process.Kill()
			serve.Wait()
			if strings.Contains(log.String(), password) {
				t.Errorf("the warehouse password is in the log:\n%s", log.String())
			}
		})
	}
}
