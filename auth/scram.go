package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SCRAMIterations is the PBKDF2 iteration count of new verifiers:
// PostgreSQL's default (scram_iterations = 4096). The cost falls on the
// client at login; the server only does a few HMACs.
const SCRAMIterations = 4096

const scramSaltLen = 16

// Verifier is a SCRAM-SHA-256 verifier as PostgreSQL stores it in
// pg_authid.rolpassword. It cannot be turned back into the password.
type Verifier struct {
	Iterations int
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
}

// NewVerifier derives a verifier for password with a fresh random salt.
func NewVerifier(password string) (Verifier, error) {
	salt := make([]byte, scramSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return Verifier{}, err
	}
	return DeriveVerifier(password, salt, SCRAMIterations)
}

// DeriveVerifier derives the verifier for password, salt and iterations
// (RFC 5802 §3).
func DeriveVerifier(password string, salt []byte, iterations int) (Verifier, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return Verifier{}, err
	}
	clientKey := hmacSHA256(salted, []byte("Client Key"))
	stored := sha256.Sum256(clientKey)
	return Verifier{
		Iterations: iterations,
		Salt:       append([]byte(nil), salt...),
		StoredKey:  stored[:],
		ServerKey:  hmacSHA256(salted, []byte("Server Key")),
	}, nil
}

// String renders the verifier in PostgreSQL's format:
// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>.
func (v Verifier) String() string {
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", v.Iterations, b64(v.Salt), b64(v.StoredKey), b64(v.ServerKey))
}

// ParseVerifier parses PostgreSQL's verifier format.
func ParseVerifier(s string) (Verifier, error) {
	bad := func(why string) (Verifier, error) {
		return Verifier{}, fmt.Errorf("invalid SCRAM verifier: %s", why)
	}
	rest, ok := strings.CutPrefix(s, "SCRAM-SHA-256$")
	if !ok {
		return bad("missing SCRAM-SHA-256$ prefix")
	}
	params, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return bad("missing keys")
	}
	iterStr, saltStr, ok := strings.Cut(params, ":")
	if !ok {
		return bad("missing salt")
	}
	iter, err := strconv.Atoi(iterStr)
	if err != nil || iter <= 0 {
		return bad("iteration count")
	}
	storedStr, serverStr, ok := strings.Cut(keys, ":")
	if !ok {
		return bad("missing server key")
	}
	dec := base64.StdEncoding.DecodeString
	salt, err1 := dec(saltStr)
	stored, err2 := dec(storedStr)
	server, err3 := dec(serverStr)
	if err := errors.Join(err1, err2, err3); err != nil {
		return bad("base64: " + err.Error())
	}
	if len(stored) != sha256.Size || len(server) != sha256.Size || len(salt) == 0 {
		return bad("key length")
	}
	return Verifier{Iterations: iter, Salt: salt, StoredKey: stored, ServerKey: server}, nil
}

func hmacSHA256(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// ErrSCRAMFailed is returned by the exchange when the proof does not match
// (wrong password or unknown user: the two are indistinguishable).
var ErrSCRAMFailed = errors.New("SCRAM authentication failed")

// ErrSCRAMProtocol is returned for malformed SCRAM messages.
var ErrSCRAMProtocol = errors.New("malformed SCRAM message")

// SCRAMServer runs the server side of one SCRAM-SHA-256 exchange
// (RFC 5802, RFC 7677) in PostgreSQL's flavour: the user name comes from the
// startup packet, and the one in client-first-message is ignored.
type SCRAMServer struct {
	v      Verifier
	known  bool // false: v is a decoy and the exchange must fail
	nonce  string
	step   int
	cfBare string // client-first-message-bare
	sFirst string // server-first-message
	gs2    string // gs2 header as the client sent it

	// Channel binding (tls-server-end-point, RFC 5929): the hash of the
	// server's certificate on a TLS connection, whether the client chose
	// SCRAM-SHA-256-PLUS, and whether the server offered it.
	cbData      []byte
	plus        bool
	plusOffered bool
}

// ChannelBinding sets up channel binding for a TLS connection: data is
// the tls-server-end-point hash of the server certificate, plus tells
// whether the client selected SCRAM-SHA-256-PLUS, offered whether the
// server offered it (a client that could bind but did not, while it was
// offered, is refused: that is a downgrade).
func (s *SCRAMServer) ChannelBinding(data []byte, plus, offered bool) {
	s.cbData, s.plus, s.plusOffered = data, plus, offered
}

// NewSCRAMServer starts an exchange against v. known=false runs the
// exchange against a decoy verifier that always fails at the proof, so an
// unknown user takes the same path as a wrong password. serverNonce is
// random when empty (tests pass a fixed one).
func NewSCRAMServer(v Verifier, known bool, serverNonce string) (*SCRAMServer, error) {
	if serverNonce == "" {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		serverNonce = base64.RawStdEncoding.EncodeToString(b)
	}
	return &SCRAMServer{v: v, known: known, nonce: serverNonce}, nil
}

// Next consumes one client message and returns the server's answer; done
// is true once the server-final-message is returned (success).
func (s *SCRAMServer) Next(in []byte) (out []byte, done bool, err error) {
	switch s.step {
	case 0:
		s.step = 1
		out, err := s.first(string(in))
		return out, false, err
	case 1:
		s.step = 2
		out, err := s.final(string(in))
		return out, err == nil, err
	default:
		return nil, false, fmt.Errorf("%w: unexpected message after the exchange ended", ErrSCRAMProtocol)
	}
}

func (s *SCRAMServer) first(msg string) ([]byte, error) {
	// gs2-header: cbind-flag "," [authzid] ","
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return nil, fmt.Errorf("%w: missing GS2 header", ErrSCRAMProtocol)
	}
	switch {
	case flag == "n":
		if s.plus {
			return nil, fmt.Errorf("%w: SCRAM-SHA-256-PLUS selected without channel binding", ErrSCRAMProtocol)
		}
	case flag == "y":
		// The client can bind but believes the server cannot: if the
		// server offered it, someone removed the offer on the way.
		if s.plusOffered || s.plus {
			return nil, fmt.Errorf("%w: channel binding negotiation failed (downgrade)", ErrSCRAMProtocol)
		}
	case flag == "p=tls-server-end-point":
		if !s.plus || s.cbData == nil {
			return nil, fmt.Errorf("%w: channel binding requires SCRAM-SHA-256-PLUS over TLS", ErrSCRAMProtocol)
		}
	case strings.HasPrefix(flag, "p="):
		return nil, fmt.Errorf("%w: unsupported channel binding type %q", ErrSCRAMProtocol, flag[2:])
	default:
		return nil, fmt.Errorf("%w: bad channel-binding flag", ErrSCRAMProtocol)
	}
	authzid, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, fmt.Errorf("%w: missing GS2 header", ErrSCRAMProtocol)
	}
	if authzid != "" {
		return nil, fmt.Errorf("%w: authorization identity is not supported", ErrSCRAMProtocol)
	}
	s.gs2 = flag + "," + authzid + ","
	attrs := strings.Split(bare, ",")
	if strings.HasPrefix(attrs[0], "m=") {
		return nil, fmt.Errorf("%w: mandatory extensions are not supported", ErrSCRAMProtocol)
	}
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, fmt.Errorf("%w: client-first-message needs n= and r=", ErrSCRAMProtocol)
	}
	clientNonce := attrs[1][2:]
	if clientNonce == "" || !printable(clientNonce) {
		return nil, fmt.Errorf("%w: bad client nonce", ErrSCRAMProtocol)
	}
	s.cfBare = bare
	s.nonce = clientNonce + s.nonce
	s.sFirst = fmt.Sprintf("r=%s,s=%s,i=%d", s.nonce, base64.StdEncoding.EncodeToString(s.v.Salt), s.v.Iterations)
	return []byte(s.sFirst), nil
}

