package auth

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// A key's checksum catches any one mistyped character before a lookup.
func TestKeyFormat(t *testing.T) {
	for _, test := range []bool{false, true} {
		k, err := newKeyValue(test)
		if err != nil {
			t.Fatal(err)
		}
		if !WellFormedKey(k) || len(k) != keyLen {
			t.Fatalf("%q is not well formed", k)
		}
		if test != strings.HasPrefix(k, keyPrefixTest) {
			t.Fatalf("%q: wrong prefix", k)
		}
		for i := len(keyPrefixLive); i < len(k); i++ {
			for _, c := range []byte{'0', 'a', 'Z'} {
				if k[i] == c {
					continue
				}
				typo := k[:i] + string(c) + k[i+1:]
				if WellFormedKey(typo) {
					t.Errorf("a typo at %d passes the checksum: %q", i, typo)
				}
			}
		}
	}
	for _, bad := range []string{"", "cg_live_", "sk_live_" + strings.Repeat("a", 36), "cg_live_" + strings.Repeat("-", 36)} {
		if WellFormedKey(bad) {
			t.Errorf("%q passes", bad)
		}
	}
}

func TestAllowIPs(t *testing.T) {
	p, err := parseAllowIPs([]string{"10.0.0.0/8", "192.168.1.7", "::1", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	contains := func(s string) bool {
		a := netip.MustParseAddr(s).Unmap()
		for _, x := range p {
			if x.Contains(a) {
				return true
			}
		}
		return false
	}
	for s, want := range map[string]bool{"10.1.2.3": true, "192.168.1.7": true, "192.168.1.8": false, "::1": true,
		"2001:db8::5": true, "2001:db9::5": false, "::ffff:10.0.0.1": true} {
		if contains(s) != want {
			t.Errorf("%s: %v, want %v", s, !want, want)
		}
	}
	for _, bad := range []string{"300.1.1.1", "10.0.0.0/33", "nonsense"} {
		if _, err := parseAllowIPs([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// BenchmarkAuthenticate is the cost of checking a key on a request:
// checksum, SHA-256, one indexed lookup in the SQLite store.
func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	s, err := OpenStore(ctx, "sqlite::memory:")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ks := NewKeyService(s, 10)
	defer ks.Close()
	k, err := ks.Create(ctx, DefaultTenant, "bench", KeyInput{Scopes: &[]string{"load"}, AllowIPs: &[]string{"127.0.0.0/8"}})
	if err != nil {
		b.Fatal(err)
	}
	addr := netip.MustParseAddr("127.0.0.1")
	for b.Loop() {
		if _, err := ks.Authenticate(ctx, k.KeyValue, addr, "load"); err != nil {
			b.Fatal(err)
		}
	}
}

// A store that refuses the write makes an update API_KEY_UPDATE_FAILED
// (500), and the key is unchanged.
func TestKeyUpdateFailed(t *testing.T) {
	ctx := context.Background()
	s, err := OpenStore(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ks := NewKeyService(s, 5)
	defer ks.Close()
	k, err := ks.Create(ctx, DefaultTenant, "t", KeyInput{Scopes: &[]string{"load"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TRIGGER refuse BEFORE UPDATE ON api_keys BEGIN SELECT RAISE(ABORT, 'disk full'); END`); err != nil {
		t.Fatal(err)
	}
	desc := "changed"
	_, err = ks.Update(ctx, DefaultTenant, k.ID, KeyInput{Description: &desc})
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Code != "API_KEY_UPDATE_FAILED" || ke.Status != 500 {
		t.Fatalf("update on a failing store: %v", err)
	}
	if _, err := ks.Revoke(ctx, DefaultTenant, k.ID); !errors.As(err, &ke) || ke.Code != "API_KEY_UPDATE_FAILED" {
		t.Fatalf("revoke on a failing store: %v", err)
	}
	got, _ := ks.Get(ctx, DefaultTenant, k.ID)
	if got.Description == desc || got.RevokedAt != nil {
		t.Fatalf("the key changed: %+v", got)
	}
}
