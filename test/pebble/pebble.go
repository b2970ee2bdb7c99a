// Package pebble runs a real ACME CA for tests: Pebble
// (github.com/letsencrypt/pebble/v2, see Version) and its challenge test
// server pebble-challtestsrv, built from the Go module proxy through the
// nested tools module test/pebble/tools (so Pebble's dependencies never enter
// edgeway's go.mod) and cached under os.UserCacheDir()/edgeway/pebble.
//
// Everything listens on 127.0.0.1 on free ports: Pebble's ACME directory
// (HTTPS, with a certificate from a CA generated per Start, see
// Server.CACertPEM) and its management API, and challtestsrv's DNS server and
// management API. challtestsrv's own HTTP-01/TLS-ALPN-01/DoH responders are
// disabled: the code under test answers the challenges itself, on
// Options.HTTPPort and Options.TLSPort, which Pebble's validation authority
// dials on 127.0.0.1 because challtestsrv resolves every name to 127.0.0.1.
//
// Pebble runs with PEBBLE_VA_NOSLEEP=1 (no random delay before validating),
// PEBBLE_WFE_NONCEREJECT=0 (no deliberately rejected nonces) and
// PEBBLE_AUTHZREUSE=0 (every order runs its challenges; no valid
// authorization is reused), so tests are deterministic and each order really
// exercises a challenge.
//
// # Certificates Pebble issues
//
// Pebble generates a new root and intermediate at every start (ECDSA keys);
// Server.IssuerRootsPEM returns the root. Issued certificates are valid for
// Options.Validity (Pebble v2.10.1 configures it per profile; the harness
// defines one profile, "default", so an order naming no profile gets it;
// NotAfter = NotBefore + Validity - 1s), or 90 days when it is zero.
//
// # ARI (ACME Renewal Information)
//
// Pebble v2.10.1 serves ARI: its directory has "renewalInfo"
// (/draft-ietf-acme-ari-03/renewalInfo) and it answers GET renewalInfo/<certID>
// with a suggested window computed from the certificate alone (RenewalInfoSimple
// in Pebble's core package): with L = NotAfter + 1s - NotBefore, the ideal
// renewal time is NotAfter - L/3 and the window is that time ± 24 h, clamped
// to [NotBefore, NotAfter] (for a revoked certificate: a one-second window an
// hour ago, i.e. renew now). For any lifetime under ~3 days the window is
// therefore the whole lifetime [NotBefore, NotAfter], and a client that picks
// a random time in it (as RFC 9773 suggests) may renew at once or just before
// expiry. Tests that need a particular window set it with
// Server.SetRenewalInfo (Pebble's /set-renewal-info management endpoint).
// Pebble sends "Retry-After: 21600" (6 h) with every renewalInfo answer,
// overridden or not: a client that waits that long before asking again
// must still renew within the window it already has (a 90 s certificate
// expires long before).
//
// # DNS-01
//
// Server.HTTPReqEndpoint is an adapter speaking the protocol of lego's
// httpreq DNS provider (github.com/go-acme/lego/v4/providers/dns/httpreq):
// POST /present and /cleanup with {"fqdn","value"} (or, in RAW mode,
// {"domain","token","keyAuth"}); it sets and clears TXT records in
// challtestsrv, which Pebble queries (-dnsserver Server.DNSAddress). lego's
// own propagation check must ask Server.DNSAddress too, and only it:
// dns01.AddRecursiveNameservers([]string{s.DNSAddress}) (the names are not
// real, and lego would otherwise ask the system's resolvers), and
// dns01.DisableAuthoritativeNssPropagationRequirement() (challtestsrv serves
// no NS records). AddRecursiveNameservers sets a process-wide variable in
// lego: DNS-01 tests against different Servers in one test binary must not
// run in parallel.
//
// # External account binding
//
// With Options.EABKeys Pebble requires an external account binding on
// every newAccount request (its directory says "externalAccountRequired":
// true) and refuses one without it with the problem externalAccountRequired,
// one with an unknown kid or a MAC that does not verify with the kid's key
// with unauthorized. lego binds with registration.RegisterEABOptions{Kid,
// HmacEncoded} and Registrar.RegisterWithExternalAccountBinding.
//
// # Timing
//
// Pebble sends no Retry-After with a challenge it starts validating, so
// lego polls the authorization after its default 5 s (with jitter: 2.5-7.5
// s): every authorization of an order costs a few seconds of waiting even
// though Pebble validates at once.
package pebble

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/test/testport"
)

