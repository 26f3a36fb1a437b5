package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"
)

// TestPanicIsOneRequest: a panic in a handler answers that request with
// 500 INTERNAL and its request id; the server serves the next one.
func TestPanicIsOneRequest(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) {
		panic("a bug in a handler")
	})
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveSafely(mux, &statusWriter{ResponseWriter: w, status: http.StatusOK}, r, zerolog.Nop())
	}))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != 500 || body.Error.Code != "INTERNAL" {
		t.Fatalf("panic: %d %+v", res.StatusCode, body)
	}
	res, err = http.Get(srv.URL + "/ok")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("after the panic: %v %v", res, err)
	}
	res.Body.Close()
}
