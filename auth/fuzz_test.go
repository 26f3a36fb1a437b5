package auth

import (
	"encoding/base64"
	"testing"
)

// FuzzSCRAMServer feeds arbitrary client messages to the SCRAM server: it
// must never panic, and must never accept a login it cannot verify.
func FuzzSCRAMServer(f *testing.F) {
	f.Add([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"), []byte("c=biws,r=rOprNGfwEbeRWgbNEkqOsrv,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="), false)
	f.Add([]byte("p=tls-server-end-point,,n=,r=abc"), []byte("c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r=abcsrv,p=AAAA"), true)
	f.Add([]byte("y,,m=ext,n=u,r=x"), []byte(""), false)
	f.Add([]byte(",,,,"), []byte("c=,r=,p="), true)
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	v, _ := DeriveVerifier("pencil", salt, 4096)
	f.Fuzz(func(t *testing.T, first, final []byte, plus bool) {
		srv, _ := NewSCRAMServer(v, true, "srv")
		srv.ChannelBinding([]byte("cert-hash"), plus, true)
		if _, _, err := srv.Next(first); err != nil {
			return
		}
		_, done, err := srv.Next(final)
		if done && err == nil {
			// Only a proof computed from the password can get here; random
			// input never should.
			t.Fatalf("accepted a fuzzed login: %q %q", first, final)
		}
		if _, _, err := srv.Next([]byte("again")); err == nil {
			t.Fatal("a third message was accepted")
		}
	})
}

func FuzzParseVerifier(f *testing.F) {
	f.Add("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=")
	f.Add("SCRAM-SHA-256$0:$:")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVerifier(s)
		if err == nil && v.String() != s {
			if _, err := ParseVerifier(v.String()); err != nil {
				t.Fatalf("re-parse of %q: %v", v.String(), err)
			}
		}
	})
}