// Options configures one Pebble.
type Options struct {
	// HTTPPort is the port on 127.0.0.1 Pebble validates HTTP-01 challenges
	// on. Pebble has no default: with 0 every HTTP-01 validation fails
	// (connection refused), so HTTP-01 tests must set it.
	HTTPPort int
	// TLSPort is the port on 127.0.0.1 Pebble validates TLS-ALPN-01
	// challenges on; as HTTPPort, 0 makes those validations fail.
	TLSPort int
	// Validity is the lifetime of issued certificates (0: Pebble's default,
	// 90 days). Short (e.g. 90s) for renewal tests; whole seconds.
	Validity time.Duration
	// EABKeys, when not empty, makes Pebble require an external account
	// binding (RFC 8555 section 7.3.4) on every newAccount request and
	// accept these MAC keys: key ID -> HMAC key, base64url without padding
	// (as CAs show them; Pebble decodes them with base64.RawURLEncoding and
	// refuses to start otherwise). Pebble signs nothing with them: a
	// binding verifies when its kid is one of these IDs and its HS256/384/512
	// MAC verifies with that key. Nil or empty: no binding required (and
	// one that is sent anyway is refused, since no kid is known).
	EABKeys map[string]string
}

// Server is one running Pebble and challtestsrv. They stop when the test
// ends.
type Server struct {
	// DirectoryURL is the ACME directory: https://127.0.0.1:<port>/dir.
	DirectoryURL string
	// CACertPEM verifies the HTTPS certificate of DirectoryURL and
	// ManagementURL (not the certificates Pebble issues: IssuerRootsPEM).
	CACertPEM []byte
	// ManagementURL is Pebble's management API: https://127.0.0.1:<port>.
	ManagementURL string
	// DNSAddress is challtestsrv's DNS server, "127.0.0.1:<port>" (UDP and
	// TCP): it answers A queries for every name with 127.0.0.1, AAAA with
	// nothing, and TXT with the records set through HTTPReqEndpoint/SetTXT.
	DNSAddress string
	// ChallTestSrvURL is challtestsrv's management API:
	// http://127.0.0.1:<port>.
	ChallTestSrvURL string
	// Dir is the temporary directory holding the configuration.
	Dir string

	client   *http.Client // trusts CACertPEM
	logs     *logBuffer
	httpreq  string
	txtMu    sync.Mutex
	txt      map[string][]string // fqdn -> values set through the adapter
	stopOnce sync.Once
	procs    []*process
	closers  []func() // in-process servers (the httpreq adapter)
}

// startTimeout is generous: the machines that run the tests have 2 shared
// cores, and other test binaries may be building at the same time.
const startTimeout = time.Minute

// startAttempts bounds retries when a server loses the race for a free port
// (ports are chosen by binding :0 and closing, then handed to Pebble).
const startAttempts = 3

// Start builds Pebble if needed (see Version), starts pebble-challtestsrv
// and Pebble on 127.0.0.1, waits until both answer and returns the Server.
// They are stopped in t.Cleanup; if the test failed, their output is logged.
// Start fails the test with the reason (and the servers' output) on any
// error.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Validity < 0 || (o.Validity > 0 && o.Validity < time.Second) {
		t.Fatalf("pebble: Options.Validity %v: want 0 (Pebble's default) or at least 1s", o.Validity)
	}
	for _, p := range []int{o.HTTPPort, o.TLSPort} {
		if p < 0 || p > 65535 {
			t.Fatalf("pebble: Options port %d out of range", p)
		}
	}
	if err := checkEABKeys(o.EABKeys); err != nil {
		t.Fatalf("%v", err)
	}
	bins, err := build()
	if err != nil {
		t.Fatalf("%v", err)
	}
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		s, err := start(t, bins, o)
		if err == nil {
			t.Cleanup(func() {
				s.stop()
				if t.Failed() {
					t.Logf("pebble: output of pebble and pebble-challtestsrv:\n%s", s.Logs())
				}
			})
			return s
		}
		lastErr = err
		var early *exitedError
		if !errors.As(err, &early) {
			break // not a lost port race: retrying would fail the same way
		}
	}
	t.Fatalf("%v", lastErr)
	return nil
}

