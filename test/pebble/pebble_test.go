package pebble

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
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

// The adapter speaks lego's httpreq protocol: records set through it are
// served by the DNS server Pebble asks, several values on one name
// coexist, and /cleanup removes exactly one.
func TestHTTPReqAdapterSetsTXT(t *testing.T) {
	s := Start(t, Options{})
	post := func(path string, body string) {
		t.Helper()
		resp, err := http.Post(s.HTTPReqEndpoint()+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s %s: %s: %s", path, body, resp.Status, b)
		}
	}
	txt := func(name string) []string {
		t.Helper()
		v := s.LookupTXT(t, name)
		slices.Sort(v)
		return v
	}
	const name = "_acme-challenge.adapter.edgeway.test."

	post("/present", `{"fqdn":"`+name+`","value":"one"}`)
	post("/present", `{"fqdn":"_acme-challenge.Adapter.edgeway.test","value":"two"}`)
	if got := txt(name); !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("TXT %s = %q after presenting one and two, want both", name, got)
	}
	post("/cleanup", `{"fqdn":"`+name+`","value":"one"}`)
	if got := txt(name); !slices.Equal(got, []string{"two"}) {
		t.Fatalf("TXT %s = %q after cleaning up one, want [two]", name, got)
	}
	post("/cleanup", `{"fqdn":"`+name+`","value":"two"}`)
	if got := txt(name); len(got) != 0 {
		t.Fatalf("TXT %s = %q after cleaning up both, want none", name, got)
	}

	// RAW mode: the adapter derives the record as lego does.
	post("/present", `{"domain":"raw.edgeway.test","token":"tok","keyAuth":"tok.thumbprint"}`)
	sum := sha256.Sum256([]byte("tok.thumbprint"))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	if got := txt("_acme-challenge.raw.edgeway.test."); !slices.Equal(got, []string{want}) {
		t.Fatalf("TXT after a RAW present = %q, want [%s]", got, want)
	}

	resp, err := http.Post(s.HTTPReqEndpoint()+"/present", "application/json", strings.NewReader(`{"fqdn":"x."}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("present without a value: %s, want 400 Bad Request", resp.Status)
	}
}

// The servers stop when the test that started them ends.
func TestServersStopWithTheTest(t *testing.T) {
	var s *Server
	t.Run("start", func(t *testing.T) { s = Start(t, Options{}) })
	for _, addr := range []string{
		strings.TrimPrefix(strings.TrimSuffix(s.DirectoryURL, "/dir"), "https://"),
		strings.TrimPrefix(s.ManagementURL, "https://"),
		strings.TrimPrefix(s.ChallTestSrvURL, "http://"),
		strings.TrimPrefix(s.HTTPReqEndpoint(), "http://"),
		s.DNSAddress,
	} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the test ended", addr)
		}
	}
}

// A tools module that cannot build fails with the command, the reason and
// what to do, not a bare exit status. (An empty go.sum: go build refuses
// before it touches the network.)
func TestBuildFailureIsExplained(t *testing.T) {
	tools := t.TempDir()
	if err := os.WriteFile(filepath.Join(tools, "go.mod"), []byte("module example.com/broken\n\ngo 1.26\n\nrequire github.com/letsencrypt/pebble/v2 "+Version+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tools, "go.sum"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := buildIn(tools, t.TempDir())
	if err == nil {
		t.Fatal("building with an empty go.sum succeeded")
	}
	for _, want := range []string{"building Pebble " + Version + " failed", "go build -mod=readonly", "go.sum", "missing go.sum entry"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
