package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
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

// writeCert writes a self-signed certificate for 127.0.0.1 named cn.
func writeCert(t *testing.T, dir, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

func peerCN(t *testing.T, pc *pgconn.PgConn) string {
	t.Helper()
	tc, ok := pc.Conn().(*tls.Conn)
	if !ok {
		t.Fatalf("not a TLS connection: %T", pc.Conn())
	}
	return tc.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestTLSAndChannelBinding(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir, "first")
	g := apptest.Start(t, apptest.Options{DSN: "duckdb::memory:", Model: slowModel("0"), Adjust: func(c *app.Config) {
		c.SQL.TLS.Cert, c.SQL.TLS.Key = certFile, keyFile
	}})
	connStr := g.ConnString(t, "limits")

	// SCRAM-SHA-256-PLUS: pgx refuses to go on unless the server proved
	// it holds the certificate the TLS session used.
	pc, err := pgconn.Connect(ctx, connStr+"?sslmode=require&channel_binding=require")
	if err != nil {
		t.Fatalf("TLS with channel binding: %v", err)
	}
	if peerCN(t, pc) != "first" {
		t.Fatal("certificate")
	}
	if _, err := pc.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		t.Fatal(err)
	}
	pc.Close(ctx)

	// psql (libpq) too.
	out, err := exec.Command("psql", connStr+"?sslmode=require&channel_binding=require", "-X", "-At", "-c", "SELECT MEASURE(count) FROM slow").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "2" {
		t.Fatalf("psql over TLS: %v\n%s", err, out)
	}

	// Without TLS, still SCRAM, still fine (TLS is not required here).
	pc, err = pgconn.Connect(ctx, connStr+"?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	pc.Close(ctx)

	// The certificate is reloaded: new handshakes use the new one.
	writeCert(t, dir, "second")
	if err := g.Reload(); err != nil {
		t.Fatal(err)
	}
	pc, err = pgconn.Connect(ctx, connStr+"?sslmode=require&channel_binding=require")
	if err != nil {
		t.Fatal(err)
	}
	if peerCN(t, pc) != "second" {
		t.Fatal("the certificate was not reloaded")
	}
	pc.Close(ctx)
	// A broken file keeps the old certificate serving.
	os.WriteFile(certFile, []byte("garbage"), 0o644)
	if err := g.Reload(); err == nil {
		t.Fatal("reload of a broken certificate succeeded")
	}
	pc, err = pgconn.Connect(ctx, connStr+"?sslmode=require")
	if err != nil || peerCN(t, pc) != "second" {
		t.Fatalf("after a failed reload: %v", err)
	}
	pc.Close(ctx)
}

func TestTLSRequiredAndCleartext(t *testing.T) {
	ctx := context.Background()
	certFile, keyFile := writeCert(t, t.TempDir(), "only-tls")
	connStr := apptest.Start(t, apptest.Options{DSN: "duckdb::memory:", Model: slowModel("0"), Adjust: func(c *app.Config) {
		c.SQL.TLS.Cert, c.SQL.TLS.Key, c.SQL.TLS.Required = certFile, keyFile, true
		c.SQL.Auth.AllowCleartext = true
	}}).ConnString(t, "limits")
	_, err := pgconn.Connect(ctx, connStr+"?sslmode=disable")
	if code := pgCode(err); code != "28000" {
		t.Fatalf("without TLS: %v, want 28000", err)
	}
	// Cleartext over TLS, for clients that cannot do SCRAM.
	pc, err := pgconn.Connect(ctx, connStr+"?sslmode=require")
	if err != nil {
		t.Fatalf("cleartext over TLS: %v", err)
	}
	pc.Close(ctx)
	bad := strings.Replace(connStr, "@", "x@", 1) // a wrong password
	if _, err := pgconn.Connect(ctx, bad+"?sslmode=require"); pgCode(err) != "28P01" {
		t.Fatalf("wrong cleartext password: %v", err)
	}
	// Cleartext never offers channel binding: a client that requires it refuses.
	if _, err := pgconn.Connect(ctx, connStr+"?sslmode=require&channel_binding=require"); err == nil {
		t.Fatal("channel_binding=require accepted a cleartext login")
	}
}
