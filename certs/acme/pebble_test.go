package acme

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/test/pebble"
)

// These tests run the manager against a real ACME CA (Pebble). The
// challenges are answered the way the data plane answers them: a server
// that reads the state Secrets from the FileStore on every request (HTTP-01
// on the port Pebble validates on; TLS-ALPN-01 presenting the challenge
// certificate for ALPN acme-tls/1).

// orderWait bounds one order against Pebble: lego polls an authorization
// after ~5s, and the machine is shared.
const orderWait = 90 * time.Second

// states are the ACME states in the store.
func states(store *FileStore) []*snapshot.ACMEState {
	all, err := store.Secrets()
	if err != nil {
		return nil
	}
	var out []*snapshot.ACMEState
	for _, s := range all {
		if s.Labels[snapshot.ACMEStateLabel] != "true" {
			continue
		}
		if st, err := snapshot.DecodeACMEState(s); err == nil {
			out = append(out, st)
		}
	}
	return out
}

// serveHTTP01 answers HTTP-01 challenges on ln from the store's state
// Secrets, like the data plane's challenge routes.
func serveHTTP01(t *testing.T, store *FileStore, ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.URL.Path, "/.well-known/acme-challenge/")
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if ok {
			for _, st := range states(store) {
				for _, c := range st.HTTP01 {
					if c.Domain == host && c.Token == token {
						w.Write([]byte(c.KeyAuthorization))
						return
					}
				}
			}
		}
		http.NotFound(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// serveTLSALPN01 answers TLS-ALPN-01 challenges on ln from the store's
// state Secrets, like the data plane's challenge chains.
func serveTLSALPN01(t *testing.T, store *FileStore, ln net.Listener) {
	cfg := &tls.Config{
		NextProtos: []string{"acme-tls/1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if !slices.Contains(hello.SupportedProtos, "acme-tls/1") {
				return nil, errors.New("this test server only answers acme-tls/1")
			}
			for _, st := range states(store) {
				for _, c := range st.TLSALPN01 {
					if c.Domain == hello.ServerName {
						pair, err := tls.X509KeyPair([]byte(c.Certificate), []byte(c.PrivateKey))
						return &pair, err
					}
				}
			}
			return nil, fmt.Errorf("no TLS-ALPN-01 challenge for %q", hello.ServerName)
		},
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				tc := tls.Server(conn, cfg)
				tc.SetDeadline(time.Now().Add(10 * time.Second))
				_ = tc.Handshake()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
}

func listen(t *testing.T) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, ln.Addr().(*net.TCPAddr).Port
}

func pebbleCertificate(s *pebble.Server, challenge v1alpha1.ACMEChallengeType, secret string, domains ...string) snapshot.ACMECertificate {
	is := &v1alpha1.ACMEIssuer{Spec: v1alpha1.ACMEIssuerSpec{
		DirectoryURL:         s.DirectoryURL,
		Email:                "ops@edgeway.test",
		TermsOfServiceAgreed: true,
		Challenge:            challenge,
	}}
	is.Namespace, is.Name = "apps", "pebble"
	return snapshot.ACMECertificate{
		Secret:   types.NamespacedName{Namespace: "apps", Name: secret},
		Issuer:   is,
		Domains:  domains,
		Gateways: []string{"apps/web"},
		CABundle: s.CACertPEM,
	}
}

