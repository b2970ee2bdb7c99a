package acme

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// domainMap has the shape of lego's per-domain challenge errors
// (resolver.obtainError, a map from domain to error).
type domainMap map[string]error

func (d domainMap) Error() string { return fmt.Sprintf("%d domains failed", len(d)) }

func (d domainMap) Unwrap() []error {
	var out []error
	for _, e := range d {
		out = append(out, e)
	}
	return out
}

func testCert(challenge v1alpha1.ACMEChallengeType, domains ...string) *snapshot.ACMECertificate {
	is := &v1alpha1.ACMEIssuer{Spec: v1alpha1.ACMEIssuerSpec{DirectoryURL: "https://ca.example/dir", Challenge: challenge}}
	is.Namespace, is.Name = "apps", "le"
	if challenge == v1alpha1.ACMEChallengeDNS01 {
		is.Spec.DNS01 = &v1alpha1.ACMEDNS01{Provider: "cloudflare"}
	}
	return &snapshot.ACMECertificate{
		Secret:   types.NamespacedName{Namespace: "apps", Name: "app-tls"},
		Issuer:   is,
		Domains:  domains,
		Gateways: []string{"apps/web"},
	}
}

func caProblem(typ, detail string) *legoacme.ProblemDetails {
	return &legoacme.ProblemDetails{Type: "urn:ietf:params:acme:error:" + typ, Detail: detail, HTTPStatus: 400}
}

func TestFailureMessages(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	connRefused := fmt.Errorf("invalid authorization: %w", caProblem("connection", "127.0.0.1: Fetching http://app.example.com/.well-known/acme-challenge/tok123: Connection refused"))
	cases := []struct {
		name       string
		cert       *snapshot.ACMECertificate
		err        error
		facts      func(*orderFacts)
		wantReason string
		want       []string
	}{{
		name:       "HTTP-01 refused",
		cert:       testCert(v1alpha1.ACMEChallengeHTTP01, "app.example.com"),
		err:        inStage(stageOrder, domainMap{"app.example.com": connRefused}),
		facts:      func(f *orderFacts) { f.tokens["app.example.com"] = "tok123" },
		wantReason: ReasonChallengeFailed,
		want: []string{"app.example.com", "HTTP-01", "http://app.example.com/.well-known/acme-challenge/tok123",
			"Connection refused (connection)", "port 80 of app.example.com", "Gateway apps/web"},
	}, {
		name: "HTTP-01 with a failed self-check, two domains",
		cert: testCert(v1alpha1.ACMEChallengeHTTP01, "a.example.com", "b.example.com"),
		err:  domainMap{"b.example.com": connRefused, "a.example.com": connRefused},
		facts: func(f *orderFacts) {
			f.selfCheck["a.example.com"] = errors.New("127.0.0.1:80: status 404")
		},
		wantReason: ReasonChallengeFailed,
		want:       []string{"validate a.example.com with HTTP-01", "own check", "status 404", "1 more domains failed: b.example.com"},
	}, {
		name:       "TLS-ALPN-01",
		cert:       testCert(v1alpha1.ACMEChallengeTLSALPN01, "app.example.com"),
		err:        domainMap{"app.example.com": fmt.Errorf("invalid authorization: %w", caProblem("tls", "no acme-tls/1 negotiated"))},
		wantReason: ReasonChallengeFailed,
		want:       []string{"TLS-ALPN-01", "no acme-tls/1 negotiated (tls)", "port 443 of app.example.com"},
	}, {
		name:       "DNS-01 at the CA",
		cert:       testCert(v1alpha1.ACMEChallengeDNS01, "*.example.com"),
		err:        domainMap{"*.example.com": caProblem("unauthorized", "Incorrect TXT record")},
		wantReason: ReasonChallengeFailed,
		want:       []string{"DNS-01", "TXT _acme-challenge.example.com", "Incorrect TXT record", "DNS provider cloudflare"},
	}, {
		name:       "DNS-01 at the provider",
		cert:       testCert(v1alpha1.ACMEChallengeDNS01, "app.example.com"),
		err:        domainMap{"app.example.com": errors.New("propagation: time limit exceeded")},
		wantReason: ReasonDNSProviderFailed,
		want:       []string{"DNS-01 for app.example.com", "DNS provider cloudflare", "propagation: time limit exceeded", "credentials Secret"},
	}, {
		name:       "directory",
		cert:       testCert("", "app.example.com"),
		err:        inStage(stageDirectory, errors.New("get directory at 'https://ca.example/dir': x509: certificate signed by unknown authority")),
		wantReason: ReasonDirectoryUnavailable,
		want:       []string{"https://ca.example/dir", "unknown authority", "spec.caBundleRef"},
	}, {
		name:       "account needs EAB",
		cert:       testCert("", "app.example.com"),
		err:        inStage(stageAccount, caProblem("externalAccountRequired", "no EAB")),
		wantReason: ReasonAccountFailed,
		want:       []string{"could not register an account", "spec.externalAccountBinding"},
	}, {
		name:       "account without terms of service",
		cert:       testCert("", "app.example.com"),
		err:        inStage(stageAccount, caProblem("malformed", "must agree to terms of service")),
		wantReason: ReasonAccountFailed,
		want:       []string{"termsOfServiceAgreed: true"},
	}, {
		name:       "unknown profile",
		cert:       testCert("", "app.example.com"),
		err:        inStage(stageOrder, caProblem("invalidProfile", "Order includes unrecognized profile name \"x\"")),
		wantReason: ReasonOrderFailed,
		want:       []string{"refused the order for app.example.com", "unrecognized profile", "spec.profile"},
	}, {
		name:       "unmanaged Secret appeared during the order",
		cert:       testCert("", "app.example.com"),
		err:        inStage(stageStore, fmt.Errorf("Secret apps/app-tls: %w", ErrNotManaged)),
		wantReason: ReasonSecretNotManaged,
		want:       []string{"Secret apps/app-tls", "delete it", "another Secret name"},
	}, {
		name:       "rate limit deep inside",
		cert:       testCert("", "app.example.com"),
		err:        domainMap{"app.example.com": &legoacme.RateLimitedError{ProblemDetails: caProblem("rateLimited", "too many failed authorizations"), RetryAfter: "30"}},
		wantReason: ReasonRateLimited,
		want:       []string{"rate-limited", "too many failed authorizations"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &orderFacts{cert: tc.cert, challenge: challengeOf(tc.cert), tokens: map[string]string{}, selfCheck: map[string]error{}}
			if tc.facts != nil {
				tc.facts(f)
			}
			got := classify(tc.err, f, now)
			if got.reason != tc.wantReason {
				t.Errorf("reason = %s, want %s (message: %s)", got.reason, tc.wantReason, got.message)
			}
			for _, w := range tc.want {
				if !strings.Contains(got.message, w) {
					t.Errorf("message does not contain %q:\n%s", w, got.message)
				}
			}
		})
	}
}

