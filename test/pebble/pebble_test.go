package pebble

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The harness's Version and the tools module's pin must agree: the cache
// directory is named after Version, the build uses go.mod.
func TestToolsModulePinsVersion(t *testing.T) {
	dir, err := ToolsDir()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	want := "github.com/letsencrypt/pebble/v2 " + Version
	if !strings.Contains(string(b), want) {
		t.Errorf("test/pebble/tools/go.mod does not require %s:\n%s", want, b)
	}
}

// Start serves the ACME directory over HTTPS verified by CACertPEM, with
// ARI, and the DNS server resolves any name to 127.0.0.1.
func TestStartServesDirectoryAndDNS(t *testing.T) {
	s := Start(t, Options{})

	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CACertPEM) {
		t.Fatal("CACertPEM holds no certificate")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(s.DirectoryURL)
	if err != nil {
		t.Fatalf("GET %s: %v", s.DirectoryURL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", s.DirectoryURL, resp.Status, body)
	}
	var dir map[string]any
	if err := json.Unmarshal(body, &dir); err != nil {
		t.Fatalf("directory is not JSON: %v: %s", err, body)
	}
	for _, k := range []string{"newAccount", "newNonce", "newOrder", "renewalInfo"} {
		if u, _ := dir[k].(string); !strings.HasPrefix(u, "https://127.0.0.1:") {
			t.Errorf("directory %s = %v, want an https://127.0.0.1 URL (directory: %s)", k, dir[k], body)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range []string{"anything.example.com.", "www.edgeway.test.", "a.b.c.invalid."} {
		addrs, err := s.Resolver().LookupHost(ctx, name)
		if err != nil {
			t.Errorf("resolving %s at %s: %v", name, s.DNSAddress, err)
			continue
		}
		if !slices.Equal(addrs, []string{"127.0.0.1"}) {
			t.Errorf("%s resolves to %v, want [127.0.0.1]", name, addrs)
		}
	}

	if roots := s.IssuerRootsPEM(t); !bytes.Contains(roots, []byte("BEGIN CERTIFICATE")) {
		t.Errorf("IssuerRootsPEM = %q, want a PEM certificate", roots)
	}
	if !strings.Contains(s.Logs(), "pebble: ") || !strings.Contains(s.Logs(), "pebble-challtestsrv: ") {
		t.Errorf("Logs() lacks one of the servers' output:\n%s", s.Logs())
	}
}
