package acme

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/test/pebble"
)

func TestRefusedForReplaces(t *testing.T) {
	const newOrder = "https://ca.test/new-order"
	problem := func(method, url, typ string) error {
		return &legoacme.ProblemDetails{Type: typ, HTTPStatus: 500, Method: method, URL: url, Detail: "refused"}
	}
	directoryDown := errors.New("directory unreachable")
	for _, tc := range []struct {
		name     string
		err      error
		dirErr   error
		want     bool
		readsDir bool
	}{
		{name: "new order refused", err: problem("POST", newOrder, "urn:ietf:params:acme:error:serverInternal"), want: true, readsDir: true},
		{name: "new order refused, wrapped", err: fmt.Errorf("order: %w", problem("POST", newOrder, "urn:ietf:params:acme:error:malformed")), want: true, readsDir: true},
		{name: "new order rate limited", err: problem("POST", newOrder, legoacme.RateLimitedErr)},
		{name: "already replaced", err: &legoacme.AlreadyReplacedError{ProblemDetails: &legoacme.ProblemDetails{Type: legoacme.AlreadyReplacedErr, HTTPStatus: 409}}, want: true},
		{name: "authorization refused", err: problem("POST", "https://ca.test/authz/1", "urn:ietf:params:acme:error:unauthorized"), readsDir: true},
		{name: "finalize refused", err: problem("POST", "https://ca.test/finalize/1", "urn:ietf:params:acme:error:badCSR"), readsDir: true},
		{name: "directory unreadable", err: problem("POST", newOrder, "urn:ietf:params:acme:error:serverInternal"), dirErr: directoryDown, readsDir: true},
		{name: "not a problem document", err: errors.New("dial tcp: connection refused")},
		{name: "problem without the request", err: &legoacme.ProblemDetails{Type: "urn:ietf:params:acme:error:serverInternal"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := false
			got := refusedForReplaces(tc.err, func() (string, error) {
				read = true
				return newOrder, tc.dirErr
			})
			if got != tc.want {
				t.Errorf("refusedForReplaces(%v) = %v, want %v", tc.err, got, tc.want)
			}
			if read != tc.readsDir {
				t.Errorf("read the directory: %v, want %v", read, tc.readsDir)
			}
		})
	}
}

// replacesRefuser is an HTTPS front for Pebble that refuses every new order
// naming a replaced certificate with serverInternal, as Pebble itself does
// for a certificate whose serial has its top bit set. Requests keep their
// Host: Pebble checks each JWS's url against it and builds its URLs from it,
// so the whole conversation goes through the front.
type replacesRefuser struct {
	srv *httptest.Server
	mu  sync.Mutex
	// refused and passed count the new orders with and without replaces.
	refused, passed int
}

func startReplacesRefuser(t *testing.T, s *pebble.Server) *replacesRefuser {
	t.Helper()
	target, err := url.Parse(s.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.HTTPClient().Get(s.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}
	var dir legoacme.Directory
	err = json.NewDecoder(resp.Body).Decode(&dir)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	newOrder, err := url.Parse(dir.NewOrderURL)
	if err != nil || newOrder.Path == "" {
		t.Fatalf("Pebble's newOrder URL %q: %v", dir.NewOrderURL, err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "https", Host: target.Host})
			pr.Out.Host = pr.In.Host
		},
		Transport: s.HTTPClient().Transport,
	}
	f := &replacesRefuser{}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == newOrder.Path {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			names, err := ordersReplacing(body)
			if err != nil {
				t.Errorf("new order from the manager: %v", err)
			}
			f.mu.Lock()
			if names {
				f.refused++
			} else {
				f.passed++
			}
			f.mu.Unlock()
			if names {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(w, `{"type":"urn:ietf:params:acme:error:serverInternal","detail":"could not find order resulting in the given certificate serial number","status":500}`)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// ordersReplacing tells whether a new-order JWS names a replaced certificate.
func ordersReplacing(jws []byte) (bool, error) {
	var msg struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(jws, &msg); err != nil {
		return false, err
	}
	payload, err := base64.RawURLEncoding.DecodeString(msg.Payload)
	if err != nil {
		return false, err
	}
	var order struct {
		Replaces string `json:"replaces"`
	}
	if err := json.Unmarshal(payload, &order); err != nil {
		return false, err
	}
	return order.Replaces != "", nil
}

func (f *replacesRefuser) counts() (refused, passed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused, f.passed
}

// A CA that refuses renewal orders naming the replaced certificate still
// renews: the manager orders again without the name, in the same attempt,
// and nothing is recorded as failed.
func TestPebbleRenewsWhenCARefusesReplaces(t *testing.T) {
	t.Parallel()
	ln, port := listen(t)
	const validity = 60 * time.Second
	s := pebble.Start(t, pebble.Options{HTTPPort: port, Validity: validity})
	front := startReplacesRefuser(t, s)
	store := newStore(t, t.TempDir())
	serveHTTP01(t, store, ln)
	c := pebbleCertificate(s, v1alpha1.ACMEChallengeHTTP01, "refused-tls", "refused.edgeway.test")
	c.HTTP01Addresses = []string{fmt.Sprintf("127.0.0.1:%d", port)}
	dirURL, _ := url.Parse(s.DirectoryURL)
	c.Issuer.Spec.DirectoryURL = front.srv.URL + dirURL.Path
	c.CABundle = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.srv.Certificate().Raw})
	m := startManager(t, Options{Store: store})
	m.Sync([]snapshot.ACMECertificate{c})
	first := waitState(t, store, c.Secret, orderWait, "Ready", ready)
	renewed := waitState(t, store, c.Secret, validity+orderWait, "Renewed", func(st *snapshot.ACMEState) bool {
		return st.Phase == snapshot.ACMEReady && st.Reason == ReasonRenewed && st.NotAfter != nil && st.NotAfter.After(*first.NotAfter)
	})
	// Every renewal's order was refused once with the name and passed
	// without it; the first issuance's named nothing. A renewal may be
	// under way now, its refused order counted and the next not yet.
	refused, passed := front.counts()
	if refused < 1 || passed < 2 || refused > passed {
		t.Errorf("%d new orders named the replaced certificate (refused), %d did not (passed); want at least 1 and 2, and no refusal without an order after it", refused, passed)
	}
	if n := testutil.CollectAndCount(m.metrics.failures); n != 0 {
		t.Errorf("edgeway_acme_order_failures_total has %d series, want none: the refused name is not a failed renewal", n)
	}
	if renewed.Failures != 0 {
		t.Errorf("state after the renewal records %d failures, want 0", renewed.Failures)
	}
	checkCertificate(t, s, store, c)
}