func newStore(t *testing.T, dir string) *FileStore {
	t.Helper()
	store, err := NewFileStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func ready(st *snapshot.ACMEState) bool { return st.Phase == snapshot.ACMEReady }

// checkCertificate verifies the certificate Secret and serves HTTPS with
// it: a client trusting only Pebble's root accepts it for every domain.
func checkCertificate(t *testing.T, s *pebble.Server, store *FileStore, c snapshot.ACMECertificate) *corev1.Secret {
	t.Helper()
	sec, err := store.Get(context.Background(), c.Secret)
	if err != nil || sec == nil {
		t.Fatalf("certificate Secret %s: %v, %v", c.Secret, sec, err)
	}
	if sec.Type != corev1.SecretTypeTLS {
		t.Errorf("type = %s, want kubernetes.io/tls", sec.Type)
	}
	if got := sec.Annotations[snapshot.ACMEIssuerAnnotation]; got != "apps/pebble" {
		t.Errorf("%s = %q, want apps/pebble", snapshot.ACMEIssuerAnnotation, got)
	}
	if got, want := sec.Annotations[snapshot.ACMEDomainsAnnotation], strings.Join(c.Domains, ","); got != want {
		t.Errorf("%s = %q, want %q", snapshot.ACMEDomainsAnnotation, got, want)
	}
	chain, err := certcrypto.ParsePEMBundle(sec.Data[corev1.TLSCertKey])
	if err != nil || len(chain) < 2 {
		t.Errorf("tls.crt: %d certificates, %v; want the full chain (leaf and intermediate)", len(chain), err)
	}
	// The files a VM user expects, equal to the Secret.
	for _, k := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
		b, err := os.ReadFile(filepath.Join(store.CertDir(c.Secret), k))
		if err != nil || !bytes.Equal(b, sec.Data[k]) {
			t.Errorf("%s in %s differs from the Secret (%v)", k, store.CertDir(c.Secret), err)
		}
	}

	pair, err := tls.X509KeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		t.Fatalf("tls.crt/tls.key: %v", err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello over ACME") })}
	go srv.Serve(ln)
	defer srv.Close()
	roots := s.IssuerRoots(t)
	for _, d := range c.Domains {
		name := strings.Replace(d, "*", "anything", 1)
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: name},
		}}
		resp, err := client.Get("https://" + ln.Addr().String() + "/")
		if err != nil {
			t.Errorf("HTTPS for %s with the issued certificate: %v", name, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("HTTPS for %s: status %d", name, resp.StatusCode)
		}
	}
	return sec
}

