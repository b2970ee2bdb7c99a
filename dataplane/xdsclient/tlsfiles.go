package xdsclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// TLSFiles are the PEM files of the data plane's xDS credentials, as
// mounted from its Gateway's Secret: its client certificate and key, and
// the CA bundle that verifies the xDS server.
type TLSFiles struct {
	CertFile, KeyFile, CAFile string
	// ServerName overrides the name verified in the server's certificate
	// (default: the host of the server address).
	ServerName string
}

// WithTLSFiles connects over mutual TLS 1.3 with the credentials in files.
// The files are read again at every handshake and re-parsed when their
// content changed, so a renewed certificate or CA bundle (Kubernetes
// rewrites a mounted Secret in place) is used from the next connection on,
// without a restart. It fails at once if the files cannot be used now.
func WithTLSFiles(files TLSFiles) (Option, error) {
	fc := &fileCredentials{files: files}
	if err := fc.reload(); err != nil {
		return nil, err
	}
	return WithDialOptions(grpc.WithTransportCredentials(fc)), nil
}

// fileCredentials is a gRPC TransportCredentials that builds its TLS
// configuration from the files at each client handshake.
type fileCredentials struct {
	files TLSFiles

	mu                  sync.Mutex
	certPEM, keyPEM, ca []byte
	pair                *tls.Certificate
	roots               *x509.CertPool
}

// reload reads the files and parses them if they changed. On error the
// previous credentials stay (a half-written update is retried at the next
// handshake) and the error says which file is wrong.
func (f *fileCredentials) reload() error {
	certPEM, err := os.ReadFile(f.files.CertFile)
	if err != nil {
		return fmt.Errorf("xds client certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(f.files.KeyFile)
	if err != nil {
		return fmt.Errorf("xds client key: %w", err)
	}
	ca, err := os.ReadFile(f.files.CAFile)
	if err != nil {
		return fmt.Errorf("xds CA bundle: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pair != nil && bytes.Equal(certPEM, f.certPEM) && bytes.Equal(keyPEM, f.keyPEM) && bytes.Equal(ca, f.ca) {
		return nil
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("xds client certificate %s / key %s: %w", f.files.CertFile, f.files.KeyFile, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		return fmt.Errorf("xds CA bundle %s: no PEM certificate", f.files.CAFile)
	}
	f.certPEM, f.keyPEM, f.ca, f.pair, f.roots = certPEM, keyPEM, ca, &pair, roots
	return nil
}

func (f *fileCredentials) current() (*tls.Certificate, *x509.CertPool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pair, f.roots
}

// ClientHandshake runs a TLS handshake with the credentials read now.
func (f *fileCredentials) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	// A failed reload keeps the last good files: the handshake may still
	// succeed with them, and otherwise its error says what is wrong.
	reloadErr := f.reload()
	pair, roots := f.current()
	if pair == nil {
		return nil, nil, reloadErr
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    roots,
		// Asked for during the handshake: reread the files so that the
		// certificate presented is the newest on disk.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			_ = f.reload()
			p, _ := f.current()
			return p, nil
		},
	}
	if f.files.ServerName != "" {
		// gRPC's TLS credentials verify the name they are handed as the
		// authority, whatever cfg.ServerName says.
		authority = f.files.ServerName
	}
	c, info, err := credentials.NewTLS(cfg).ClientHandshake(ctx, authority, conn)
	if err != nil && reloadErr != nil {
		err = errors.Join(err, reloadErr)
	}
	return c, info, err
}

func (f *fileCredentials) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("xdsclient: file credentials are client-side only")
}

func (f *fileCredentials) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls", SecurityVersion: "1.3"}
}

func (f *fileCredentials) Clone() credentials.TransportCredentials {
	return &fileCredentials{files: f.files}
}

// OverrideServerName is required by the interface (deprecated in gRPC).
func (f *fileCredentials) OverrideServerName(name string) error {
	f.files.ServerName = name
	return nil
}
