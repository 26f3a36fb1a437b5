package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cubegate/cubegate/warehouse"
)

func TestHealth(t *testing.T) {
	up, err := warehouse.Open(context.Background(), "duckdb::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	down, err := warehouse.Open(context.Background(), "duckdb::memory:")
	if err != nil {
		t.Fatal(err)
	}
	down.Close() // a closed warehouse does not answer
	for _, c := range []struct {
		path string
		wh   warehouse.Warehouse
		code int
	}{
		{"/livez", down, 200},
		{"/readyz", up, 200},
		{"/readyz", down, 503},
		{"/nope", up, 404},
	} {
		srv := httptest.NewServer(NewHandler(Config{Warehouse: c.wh, Version: "t"}))
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s = %d, want %d", c.path, resp.StatusCode, c.code)
		}
	}
}