func TestPebbleHTTP01AndAccountReuse(t *testing.T) {
	t.Parallel()
	ln, port := listen(t)
	s := pebble.Start(t, pebble.Options{HTTPPort: port})
	dir := t.TempDir()
	store := newStore(t, dir)
	serveHTTP01(t, store, ln)

	a := pebbleCertificate(s, v1alpha1.ACMEChallengeHTTP01, "a-tls", "a.edgeway.test", "www.a.edgeway.test")
	a.HTTP01Addresses = []string{fmt.Sprintf("127.0.0.1:%d", port)}
	m1 := startManager(t, Options{Store: store})
	m1.Sync([]snapshot.ACMECertificate{a})
	st := waitState(t, store, a.Secret, orderWait, "Ready", ready)
	if st.Reason != ReasonIssued || st.Failures != 0 || st.NotAfter == nil || st.RenewAt == nil || len(st.HTTP01) != 0 {
		t.Errorf("state after issuance = %+v; want Issued, no failures, NotAfter and RenewAt, no challenge left", st)
	}
	for _, w := range []string{"a.edgeway.test, www.a.edgeway.test", "issued by"} {
		if !strings.Contains(st.Message, w) {
			t.Errorf("message %q does not contain %q", st.Message, w)
		}
	}
	checkCertificate(t, s, store, a)
	if got := testutil.ToFloat64(m1.metrics.orders.WithLabelValues("apps", "a-tls", "apps/pebble", kindIssue)); got != 1 {
		t.Errorf("edgeway_acme_orders_total{kind=issue} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m1.metrics.expiry.WithLabelValues("apps", "a-tls", "apps/pebble")); got != float64(st.NotAfter.Unix()) {
		t.Errorf("edgeway_acme_certificate_expiry_timestamp_seconds = %v, want NotAfter %v", got, st.NotAfter.Unix())
	}
	if n, err := testutil.GatherAndCount(m1.reg, "edgeway_acme_order_failures_total"); err != nil || n != 0 {
		t.Errorf("failure series after a clean issuance: %d (%v), want 0", n, err)
	}
	if e := m1.events.find(ReasonIssued); e == nil || e.Warning || !slices.Equal(e.Gateways, []string{"apps/web"}) {
		t.Errorf("Issued event = %+v", e)
	}

	acctRef := types.NamespacedName{Namespace: "apps", Name: "pebble-acme-account"}
	acct, err := store.Get(context.Background(), acctRef)
	if err != nil || acct == nil {
		t.Fatalf("account Secret %s: %v, %v", acctRef, acct, err)
	}
	if acct.Labels[AccountLabel] != "true" || len(acct.Data["key.pem"]) == 0 || len(acct.Data["registration.json"]) == 0 {
		t.Errorf("account Secret = labels %v, keys %v", acct.Labels, slices.Sorted(func(yield func(string) bool) {
			for k := range acct.Data {
				if !yield(k) {
					return
				}
			}
		}))
	}

	// A restart: a second manager on the same state directory keeps the
	// certificate it finds and orders the new one with the same account.
	m1.stop(t)
	store2 := newStore(t, dir)
	b := pebbleCertificate(s, v1alpha1.ACMEChallengeHTTP01, "b-tls", "b.edgeway.test")
	b.HTTP01Addresses = a.HTTP01Addresses
	m2 := startManager(t, Options{Store: store2})
	m2.Sync([]snapshot.ACMECertificate{a, b})
	waitState(t, store2, b.Secret, orderWait, "Ready", ready)
	checkCertificate(t, s, store2, b)
	deadline := time.Now().Add(30 * time.Second)
	for testutil.ToFloat64(m2.metrics.expiry.WithLabelValues("apps", "a-tls", "apps/pebble")) != float64(st.NotAfter.Unix()) {
		if time.Now().After(deadline) {
			t.Fatal("the second manager did not look at the first certificate (no expiry metric)")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := testutil.ToFloat64(m2.metrics.orders.WithLabelValues("apps", "a-tls", "apps/pebble", kindIssue)); got != 0 {
		t.Errorf("the second manager ordered the valid certificate again (%v orders)", got)
	}
	acct2, _ := store2.Get(context.Background(), acctRef)
	if acct2 == nil || !bytes.Equal(acct2.Data["key.pem"], acct.Data["key.pem"]) || !bytes.Equal(acct2.Data["registration.json"], acct.Data["registration.json"]) {
		t.Errorf("the second manager replaced the account Secret (a new registration); want the first one reused")
	}
}

func TestPebbleTLSALPN01(t *testing.T) {
	t.Parallel()
	ln, port := listen(t)
	s := pebble.Start(t, pebble.Options{TLSPort: port})
	store := newStore(t, t.TempDir())
	serveTLSALPN01(t, store, ln)
	c := pebbleCertificate(s, v1alpha1.ACMEChallengeTLSALPN01, "alpn-tls", "alpn.edgeway.test")
	c.TLSALPN01Addresses = []string{fmt.Sprintf("127.0.0.1:%d", port)}
	c.Issuer.Spec.KeyType = v1alpha1.ACMEKeyRSA2048
	c.Issuer.Spec.Profile = "default" // the harness's only profile
	// A profile the CA does not offer fails the order with a hint.
	bad := pebbleCertificate(s, v1alpha1.ACMEChallengeTLSALPN01, "bad-profile-tls", "bad.edgeway.test")
	bad.Issuer.Spec.Profile = "no-such-profile"
	m := startManager(t, Options{Store: store})
	m.Sync([]snapshot.ACMECertificate{c, bad})
	st := waitState(t, store, c.Secret, orderWait, "Ready", ready)
	if st.Reason != ReasonIssued || len(st.TLSALPN01) != 0 {
		t.Errorf("state = %+v; want Issued without challenges left", st)
	}
	st = waitState(t, store, bad.Secret, orderWait, "Failed", func(st *snapshot.ACMEState) bool { return st.Phase == snapshot.ACMEFailed })
	if st.Reason != ReasonOrderFailed || !strings.Contains(st.Message, "no-such-profile") || !strings.Contains(st.Message, "spec.profile") {
		t.Errorf("state with an unknown profile = %+v; want OrderFailed naming the profile and spec.profile", st)
	}
	sec := checkCertificate(t, s, store, c)
	if k, err := certcrypto.ParsePEMPrivateKey(sec.Data[corev1.TLSPrivateKeyKey]); err != nil || fmt.Sprintf("%T", k) != "*rsa.PrivateKey" {
		t.Errorf("tls.key is %T (%v), want RSA (spec.keyType RSA2048)", k, err)
	}
}

func TestPebbleDNS01Wildcard(t *testing.T) {
	t.Parallel()
	s := pebble.Start(t, pebble.Options{})
	store := newStore(t, t.TempDir())
	c := pebbleCertificate(s, v1alpha1.ACMEChallengeDNS01, "dns-tls", "*.dns.edgeway.test", "dns.edgeway.test")
	c.Issuer.Spec.DNS01 = &v1alpha1.ACMEDNS01{
		Provider:           "httpreq",
		Nameservers:        []string{s.DNSAddress},
		PropagationTimeout: &metav1.Duration{Duration: 30 * time.Second},
	}
	c.DNSCredentials = map[string]string{"HTTPREQ_ENDPOINT": s.HTTPReqEndpoint(), "HTTPREQ_POLLING_INTERVAL": "1"}
	m := startManager(t, Options{Store: store})
	m.Sync([]snapshot.ACMECertificate{c})
	st := waitState(t, store, c.Secret, orderWait, "Ready", ready)
	if st.Reason != ReasonIssued {
		t.Errorf("state = %+v; want Issued", st)
	}
	checkCertificate(t, s, store, c)
	// The TXT records are gone again.
	if got := s.LookupTXT(t, "_acme-challenge.dns.edgeway.test"); len(got) != 0 {
		t.Errorf("TXT _acme-challenge.dns.edgeway.test after issuance = %v, want none", got)
	}
}

func TestPebbleRenewsShortLivedCertificate(t *testing.T) {
	t.Parallel()
	ln, port := listen(t)
	const validity = 60 * time.Second
	s := pebble.Start(t, pebble.Options{HTTPPort: port, Validity: validity})
	store := newStore(t, t.TempDir())
	serveHTTP01(t, store, ln)
	c := pebbleCertificate(s, v1alpha1.ACMEChallengeHTTP01, "short-tls", "short.edgeway.test")
	c.HTTP01Addresses = []string{fmt.Sprintf("127.0.0.1:%d", port)}
	m := startManager(t, Options{Store: store})
	m.Sync([]snapshot.ACMECertificate{c})
	first := waitState(t, store, c.Secret, orderWait, "Ready", ready)
	firstCert := checkCertificate(t, s, store, c)
	// Pebble's ARI window for a short certificate is its whole lifetime;
	// the manager keeps a quarter of the lifetime as margin.
	if first.RenewAt.After(first.NotAfter.Add(-validity/4)) || first.RenewAt.Before(first.NotAfter.Add(-validity-time.Second)) {
		t.Errorf("renewAt %v outside [NotBefore, NotAfter - lifetime/4] (NotAfter %v)", first.RenewAt, first.NotAfter)
	}

	// Nobody calls Sync again: the renewal happens by itself. Pebble's
	// window lets renewAt fall right after the issuance, so the state seen
	// first may already be a renewal's: wait for one after it.
	renewed := waitState(t, store, c.Secret, validity+orderWait, "Renewed", func(st *snapshot.ACMEState) bool {
		return st.Phase == snapshot.ACMEReady && st.Reason == ReasonRenewed && st.NotAfter != nil && st.NotAfter.After(*first.NotAfter)
	})
	if !renewed.NotAfter.After(*first.NotAfter) {
		t.Errorf("NotAfter after renewal %v, want after %v", renewed.NotAfter, first.NotAfter)
	}
	second := checkCertificate(t, s, store, c)
	if bytes.Equal(second.Data[corev1.TLSCertKey], firstCert.Data[corev1.TLSCertKey]) {
		t.Error("the certificate Secret still holds the first certificate")
	}
	if got := testutil.ToFloat64(m.metrics.orders.WithLabelValues("apps", "short-tls", "apps/pebble", kindRenew)); got < 1 {
		t.Errorf("edgeway_acme_orders_total{kind=renew} = %v, want at least 1", got)
	}
	if e := m.events.find(ReasonRenewed); e == nil || e.Warning {
		t.Errorf("Renewed event = %+v", e)
	}
}

func TestPebbleFailingChallengeIsRetried(t *testing.T) {
	t.Parallel()
	// Pebble validates on a port where nothing listens, until the test
	// starts serving there.
	ln, port := listen(t)
	ln.Close()
	s := pebble.Start(t, pebble.Options{HTTPPort: port})
	store := newStore(t, t.TempDir())
	c := pebbleCertificate(s, v1alpha1.ACMEChallengeHTTP01, "fail-tls", "fail.edgeway.test")
	c.HTTP01Addresses = []string{fmt.Sprintf("127.0.0.1:%d", port)}
	c.Issuer.Spec.Retry = &v1alpha1.ACMERetry{
		InitialBackoff: &metav1.Duration{Duration: time.Second},
		MaxBackoff:     &metav1.Duration{Duration: 2 * time.Second},
	}
	m := startManager(t, Options{Store: store, SelfCheckTimeout: time.Second})
	m.Sync([]snapshot.ACMECertificate{c})

	st := waitState(t, store, c.Secret, orderWait, "Failed", func(st *snapshot.ACMEState) bool { return st.Phase == snapshot.ACMEFailed })
	if st.Reason != ReasonChallengeFailed || st.Failures != 1 || st.NextAttempt == nil {
		t.Errorf("state = %+v; want ChallengeFailed, 1 failure, a next attempt", st)
	}
	for _, w := range []string{
		"fail.edgeway.test with HTTP-01",
		"http://fail.edgeway.test/.well-known/acme-challenge/",
		"(connection)", // the CA's problem type
		"own check",    // the self-check failed too
		"port 80 of fail.edgeway.test",
		"next attempt at",
	} {
		if !strings.Contains(st.Message, w) {
			t.Errorf("message does not contain %q:\n%s", w, st.Message)
		}
	}
	if len(st.HTTP01) != 0 {
		t.Errorf("challenges left in the failed state: %+v", st.HTTP01)
	}

	// Retried after the backoff, by itself.
	waitState(t, store, c.Secret, orderWait, "failed twice", func(st *snapshot.ACMEState) bool {
		return st.Phase == snapshot.ACMEFailed && st.Failures >= 2
	})
	if got := testutil.ToFloat64(m.metrics.failures.WithLabelValues("apps", "fail-tls", "apps/pebble", kindIssue, ReasonChallengeFailed)); got < 2 {
		t.Errorf("edgeway_acme_order_failures_total{reason=ChallengeFailed} = %v, want at least 2", got)
	}
	if e := m.events.find(ReasonChallengeFailed); e == nil || !e.Warning {
		t.Errorf("ChallengeFailed event = %+v, want a warning", e)
	}

	// Once the challenge is served, a retry succeeds.
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("listening on the reserved port again: %v", err)
	}
	serveHTTP01(t, store, ln)
	st = waitState(t, store, c.Secret, orderWait, "Ready", ready)
	if st.Failures != 0 || st.NextAttempt != nil {
		t.Errorf("state after recovery = %+v; want failures and next attempt cleared", st)
	}
	checkCertificate(t, s, store, c)
}

// No CA is involved in these: the manager refuses before ordering.
func TestRefusesUnmanagedSecretAndInvalidIssuer(t *testing.T) {
	store := newStore(t, t.TempDir())
	ctx := context.Background()
	if err := store.Put(ctx, tlsSecret("apps", "mine", nil, "USER", "USER")); err != nil {
		t.Fatal(err)
	}
	m := startManager(t, Options{Store: store})

	mine := *testCert(v1alpha1.ACMEChallengeHTTP01, "app.example.com")
	mine.Secret.Name = "mine"
	mine.Issuer.Spec.DirectoryURL = "https://127.0.0.1:1/never-asked"
	wild := *testCert(v1alpha1.ACMEChallengeHTTP01, "*.example.com")
	wild.Secret.Name = "wild"
	m.Sync([]snapshot.ACMECertificate{mine, wild})

	st := waitState(t, store, mine.Secret, 30*time.Second, "Failed", func(st *snapshot.ACMEState) bool { return st.Phase == snapshot.ACMEFailed })
	if st.Reason != ReasonSecretNotManaged || !strings.Contains(st.Message, "delete it") || !strings.Contains(st.Message, "another Secret name") {
		t.Errorf("state = %+v; want SecretNotManaged telling what to do", st)
	}
	got, _ := store.Get(ctx, mine.Secret)
	if string(got.Data[corev1.TLSCertKey]) != "USER" {
		t.Error("the user's Secret was changed")
	}
	st = waitState(t, store, wild.Secret, 30*time.Second, "Failed", func(st *snapshot.ACMEState) bool { return st.Phase == snapshot.ACMEFailed })
	if st.Reason != ReasonInvalidIssuer || !strings.Contains(st.Message, "only challenge DNS01") {
		t.Errorf("state = %+v; want InvalidIssuer about the wildcard", st)
	}
	if n, _ := testutil.GatherAndCount(m.reg, "edgeway_acme_orders_total"); n != 0 {
		t.Errorf("%d order series, want none (nothing may be ordered)", n)
	}

	// A foreign Secret where the issuer's account Secret goes is not
	// overwritten either.
	foreign := &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("hunter2")}}
	foreign.Namespace, foreign.Name = "apps", "other-acme-account"
	if err := store.Put(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	acct := *testCert(v1alpha1.ACMEChallengeHTTP01, "acct.example.com")
	acct.Secret.Name, acct.Issuer.Name = "acct", "other"
	acct.Issuer.Spec.DirectoryURL = "https://127.0.0.1:1/never-asked"
	m.Sync([]snapshot.ACMECertificate{mine, wild, acct})
	st = waitState(t, store, acct.Secret, 30*time.Second, "Failed", func(st *snapshot.ACMEState) bool { return st.Phase == snapshot.ACMEFailed })
	if st.Reason != ReasonAccountFailed || !strings.Contains(st.Message, "Secret apps/other-acme-account exists and is not an edgeway ACME account") {
		t.Errorf("state = %+v; want AccountFailed naming the foreign Secret", st)
	}
	if got, _ := store.Get(ctx, types.NamespacedName{Namespace: "apps", Name: "other-acme-account"}); string(got.Data["password"]) != "hunter2" || len(got.Data) != 1 {
		t.Errorf("the foreign Secret was changed: %v", got.Data)
	}

	// The user deletes their Secret: the next Sync lets the manager take
	// over (it orders, and fails: no CA at that address).
	os.Remove(filepath.Join(store.Dir(), "secrets", "apps", "mine.yaml"))
	m.Sync([]snapshot.ACMECertificate{mine, wild, acct})
	st = waitState(t, store, mine.Secret, 30*time.Second, "DirectoryUnavailable", func(st *snapshot.ACMEState) bool { return st.Reason == ReasonDirectoryUnavailable })
	if !strings.Contains(st.Message, "https://127.0.0.1:1/never-asked") {
		t.Errorf("message %q does not name the directory", st.Message)
	}
}
