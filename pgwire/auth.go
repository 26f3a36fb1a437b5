package pgwire

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"hash"
	"net"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

const (
	scramMechanism     = "SCRAM-SHA-256"
	scramPlusMechanism = "SCRAM-SHA-256-PLUS"
)

// startTLS answers 'S' and runs the TLS handshake; the startup goes on
// over TLS.
func (c *conn) startTLS() bool {
	if _, err := c.nc.Write([]byte{'S'}); err != nil {
		return false
	}
	base := c.srv.cfg.TLS
	cfg := base.Clone()
	cfg.Certificates = nil
	cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		var cert *tls.Certificate
		var err error
		if base.GetCertificate != nil {
			cert, err = base.GetCertificate(hello)
		} else if len(base.Certificates) > 0 {
			cert = &base.Certificates[0]
		}
		c.serverCert = cert // for channel binding
		return cert, err
	}
	tc := tls.Server(c.nc, cfg)
	if err := tc.Handshake(); err != nil {
		c.log.Debug().Err(err).Msg("TLS handshake failed")
		return false
	}
	c.tlsConn = tc
	c.nc = tc
	c.newBackend(tc)
	return true
}

func (c *conn) authFailed(user string) {
	c.log.Info().Msg("password authentication failed")
	c.fatal(pgerr.Fatal(pgerrcode.InvalidPassword, "password authentication failed for user %q", user))
}

type remoteAddrKey struct{}

// RemoteAddr is the client's address during authentication (for an
// Authenticator that throttles failed logins by address).
func RemoteAddr(ctx context.Context) net.Addr {
	a, _ := ctx.Value(remoteAddrKey{}).(net.Addr)
	return a
}

func (c *conn) authUnavailable(err error) {
	var pe *pgerr.Error
	if errors.As(err, &pe) {
		// The authenticator's own refusal (a blocked address, …).
		c.log.Info().Str("code", pe.Code).Msg("login refused")
		c.fatal(pe)
		return
	}
	c.log.Error().Err(err).Msg("authentication lookup failed")
	c.fatal(pgerr.Fatal(pgerrcode.InternalError, "authentication is unavailable"))
}

// receiveAuth reads the client's next authentication message.
func (c *conn) receiveAuth(authType uint32) (pgproto3.FrontendMessage, bool) {
	if err := c.be.Flush(); err != nil {
		return nil, false
	}
	if err := c.be.SetAuthType(authType); err != nil {
		return nil, false
	}
	msg, err := c.be.Receive()
	if err != nil {
		return nil, c.authReadFailed(err)
	}
	return msg, true
}

// cleartext runs the cleartext password method (TLS only).
func (c *conn) cleartext(ctx context.Context, user, db string) (any, bool) {
	c.be.Send(&pgproto3.AuthenticationCleartextPassword{})
	msg, ok := c.receiveAuth(pgproto3.AuthTypeCleartextPassword)
	if !ok {
		return nil, false
	}
	pw, ok := msg.(*pgproto3.PasswordMessage)
	if !ok {
		c.fatal(pgerr.Fatal(pgerrcode.ProtocolViolation, "expected password response, got %T", msg))
		return nil, false
	}
	principal, ok, err := c.srv.cfg.Auth.Password(ctx, user, db, pw.Password)
	if err != nil {
		c.authUnavailable(err)
		return nil, false
	}
	if !ok {
		c.authFailed(user)
		return nil, false
	}
	return principal, true
}

// scram runs the SASL message flow of a SCRAM-SHA-256 login; over TLS
// SCRAM-SHA-256-PLUS (channel binding) is offered first.
func (c *conn) scram(ctx context.Context, user, db string) (any, bool) {
	mechanisms := []string{scramMechanism}
	var cbData []byte
	if c.tlsConn != nil {
		if cbData = certificateHash(c.serverCert); cbData != nil {
			mechanisms = []string{scramPlusMechanism, scramMechanism}
		}
	}
	c.be.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: mechanisms})
	msg, ok := c.receiveAuth(pgproto3.AuthTypeSASL)
	if !ok {
		return nil, false
	}
	initial, ok := msg.(*pgproto3.SASLInitialResponse)
	if !ok {
		c.fatal(pgerr.Fatal(pgerrcode.ProtocolViolation, "expected SASL response, got %T", msg))
		return nil, false
	}
	offered := false
	for _, m := range mechanisms {
		offered = offered || m == initial.AuthMechanism
	}
	if !offered {
		c.fatal(pgerr.Fatal(pgerrcode.ProtocolViolation, "client selected an invalid SASL authentication mechanism"))
		return nil, false
	}
	ex, err := c.srv.cfg.Auth.SCRAM(ctx, user, db, ChannelBinding{
		Data:    cbData,
		Plus:    initial.AuthMechanism == scramPlusMechanism,
		Offered: len(mechanisms) > 1,
	})
	if err != nil {
		c.authUnavailable(err)
		return nil, false
	}
	if e, ok := ex.(SASLEnder); ok {
		defer e.End()
	}
	out, _, err := ex.Next(initial.Data)
	if err != nil {
		c.authFailed(user)
		return nil, false
	}
	c.be.Send(&pgproto3.AuthenticationSASLContinue{Data: out})
	msg, ok = c.receiveAuth(pgproto3.AuthTypeSASLContinue)
	if !ok {
		return nil, false
	}
	resp, ok := msg.(*pgproto3.SASLResponse)
	if !ok {
		c.fatal(pgerr.Fatal(pgerrcode.ProtocolViolation, "expected SASL response, got %T", msg))
		return nil, false
	}
	out, done, err := ex.Next(resp.Data)
	if err != nil || !done {
		c.authFailed(user)
		return nil, false
	}
	c.be.Send(&pgproto3.AuthenticationSASLFinal{Data: out})
	return ex.Principal(), true
}

// certificateHash is the tls-server-end-point channel-binding data of a
// certificate (RFC 5929 §4.1): its hash with the hash function of its
// signature, SHA-256 for MD5 and SHA-1.
func certificateHash(cert *tls.Certificate) []byte {
	if cert == nil || len(cert.Certificate) == 0 {
		return nil
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil
		}
	}
	var h hash.Hash
	switch leaf.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = sha512.New()
	case x509.PureEd25519:
		return nil // no hash function: tls-server-end-point is undefined
	default:
		h = sha256.New()
	}
	h.Write(leaf.Raw)
	return h.Sum(nil)
}