func (s *SCRAMServer) final(msg string) ([]byte, error) {
	withoutProof, proofAttr, ok := cutLast(msg, ",p=")
	if !ok {
		return nil, fmt.Errorf("%w: missing proof", ErrSCRAMProtocol)
	}
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, fmt.Errorf("%w: client-final-message needs c= and r=", ErrSCRAMProtocol)
	}
	cbind, err := base64.StdEncoding.DecodeString(attrs[0][2:])
	want := []byte(s.gs2)
	if strings.HasPrefix(s.gs2, "p=") {
		want = append(want, s.cbData...)
	}
	if err != nil || subtle.ConstantTimeCompare(cbind, want) != 1 {
		return nil, fmt.Errorf("%w: channel binding does not match", ErrSCRAMProtocol)
	}
	if attrs[1][2:] != s.nonce {
		return nil, fmt.Errorf("%w: nonce does not match", ErrSCRAMProtocol)
	}
	proof, err := base64.StdEncoding.DecodeString(proofAttr)
	if err != nil || len(proof) != sha256.Size {
		return nil, fmt.Errorf("%w: bad proof", ErrSCRAMProtocol)
	}
	authMessage := []byte(s.cfBare + "," + s.sFirst + "," + withoutProof)
	clientSig := hmacSHA256(s.v.StoredKey, authMessage)
	clientKey := make([]byte, sha256.Size)
	for i := range clientKey {
		clientKey[i] = proof[i] ^ clientSig[i]
	}
	got := sha256.Sum256(clientKey)
	match := subtle.ConstantTimeCompare(got[:], s.v.StoredKey) == 1
	if !match || !s.known {
		return nil, ErrSCRAMFailed
	}
	serverSig := hmacSHA256(s.v.ServerKey, authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), nil
}

// cutLast cuts s around the last sep.
func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// printable reports whether s holds only printable ASCII other than ','.
func printable(s string) bool {
	return bytes.IndexFunc([]byte(s), func(r rune) bool { return r < 0x21 || r > 0x7e || r == ',' }) < 0
}

// decoyVerifier returns a stable verifier for a user that does not exist,
// derived from a server secret so the salt of a name never changes between
// attempts (a changing salt would reveal that the user is unknown).
func decoyVerifier(secret []byte, user string) Verifier {
	mac := hmacSHA256(secret, []byte("decoy-salt:"+user))
	return Verifier{
		Iterations: SCRAMIterations,
		Salt:       mac[:scramSaltLen],
		StoredKey:  hmacSHA256(secret, []byte("decoy-stored:"+user)),
		ServerKey:  hmacSHA256(secret, []byte("decoy-server:"+user)),
	}
}

// CheckPassword verifies a cleartext password against the verifier, as
// the server must for the cleartext method (allowed only over TLS). It
// costs the same PBKDF2 as a client's SCRAM login.
func CheckPassword(v Verifier, password string) bool {
	got, err := DeriveVerifier(password, v.Salt, v.Iterations)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got.StoredKey, v.StoredKey) == 1 &&
		subtle.ConstantTimeCompare(got.ServerKey, v.ServerKey) == 1
}