// acmeCA is a fake CA answering on real sockets, for what Pebble cannot
// be made to do (rate limits).
func rateLimitingCA(t *testing.T, where string, retryAfter string) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	var srv *httptest.Server
	mux := http.NewServeMux()
	limited := func(w http.ResponseWriter) {
		hits.Add(1)
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Replay-Nonce", "nonce-2")
		w.WriteHeader(http.StatusTooManyRequests)
		json.NewEncoder(w).Encode(map[string]any{
			"type":   legoacme.RateLimitedErr,
			"detail": "too many new registrations (10) from this IP address in the last 3h",
			"status": http.StatusTooManyRequests,
		})
	}
	mux.HandleFunc("/dir", func(w http.ResponseWriter, r *http.Request) {
		if where == "directory" {
			limited(w)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{
			"newNonce":   srv.URL + "/nonce",
			"newAccount": srv.URL + "/account",
			"newOrder":   srv.URL + "/order",
		})
	})
	mux.HandleFunc("/nonce", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Replay-Nonce", "nonce-1")
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/account", func(w http.ResponseWriter, r *http.Request) { limited(w) })
	srv = httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestRateLimitWaitsForRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, where, retryAfter string
		wantWait                time.Duration
	}{
		{"directory, delay seconds", "directory", "120", 2 * time.Minute},
		{"new account, HTTP date", "account", now.Add(45 * time.Minute).Format(http.TimeFormat), 45 * time.Minute},
		{"new account, no Retry-After: max backoff", "account", "", 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, hits := rateLimitingCA(t, tc.where, tc.retryAfter)
			store, err := NewFileStore(t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			m := startManager(t, Options{Store: store, Now: func() time.Time { return now }})
			c := testCert(v1alpha1.ACMEChallengeHTTP01, "app.example.com")
			c.Issuer.Spec.DirectoryURL = srv.URL + "/dir"
			c.Issuer.Spec.Retry = &v1alpha1.ACMERetry{MaxBackoff: &metav1.Duration{Duration: 10 * time.Minute}}
			c.CABundle = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
			m.Sync([]snapshot.ACMECertificate{*c})

			st := waitState(t, store, c.Secret, 30*time.Second, "Failed", func(s *snapshot.ACMEState) bool { return s.Phase == snapshot.ACMEFailed })
			if st.Reason != ReasonRateLimited {
				t.Fatalf("reason = %s, want RateLimited; message: %s", st.Reason, st.Message)
			}
			if st.NextAttempt == nil || !st.NextAttempt.Equal(now.Add(tc.wantWait)) {
				t.Errorf("nextAttempt = %v, want %v (now + %v)", st.NextAttempt, now.Add(tc.wantWait), tc.wantWait)
			}
			if st.Failures != 1 {
				t.Errorf("failures = %d, want 1", st.Failures)
			}
			for _, w := range []string{"too many new registrations", srv.URL + "/dir", "app.example.com"} {
				if !strings.Contains(st.Message, w) {
					t.Errorf("message does not contain %q: %s", w, st.Message)
				}
			}
			if hits.Load() != 1 {
				t.Errorf("the CA was asked %d times, want once", hits.Load())
			}
			if got := testutil.ToFloat64(m.metrics.failures.WithLabelValues("apps", "app-tls", "apps/le", kindIssue, ReasonRateLimited)); got != 1 {
				t.Errorf("edgeway_acme_order_failures_total{reason=RateLimited} = %v, want 1", got)
			}
			if got := testutil.ToFloat64(m.metrics.orders.WithLabelValues("apps", "app-tls", "apps/le", kindIssue)); got != 1 {
				t.Errorf("edgeway_acme_orders_total{kind=issue} = %v, want 1", got)
			}
			if e := m.events.find(ReasonRateLimited); e == nil || !e.Warning || e.Gateways[0] != "apps/web" {
				t.Errorf("event RateLimited = %+v, want a warning for apps/web", e)
			}
		})
	}
}
