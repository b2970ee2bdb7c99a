package xdsclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned returns a PEM certificate and key with the given common name.
func selfSigned(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k})
}

// TestTLSFilesReload: new files are picked up; a broken update keeps the
// last good credentials and the error names the file.
func TestTLSFilesReload(t *testing.T) {
	dir := t.TempDir()
	files := TLSFiles{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), CAFile: filepath.Join(dir, "ca.crt")}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := WithTLSFiles(files); err == nil || !strings.Contains(err.Error(), "xds client certificate") {
		t.Fatalf("missing files: %v", err)
	}
	c1, k1 := selfSigned(t, "one")
	write("tls.crt", c1)
	write("tls.key", k1)
	write("ca.crt", c1)
	fc := &fileCredentials{files: files}
	if err := fc.reload(); err != nil {
		t.Fatal(err)
	}
	leafCN := func() string {
		p, _ := fc.current()
		c, err := x509.ParseCertificate(p.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return c.Subject.CommonName
	}
	if leafCN() != "one" {
		t.Fatal("first certificate not loaded")
	}

	c2, k2 := selfSigned(t, "two")
	write("tls.crt", c2)
	// The key is not written yet: the pair does not match.
	if err := fc.reload(); err == nil || !strings.Contains(err.Error(), "tls.crt") {
		t.Fatalf("mismatched pair: %v", err)
	}
	if leafCN() != "one" {
		t.Fatal("a broken update replaced the good credentials")
	}
	write("tls.key", k2)
	if err := fc.reload(); err != nil {
		t.Fatal(err)
	}
	if leafCN() != "two" {
		t.Fatal("renewed certificate not picked up")
	}
	write("ca.crt", []byte("garbage"))
	if err := fc.reload(); err == nil || !strings.Contains(err.Error(), "ca.crt: no PEM certificate") {
		t.Fatalf("bad bundle: %v", err)
	}
}
