package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func writeCert(t *testing.T, dir, cn string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, "c.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "c.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strings.Split(l.Addr().String(), ":")[1]
}

// The real binary: SIGHUP reloads the TLS certificate; SIGTERM ends idle
// sessions with 57P01 and exits cleanly.
func TestServeSignals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bin := filepath.Join(dir, "cubegate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	writeCert(t, dir, "before")
	env := append(os.Environ(),
		"CUBEGATE_SQL_LISTEN=127.0.0.1:"+freePort(t),
		"CUBEGATE_HTTP_LISTEN=127.0.0.1:"+freePort(t),
		"CUBEGATE_MODEL_DIR=../../testdata/oracle/model",
		"CUBEGATE_WAREHOUSE_DSN=duckdb::memory:",
		"CUBEGATE_STATE_DSN=sqlite://"+filepath.Join(dir, "state.db"),
		"CUBEGATE_SQL_TLS_CERT="+filepath.Join(dir, "c.crt"),
		"CUBEGATE_SQL_TLS_KEY="+filepath.Join(dir, "c.key"),
		"CUBEGATE_SQL_DRAIN_TIMEOUT=5s",
		"CUBEGATE_LOG_LEVEL=warn",
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
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	defer serve.Process.Kill()

	connect := func() *pgconn.PgConn {
		t.Helper()
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			pc, err := pgconn.Connect(ctx, cred["connection_string"]+"?sslmode=require")
			if err == nil {
				return pc
			}
			if time.Since(start) > 30*time.Second {
				t.Fatal(err)
			}
		}
	}
	cn := func(pc *pgconn.PgConn) string {
		return pc.Conn().(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	idle := connect()
	if cn(idle) != "before" {
		t.Fatal("certificate")
	}
	writeCert(t, dir, "after")
	serve.Process.Signal(syscall.SIGHUP)
	var pc *pgconn.PgConn
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		pc = connect()
		if cn(pc) == "after" {
			break
		}
		pc.Close(ctx)
		if time.Since(start) > 5*time.Second {
			t.Fatal("SIGHUP did not reload the certificate")
		}
	}
	pc.Close(ctx)

	serve.Process.Signal(syscall.SIGTERM)
	// The idle session is ended with 57P01 once the signal reaches the
	// drain; until then it may still answer.
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		_, err = idle.Exec(ctx, "SELECT 1").ReadAll()
		if err != nil {
			var pe *pgconn.PgError
			if !errors.As(err, &pe) && !idle.IsClosed() || pe != nil && pe.Code != "57P01" {
				t.Fatalf("idle session after SIGTERM: %v, want 57P01", err)
			}
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the idle session was not ended after SIGTERM")
		}
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cubegate did not exit after SIGTERM")
	}
}