func start(t testing.TB, bins binaries, o Options) (*Server, error) {
	dir, err := os.MkdirTemp("", "pebble-")
	if err != nil {
		return nil, fmt.Errorf("pebble: %w", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	stls, err := newServerTLS(dir)
	if err != nil {
		return nil, fmt.Errorf("pebble: generating the HTTPS certificate: %w", err)
	}
	// Never o.HTTPPort or o.TLSPort: the caller chose them free and has not
	// bound them yet (its server listens only while a challenge is
	// presented), and the kernel readily hands a just-released port out again.
	ports, err := freePorts(4, o.HTTPPort, o.TLSPort)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(stls.caPEM)
	s := &Server{
		DirectoryURL:    fmt.Sprintf("https://127.0.0.1:%d/dir", ports[0]),
		ManagementURL:   fmt.Sprintf("https://127.0.0.1:%d", ports[1]),
		DNSAddress:      fmt.Sprintf("127.0.0.1:%d", ports[2]),
		ChallTestSrvURL: fmt.Sprintf("http://127.0.0.1:%d", ports[3]),
		CACertPEM:       stls.caPEM,
		Dir:             dir,
		client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		},
		logs: &logBuffer{},
		txt:  map[string][]string{},
	}

	config, err := pebbleConfig(stls, ports[0], ports[1], o)
	if err != nil {
		return nil, err
	}
	configFile := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(configFile, config, 0o644); err != nil {
		return nil, fmt.Errorf("pebble: %w", err)
	}

	cts, err := s.run("pebble-challtestsrv", bins.challTestSrv, nil,
		"-management", fmt.Sprintf("127.0.0.1:%d", ports[3]),
		"-dnsserver", s.DNSAddress,
		// Empty disables: the code under test answers the challenges, and
		// the defaults would bind :5002, :5003, :5001 and :8443 on every
		// interface.
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	if err != nil {
		return nil, err
	}
	if err := s.waitChallTestSrv(cts); err != nil {
		s.stop()
		return nil, err
	}
	peb, err := s.run("pebble", bins.pebble, []string{
		"PEBBLE_VA_NOSLEEP=1",
		"PEBBLE_WFE_NONCEREJECT=0",
		"PEBBLE_AUTHZREUSE=0",
	}, "-config", configFile, "-dnsserver", s.DNSAddress)
	if err != nil {
		s.stop()
		return nil, err
	}
	if err := s.waitPebble(peb); err != nil {
		s.stop()
		return nil, err
	}
	if err := s.startHTTPReq(o.HTTPPort, o.TLSPort); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// pebbleConfig is Pebble's JSON configuration (cmd/pebble's config struct).
func pebbleConfig(stls serverTLS, acmePort, mgmtPort int, o Options) ([]byte, error) {
	type profile struct {
		Description    string `json:"description"`
		ValidityPeriod uint64 `json:"validityPeriod"` // seconds; 0: 90 days
	}
	c := map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", acmePort),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate":                    stls.certFile,
		"privateKey":                     stls.keyFile,
		"httpPort":                       o.HTTPPort,
		"tlsPort":                        o.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": len(o.EABKeys) > 0,
		"externalAccountMACKeys":         o.EABKeys,
		// ECDSA CA keys: generating Pebble's RSA root and intermediate costs
		// a second of a busy core at every start, and clients do not care.
		"keyAlgorithm": "ecdsa",
		// One profile only: Pebble picks a random profile for an order that
		// names none, so every order gets this validity.
		"profiles": map[string]profile{
			"default": {Description: "edgeway tests", ValidityPeriod: uint64(o.Validity / time.Second)},
		},
	}
	b, err := json.MarshalIndent(map[string]any{"pebble": c}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("pebble: %w", err)
	}
	return b, nil
}

// checkEABKeys refuses what Pebble would refuse at startup (it exits,
// and Start would only see a server that did not come up): an empty key
// ID or key, or a key that is not unpadded base64url.
func checkEABKeys(keys map[string]string) error {
	for kid, key := range keys {
		if kid == "" || key == "" {
			return fmt.Errorf("pebble: Options.EABKeys: key ID %q with key %q: neither may be empty", kid, key)
		}
		if _, err := base64.RawURLEncoding.DecodeString(key); err != nil {
			return fmt.Errorf("pebble: Options.EABKeys[%q]: %v; the HMAC key must be base64url without padding (base64.RawURLEncoding), as Pebble decodes it", kid, err)
		}
	}
	return nil
}

// process is one running server.
type process struct {
	name   string
	cmd    *exec.Cmd
	out    *lineWriter
	exited chan struct{} // closed when the process has exited
	err    error         // Wait's result, set before exited is closed
}

// exitedError reports a server that exited during start or could not bind
// one of its ports (it lost a free port to another process); Start retries
// with new ports.
type exitedError struct {
	name string
	err  error
	logs string
}

func (e *exitedError) Error() string {
	return fmt.Sprintf("pebble: %s failed to start (%v); its output:\n%s", e.name, e.err, e.logs)
}

func (s *Server) run(name, bin string, env []string, args ...string) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), env...)
	w := s.logs.writer(name)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pebble: starting %s: %w", bin, err)
	}
	p := &process{name: name, cmd: cmd, out: w, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	s.procs = append(s.procs, p)
	return p, nil
}

