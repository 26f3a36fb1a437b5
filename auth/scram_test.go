package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// The SCRAM-SHA-256 example exchange of RFC 7677 §3.
func TestSCRAMRFC7677Vector(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	v, err := DeriveVerifier("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewSCRAMServer(v, true, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
	if err != nil {
		t.Fatal(err)
	}
	out, done, err := srv.Next([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
	if err != nil || done {
		t.Fatalf("first: %v %v", err, done)
	}
	if want := "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"; string(out) != want {
		t.Fatalf("server-first = %s, want %s", out, want)
	}
	out, done, err = srv.Next([]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if err != nil || !done {
		t.Fatalf("final: %v %v", err, done)
	}
	if want := "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="; string(out) != want {
		t.Fatalf("server-final = %s, want %s", out, want)
	}
}

func TestSCRAMWrongProofAndDecoyFail(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	v, _ := DeriveVerifier("not pencil", salt, 4096)
	for _, known := range []bool{true, false} {
		srv, _ := NewSCRAMServer(v, known, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
		if _, _, err := srv.Next([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")); err != nil {
			t.Fatal(err)
		}
		_, _, err := srv.Next([]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
		if !errors.Is(err, ErrSCRAMFailed) {
			t.Fatalf("known=%v: err = %v, want ErrSCRAMFailed", known, err)
		}
	}
	// A decoy fails even when the proof is right for its keys.
	good, _ := DeriveVerifier("pencil", salt, 4096)
	srv, _ := NewSCRAMServer(good, false, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
	srv.Next([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
	if _, _, err := srv.Next([]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")); !errors.Is(err, ErrSCRAMFailed) {
		t.Fatalf("decoy accepted: %v", err)
	}
}

func TestSCRAMMalformed(t *testing.T) {
	v, _ := DeriveVerifier("pw", []byte("0123456789abcdef"), 4096)
	firsts := []string{"", "n", "x,,n=u,r=abc", "p=tls-server-end-point,,n=u,r=abc", "n,a=admin,n=u,r=abc", "n,,m=ext,n=u,r=abc", "n,,n=u", "n,,n=u,r="}
	for _, f := range firsts {
		srv, _ := NewSCRAMServer(v, true, "")
		if _, _, err := srv.Next([]byte(f)); !errors.Is(err, ErrSCRAMProtocol) {
			t.Errorf("client-first %q: err = %v, want ErrSCRAMProtocol", f, err)
		}
	}
	finals := []string{"", "c=biws", "c=biws,r=wrong,p=AAAA", "c=eSws,r=NONCE,p=" + strings.Repeat("A", 44), "c=biws,r=NONCE,p=!!"}
	for _, f := range finals {
		srv, _ := NewSCRAMServer(v, true, "srv")
		srv.Next([]byte("n,,n=,r=cli"))
		f = strings.ReplaceAll(f, "NONCE", "clisrv")
		if _, _, err := srv.Next([]byte(f)); err == nil {
			t.Errorf("client-final %q accepted", f)
		}
	}
}

func TestVerifierFormatRoundTrip(t *testing.T) {
	v, err := NewVerifier("secret password")
	if err != nil {
		t.Fatal(err)
	}
	s := v.String()
	if !regexp.MustCompile(`^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$`).MatchString(s) {
		t.Fatalf("verifier %q is not in PostgreSQL's format", s)
	}
	p, err := ParseVerifier(s)
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != s {
		t.Fatalf("round trip: %s != %s", p, s)
	}
	for _, bad := range []string{"", "md5abc", "SCRAM-SHA-256$x:abc$def:ghi", "SCRAM-SHA-256$4096:c2FsdA==$c2hvcnQ=:c2hvcnQ="} {
		if _, err := ParseVerifier(bad); err == nil {
			t.Errorf("ParseVerifier(%q) accepted", bad)
		}
	}
}

func TestGeneratedCredentials(t *testing.T) {
	ctx := context.Background()
	store, err := OpenStore(ctx, "sqlite://"+t.TempDir()+"/state.db")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc, err := NewService(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	c, pw, err := svc.CreateCredential(ctx, CreateCredentialInput{Label: "bi", Database: "db"})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^cg_[a-z0-9]{10}$`).MatchString(c.Username) {
		t.Errorf("username %q", c.Username)
	}
	if len(pw) < 32 || !regexp.MustCompile(`^[A-Za-z0-9]+$`).MatchString(pw) {
		t.Errorf("password %q", pw)
	}
	// The store keeps only the verifier: the password is nowhere in it.
	var stored string
	if err := store.db.QueryRowContext(ctx, `SELECT verifier FROM credentials WHERE id = ?`, c.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "SCRAM-SHA-256$") || strings.Contains(stored, pw) {
		t.Fatalf("stored %q", stored)
	}
	// The right password authenticates; the exchange names the principal.
	ex, err := svc.BeginSCRAM(ctx, c.Username)
	if err != nil {
		t.Fatal(err)
	}
	if !clientLogin(t, ex.SCRAMServer, pw) {
		t.Fatal("right password refused")
	}
	if p := ex.Principal(); p.CredentialID != c.ID || p.Database != "db" || p.TenantID != DefaultTenant {
		t.Fatalf("principal %+v", p)
	}
	ex, _ = svc.BeginSCRAM(ctx, c.Username)
	if clientLogin(t, ex.SCRAMServer, pw+"x") {
		t.Fatal("wrong password accepted")
	}
	// An unknown user gets the same salt every time (no enumeration by salt).
	a, _ := svc.BeginSCRAM(ctx, "cg_nobody")
	b, _ := svc.BeginSCRAM(ctx, "cg_nobody")
	if string(a.v.Salt) != string(b.v.Salt) || a.v.Iterations != SCRAMIterations {
		t.Fatal("decoy verifier is not stable")
	}
	list, err := svc.ListCredentials(ctx)
	if err != nil || len(list) != 1 || list[0].Username != c.Username {
		t.Fatalf("list = %v, %v", list, err)
	}
}

// clientLogin plays a SCRAM client against srv.
func clientLogin(t *testing.T, srv *SCRAMServer, password string) bool {
	t.Helper()
	first := "n=,r=clientnonce"
	sf, _, err := srv.Next([]byte("n,," + first))
	if err != nil {
		t.Fatal(err)
	}
	var nonce, saltB64 string
	var iter int
	for _, kv := range strings.Split(string(sf), ",") {
		switch {
		case strings.HasPrefix(kv, "r="):
			nonce = kv[2:]
		case strings.HasPrefix(kv, "s="):
			saltB64 = kv[2:]
		case strings.HasPrefix(kv, "i="):
			for _, ch := range kv[2:] {
				iter = iter*10 + int(ch-'0')
			}
		}
	}
	salt, _ := base64.StdEncoding.DecodeString(saltB64)
	v, _ := DeriveVerifier(password, salt, iter)
	// Recompute ClientKey the way a client does: HMAC(SaltedPassword, "Client Key").
	withoutProof := "c=biws,r=" + nonce
	authMsg := first + "," + string(sf) + "," + withoutProof
	clientKey := clientKeyFor(password, salt, iter)
	sig := hmacSHA256(v.StoredKey, []byte(authMsg))
	proof := make([]byte, len(clientKey))
	for i := range proof {
		proof[i] = clientKey[i] ^ sig[i]
	}
	_, done, err := srv.Next([]byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)))
	return err == nil && done
}

func TestSCRAMChannelBinding(t *testing.T) {
	v, _ := DeriveVerifier("pw", []byte("0123456789abcdef"), 4096)
	cb := []byte("certificate hash")
	cases := []struct {
		name          string
		plus, offered bool
		first         string
		cbind         []byte // what the client binds in c=
		ok            bool
	}{
		{"plus with the right data", true, true, "p=tls-server-end-point,,n=,r=c", append([]byte("p=tls-server-end-point,,"), cb...), true},
		{"plus with other data", true, true, "p=tls-server-end-point,,n=,r=c", []byte("p=tls-server-end-point,,other"), false},
		{"plus selected without binding", true, true, "n,,n=,r=c", []byte("n,,"), false},
		{"downgrade: y while offered", false, true, "y,,n=,r=c", []byte("y,,"), false},
		{"y when not offered", false, false, "y,,n=,r=c", []byte("y,,"), true},
		{"n over TLS without plus", false, true, "n,,n=,r=c", []byte("n,,"), true},
		{"binding without plus", false, true, "p=tls-server-end-point,,n=,r=c", append([]byte("p=tls-server-end-point,,"), cb...), false},
		{"unknown binding type", true, true, "p=tls-unique,,n=,r=c", []byte("p=tls-unique,,"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, _ := NewSCRAMServer(v, true, "s")
			srv.ChannelBinding(cb, c.plus, c.offered)
			sf, _, err := srv.Next([]byte(c.first))
			if err != nil {
				if c.ok {
					t.Fatalf("first: %v", err)
				}
				return
			}
			withoutProof := "c=" + base64.StdEncoding.EncodeToString(c.cbind) + ",r=cs"
			bare := c.first[strings.Index(c.first, "n=,"):]
			authMsg := bare + "," + string(sf) + "," + withoutProof
			key := clientKeyFor("pw", v.Salt, v.Iterations)
			sig := hmacSHA256(v.StoredKey, []byte(authMsg))
			proof := make([]byte, len(key))
			for i := range proof {
				proof[i] = key[i] ^ sig[i]
			}
			_, done, err := srv.Next([]byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)))
			if ok := err == nil && done; ok != c.ok {
				t.Fatalf("accepted = %v (%v), want %v", ok, err, c.ok)
			}
		})
	}
}

func TestCheckPassword(t *testing.T) {
	v, _ := NewVerifier("right")
	if !CheckPassword(v, "right") || CheckPassword(v, "wrong") || CheckPassword(v, "") {
		t.Fatal("CheckPassword")
	}
}
