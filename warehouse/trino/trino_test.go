package trino

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/warehouse"
)

func TestParseDSN(t *testing.T) {
	c, err := ParseDSN("trino://alice:s3cret@trino.example.com:443/hive/sales")
	if err != nil {
		t.Fatal(err)
	}
	if c.Address != "trino.example.com:443" || c.Client.Catalog != "hive" || c.Client.Schema != "sales" || c.Client.TimeZone != "UTC" {
		t.Fatalf("%+v", c)
	}
	if !strings.HasPrefix(c.Client.ServerURI, "https://alice:s3cret@trino.example.com:443") {
		t.Fatalf("port 443 is https: %s", c.Client.ServerURI)
	}
	c, err = ParseDSN("presto://bob@localhost:8080/memory?ssl=true")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Client.ServerURI, "https://bob@localhost:8080") || c.Client.Catalog != "memory" || c.Client.Schema != "" {
		t.Fatalf("%+v", c)
	}
	c, _ = ParseDSN("trino://bob@localhost/memory/default")
	if !strings.HasPrefix(c.Client.ServerURI, "http://bob@localhost:8080") {
		t.Fatalf("default: http on 8080: %s", c.Client.ServerURI)
	}
	for _, dsn := range []string{
		"trino://:s3cret@host:8080/c/s",                // no user
		"trino://alice:s3cret@host:8080/c/s/x",         // a path too long
		"trino://alice:s3cret@host:8080/c/s?nope=1",    // unknown parameter
		"trino://alice:s3cret@host:8080/c/s?ssl=maybe", // bad ssl
		"trino://alice:s3cret@host:port/c/s",           // bad port
	} {
		_, err := ParseDSN(dsn)
		if err == nil {
			t.Errorf("%s: accepted", dsn)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the password leaks: %v", err)
		}
	}
}

func TestTypeOID(t *testing.T) {
	for name, want := range map[string]uint32{
		"BOOLEAN": pgtype.BoolOID, "TINYINT": pgtype.Int2OID, "SMALLINT": pgtype.Int2OID, "INTEGER": pgtype.Int4OID,
		"BIGINT": pgtype.Int8OID, "REAL": pgtype.Float4OID, "DOUBLE": pgtype.Float8OID, "DECIMAL": pgtype.NumericOID,
		"VARCHAR": pgtype.TextOID, "CHAR": pgtype.TextOID, "VARBINARY": pgtype.ByteaOID, "DATE": pgtype.DateOID,
		"TIMESTAMP": pgtype.TimestampOID, "TIMESTAMP WITH TIME ZONE": pgtype.TimestamptzOID, "TIME": pgtype.TimeOID,
		"INTERVAL DAY TO SECOND": pgtype.IntervalOID, "INTERVAL YEAR TO MONTH": pgtype.IntervalOID,
		"UUID": pgtype.UUIDOID, "JSON": pgtype.JSONOID, "ARRAY(VARCHAR)": pgtype.TextOID, "MAP(VARCHAR, BIGINT)": pgtype.TextOID,
	} {
		if got := TypeOID(name); got != want {
			t.Errorf("%s: %d, want %d", name, got, want)
		}
	}
}

func TestValue(t *testing.T) {
	n, err := Value("-12.340", pgtype.NumericOID)
	if err != nil {
		t.Fatal(err)
	}
	if num := n.(pgtype.Numeric); num.Int.Int64() != -12340 || num.Exp != -3 {
		t.Fatalf("%+v", num)
	}
	iv, err := Value("-1 02:03:04.500", pgtype.IntervalOID)
	if err != nil || iv.(pgtype.Interval) != (pgtype.Interval{Days: -1, Microseconds: -(2*3600+3*60+4)*1e6 - 500000, Valid: true}) {
		t.Fatalf("%+v %v", iv, err)
	}
	iv, err = Value("1-2", pgtype.IntervalOID)
	if err != nil || iv.(pgtype.Interval).Months != 14 {
		t.Fatalf("%+v %v", iv, err)
	}
	u, err := Value("123e4567-e89b-12d3-a456-426614174000", pgtype.UUIDOID)
	if _, ok := u.([16]byte); !ok || err != nil {
		t.Fatalf("%T %v", u, err)
	}
	a, _ := Value([]any{"a", nil}, pgtype.TextOID)
	if a != `["a",null]` {
		t.Fatalf("%v", a)
	}
	if v, _ := Value(int32(3), pgtype.Int4OID); v != int64(3) {
		t.Fatalf("%T", v)
	}
}

// TestCancelDeletesQuery: a statement whose context ends is stopped on
// the server — the client sends DELETE /v1/query/<id> — within a second.
// The server plays just enough of Trino's protocol: the statement is
// accepted and stays queued.
func TestCancelDeletesQuery(t *testing.T) {
	deleted := make(chan string, 1)
	var once sync.Once
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch {
		case r.URL.Path == "/v1/info":
			json.NewEncoder(w).Encode(map[string]any{"nodeVersion": map[string]any{"version": "470"}, "coordinator": true, "starting": false})
		case r.Method == http.MethodHead && r.URL.Path == "/v1/statement":
			w.WriteHeader(http.StatusOK)
		case r.Method == http.MethodPost && r.URL.Path == "/v1/statement":
			json.NewEncoder(w).Encode(map[string]any{
				"id": "q1", "nextUri": srv.URL + "/v1/statement/queued/q1/1",
				"stats": map[string]any{"state": "QUEUED"},
			})
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/statement/queued/q1/"):
			select { // a long poll, answered queued again
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			json.NewEncoder(w).Encode(map[string]any{
				"id": "q1", "nextUri": srv.URL + "/v1/statement/queued/q1/2",
				"stats": map[string]any{"state": "QUEUED"},
			})
		case r.Method == http.MethodDelete:
			once.Do(func() { deleted <- r.URL.Path })
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "unexpected", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	w, err := Open(context.Background(), "trino://alice@"+u.Host+"/memory/default", warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		rows, err := w.Query(ctx, "SELECT count(*) FROM t WHERE x = $1", int64(1))
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case path := <-deleted:
		if path != "/v1/query/q1" {
			t.Fatalf("DELETE %s", path)
		}
	case <-time.After(time.Second):
		t.Fatal("no DELETE of the query within 1s of the cancel")
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the canceled statement succeeded")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the canceled statement did not return")
	}
}
