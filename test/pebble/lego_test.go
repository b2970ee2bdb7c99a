package pebble

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/edgeway/edgeway/test/testport"

	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/go-acme/lego/v4/challenge/http01"
	"github.com/go-acme/lego/v4/challenge/tlsalpn01"
	"github.com/go-acme/lego/v4/lego"
	"github.com/go-acme/lego/v4/providers/dns/httpreq"
	"github.com/go-acme/lego/v4/registration"
)

// The best proof of the harness: lego, unmodified, gets a certificate from
// Pebble through each challenge type, answered on the ports the harness
// told Pebble to validate on, and the certificate verifies against
// IssuerRootsPEM when served over TLS.

func TestIssueHTTP01(t *testing.T) {
	port := freePort(t)
	const validity = 90 * time.Second
	s := Start(t, Options{HTTPPort: port, Validity: validity})
	client := newLegoClient(t, s)
	if err := client.Challenge.SetHTTP01Provider(http01.NewProviderServer("127.0.0.1", strconv.Itoa(port))); err != nil {
		t.Fatal(err)
	}
	leaf, res := obtain(t, s, client, "www.edgeway.test")

	// Options.Validity reaches the certificate (Pebble: NotAfter = NotBefore
	// + validity - 1s).
	if got := leaf.NotAfter.Sub(leaf.NotBefore); got != validity-time.Second {
		t.Errorf("certificate lifetime = %v, want %v (Options.Validity - 1s)", got, validity-time.Second)
	}

	// ARI as the package doc describes it: for a short lifetime the window
	// is the whole lifetime; SetRenewalInfo overrides it.
	ri, err := client.Certificate.GetRenewalInfo(certificate.RenewalInfoRequest{Cert: leaf})
	if err != nil {
		t.Fatalf("GetRenewalInfo: %v", err)
	}
	if w := ri.SuggestedWindow; !w.Start.Equal(leaf.NotBefore) || !w.End.Equal(leaf.NotAfter) {
		t.Errorf("ARI window = [%v, %v], want the whole lifetime [%v, %v]", w.Start, w.End, leaf.NotBefore, leaf.NotAfter)
	}
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	end := start.Add(10 * time.Second)
	s.SetRenewalInfo(t, res.Certificate, start, end)
	ri, err = client.Certificate.GetRenewalInfo(certificate.RenewalInfoRequest{Cert: leaf})
	if err != nil {
		t.Fatalf("GetRenewalInfo after SetRenewalInfo: %v", err)
	}
	if w := ri.SuggestedWindow; !w.Start.Equal(start) || !w.End.Equal(end) {
		t.Errorf("ARI window after SetRenewalInfo = [%v, %v], want [%v, %v]", w.Start, w.End, start, end)
	}
}

func TestIssueTLSALPN01(t *testing.T) {
	port := freePort(t)
	s := Start(t, Options{TLSPort: port})
	client := newLegoClient(t, s)
	if err := client.Challenge.SetTLSALPN01Provider(tlsalpn01.NewProviderServer("127.0.0.1", strconv.Itoa(port))); err != nil {
		t.Fatal(err)
	}
	leaf, _ := obtain(t, s, client, "tls.edgeway.test")
	// Validity 0: Pebble's default of 90 days.
	if got := leaf.NotAfter.Sub(leaf.NotBefore); got != 90*24*time.Hour-time.Second {
		t.Errorf("certificate lifetime = %v, want Pebble's default 90 days - 1s", got)
	}
}

// DNS-01 through lego's real httpreq provider and the harness's adapter;
// a wildcard and its base domain put two TXT values on one name at once.
func TestIssueDNS01(t *testing.T) {
	s := Start(t, Options{})
	client := newLegoClient(t, s)
	cfg := httpreq.NewDefaultConfig()
	var err error
	if cfg.Endpoint, err = url.Parse(s.HTTPReqEndpoint()); err != nil {
		t.Fatal(err)
	}
	cfg.PollingInterval = 200 * time.Millisecond
	provider, err := httpreq.NewDNSProviderConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Challenge.SetDNS01Provider(provider,
		// lego's propagation check asks these (a process-wide setting in
		// lego): challtestsrv, since the names are not real.
		dns01.AddRecursiveNameservers([]string{s.DNSAddress}),
		// The authoritative check would look up NS records challtestsrv
		// does not serve.
		dns01.DisableAuthoritativeNssPropagationRequirement(),
	); err != nil {
		t.Fatal(err)
	}
	obtain(t, s, client, "dns.edgeway.test", "*.dns.edgeway.test")

	// lego cleaned up through the adapter: no TXT record is left.
	if txt := s.LookupTXT(t, "_acme-challenge.dns.edgeway.test."); len(txt) > 0 {
		t.Errorf("TXT records left after the order: %q", txt)
	}
}

// obtain orders a certificate for domains, checks it verifies against
// IssuerRootsPEM for each domain and that a TLS server using it completes a
// handshake with a client trusting only those roots.
func obtain(t *testing.T, s *Server, client *lego.Client, domains ...string) (*x509.Certificate, *certificate.Resource) {
	t.Helper()
	res, err := client.Certificate.Obtain(certificate.ObtainRequest{Domains: domains, Bundle: true})
	if err != nil {
		t.Fatalf("obtaining a certificate for %v: %v", domains, err)
	}
	var chain []*x509.Certificate
	for rest := res.Certificate; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	if len(chain) < 2 {
		t.Fatalf("bundle has %d certificates, want the leaf and its issuer", len(chain))
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	roots := s.IssuerRoots(t)
	for _, d := range domains {
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: d}); err != nil {
			t.Errorf("certificate does not verify for %s against IssuerRootsPEM: %v", d, err)
		}
	}

	kp, err := tls.X509KeyPair(res.Certificate, res.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{kp}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	name := domains[0]
	c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: roots, ServerName: name})
	if err != nil {
		t.Fatalf("TLS handshake for %s with the issued certificate, trusting IssuerRootsPEM: %v", name, err)
	}
	c.Close()
	return chain[0], res
}

type legoUser struct {
	key crypto.PrivateKey
	reg *registration.Resource
}

func (u *legoUser) GetEmail() string                        { return "" }
func (u *legoUser) GetRegistration() *registration.Resource { return u.reg }
func (u *legoUser) GetPrivateKey() crypto.PrivateKey        { return u.key }

// newLegoClient registers a new account with s and returns its client.
func newLegoClient(t *testing.T, s *Server) *lego.Client {
	t.Helper()
	client, user := newUnregisteredLegoClient(t, s)
	var err error
	if user.reg, err = client.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
		t.Fatalf("registering an account: %v", err)
	}
	return client
}

// newUnregisteredLegoClient returns a client for s with a new account key
// that is not registered yet; set the user's reg once it is.
func newUnregisteredLegoClient(t *testing.T, s *Server) (*lego.Client, *legoUser) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	user := &legoUser{key: key}
	cfg := lego.NewConfig(user)
	cfg.CADirURL = s.DirectoryURL
	cfg.Certificate.KeyType = certcrypto.EC256
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CACertPEM)
	cfg.HTTPClient = &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	client, err := lego.NewClient(cfg)
	if err != nil {
		t.Fatalf("lego client for %s: %v", s.DirectoryURL, err)
	}
	return client, user
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// freePort is a loopback port to name before its listener starts, one the
// kernel gives to no port-0 bind (testport).
func freePort(t *testing.T) int {
	t.Helper()
	p, err := testport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