// stop kills the servers and waits for them.
func (s *Server) stop() {
	s.stopOnce.Do(func() {
		for _, c := range s.closers {
			c()
		}
		for _, p := range s.procs {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

// waitFor polls ready until it succeeds, p exits or startTimeout passes.
func (s *Server) waitFor(p *process, what string, ready func(ctx context.Context) error) error {
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := ready(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return &exitedError{name: p.name, err: p.err, logs: s.Logs()}
		default:
		}
		if p.out.lostPort() {
			return &exitedError{name: p.name, err: errors.New("a listener's port was taken"), logs: s.Logs()}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pebble: %s not ready after %v: %v; output so far:\n%s", what, startTimeout, err, s.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitChallTestSrv waits until the DNS server answers an A query and the
// management API accepts connections.
func (s *Server) waitChallTestSrv(p *process) error {
	return s.waitFor(p, "pebble-challtestsrv", func(ctx context.Context) error {
		addrs, err := s.Resolver().LookupHost(ctx, "ready.pebble.test.")
		if err != nil {
			return err
		}
		if len(addrs) != 1 || addrs[0] != "127.0.0.1" {
			return fmt.Errorf("DNS answered %v for ready.pebble.test, want [127.0.0.1]", addrs)
		}
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", strings.TrimPrefix(s.ChallTestSrvURL, "http://"))
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// waitPebble waits until the ACME directory and the management API (the
// root certificate) are served over HTTPS.
func (s *Server) waitPebble(p *process) error {
	return s.waitFor(p, "pebble", func(ctx context.Context) error {
		if _, err := s.get(ctx, s.DirectoryURL); err != nil {
			return err
		}
		_, err := s.get(ctx, s.ManagementURL+"/roots/0")
		return err
	})
}

// get fetches url over the client that trusts CACertPEM and returns the
// body of a 200 response.
func (s *Server) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}

// post sends body as JSON to url and wants a 200.
func (s *Server) post(ctx context.Context, url string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %s", url, resp.Status, bytes.TrimSpace(rb))
	}
	return nil
}

// HTTPClient returns a client that trusts CACertPEM (for DirectoryURL and
// ManagementURL).
func (s *Server) HTTPClient() *http.Client { return s.client }

// Resolver returns a resolver that asks challtestsrv (DNSAddress) only.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, s.DNSAddress)
		},
	}
}

// IssuerRootsPEM returns the root certificate (PEM) that certificates Pebble
// issues chain to, from the management API. It is generated at every start.
func (s *Server) IssuerRootsPEM(t testing.TB) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := s.get(ctx, s.ManagementURL+"/roots/0")
	if err != nil {
		t.Fatalf("pebble: fetching the issuer root: %v", err)
	}
	return b
}

// IssuerRoots returns IssuerRootsPEM as a pool, ready for tls.Config.RootCAs.
func (s *Server) IssuerRoots(t testing.TB) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.IssuerRootsPEM(t)) {
		t.Fatalf("pebble: the management API returned no PEM certificate for the root")
	}
	return pool
}

// SetRenewalInfo makes Pebble's ARI answer for the certificate (the first
// PEM block of certPEM, e.g. a full chain) suggest the window [start, end]
// instead of its computed one (see the package doc).
func (s *Server) SetRenewalInfo(t testing.TB, certPEM []byte, start, end time.Time) {
	t.Helper()
	ri, err := json.Marshal(map[string]any{"suggestedWindow": map[string]string{
		"start": start.UTC().Format(time.RFC3339Nano),
		"end":   end.UTC().Format(time.RFC3339Nano),
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.post(ctx, s.ManagementURL+"/set-renewal-info/", map[string]string{
		"certificate": string(certPEM),
		"ariResponse": string(ri),
	}); err != nil {
		t.Fatalf("pebble: setting the renewal info: %v", err)
	}
}

// SetTXT adds a TXT record value for fqdn to challtestsrv (beside any
// others for the same name).
func (s *Server) SetTXT(t testing.TB, fqdn, value string) {
	t.Helper()
	if err := s.presentTXT(context.Background(), fqdn, value); err != nil {
		t.Fatalf("pebble: %v", err)
	}
}

// ClearTXT removes one TXT record value of fqdn from challtestsrv.
func (s *Server) ClearTXT(t testing.TB, fqdn, value string) {
	t.Helper()
	if err := s.cleanupTXT(context.Background(), fqdn, value); err != nil {
		t.Fatalf("pebble: %v", err)
	}
}

// Logs returns pebble's and pebble-challtestsrv's output so far, each line
// prefixed with the server's name.
func (s *Server) Logs() string { return s.logs.String() }

// freePorts returns n distinct free ports on 127.0.0.1, none of them in
// exclude, below the kernel's ephemeral range (testport), so no port-0 bind
// of another process takes one before pebble binds it.
func freePorts(n int, exclude ...int) ([]int, error) {
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100 {
			return nil, errors.New("pebble: no free port on 127.0.0.1 after 100 tries")
		}
		port, err := testport.Pick()
		if err != nil {
			return nil, fmt.Errorf("pebble: finding a free port: %w", err)
		}
		if !slices.Contains(exclude, port) {
			ports = append(ports, port)
		}
	}
	return ports, nil
}
