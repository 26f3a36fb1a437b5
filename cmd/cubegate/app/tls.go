package app

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// certStore holds the SQL listener's certificate and reloads it from its
// files (on SIGHUP): new handshakes use the new one, open sessions keep
// theirs.
type certStore struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

func newCertStore(certFile, keyFile string) (*certStore, error) {
	s := &certStore{certFile: certFile, keyFile: keyFile}
	return s, s.reload()
}

func (s *certStore) reload() error {
	cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return fmt.Errorf("sql.tls: %w", err)
	}
	s.cert.Store(&cert)
	return nil
}

func (s *certStore) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.cert.Load(), nil
		},
	}
}
