package pebble

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// HTTPReqEndpoint returns the URL (http://127.0.0.1:<port>) of an adapter
// speaking lego's httpreq DNS provider protocol: POST /present and /cleanup
// with {"fqdn","value"} (default mode) or {"domain","token","keyAuth"} (RAW
// mode). It sets and clears TXT records in challtestsrv, so DNS-01 tests run
// lego's real httpreq provider (HTTPREQ_ENDPOINT = this URL) against Pebble.
// Basic auth credentials, if the provider sends any, are ignored.
func (s *Server) HTTPReqEndpoint() string { return s.httpreq }

// startHTTPReq serves the adapter until the test's servers stop, on a port
// not in exclude (see freePorts).
func (s *Server) startHTTPReq(exclude ...int) error {
	var l net.Listener
	for {
		var err error
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return fmt.Errorf("pebble: httpreq adapter: %w", err)
		}
		if !slices.Contains(exclude, l.Addr().(*net.TCPAddr).Port) {
			break
		}
		// Held open until we return, so the next Listen gets another port.
		taken := l
		defer taken.Close()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /present", func(w http.ResponseWriter, r *http.Request) {
		s.serveHTTPReq(w, r, s.presentTXT)
	})
	mux.HandleFunc("POST /cleanup", func(w http.ResponseWriter, r *http.Request) {
		s.serveHTTPReq(w, r, s.cleanupTXT)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	s.httpreq = "http://" + l.Addr().String()
	s.closers = append(s.closers, func() { _ = srv.Close() })
	return nil
}

// httpreqMessage is the union of the two bodies lego's httpreq provider
// sends.
type httpreqMessage struct {
	FQDN    string `json:"fqdn"`
	Value   string `json:"value"`
	Domain  string `json:"domain"`
	Token   string `json:"token"`
	KeyAuth string `json:"keyAuth"`
}

func (s *Server) serveHTTPReq(w http.ResponseWriter, r *http.Request, apply func(ctx context.Context, fqdn, value string) error) {
	var m httpreqMessage
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, "pebble httpreq adapter: body is not JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	fqdn, value := m.FQDN, m.Value
	if fqdn == "" && m.Domain != "" && m.KeyAuth != "" {
		// RAW mode: derive the record as lego's dns01.GetRecord does (no
		// CNAME following: challtestsrv's names have no CNAMEs unless a
		// test adds them).
		sum := sha256.Sum256([]byte(m.KeyAuth))
		fqdn = "_acme-challenge." + strings.TrimPrefix(m.Domain, "*.") + "."
		value = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if fqdn == "" || value == "" {
		http.Error(w, `pebble httpreq adapter: want {"fqdn","value"} or {"domain","token","keyAuth"}`, http.StatusBadRequest)
		return
	}
	if err := apply(r.Context(), fqdn, value); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// presentTXT adds value to fqdn's TXT records.
func (s *Server) presentTXT(ctx context.Context, fqdn, value string) error {
	fqdn = canonicalName(fqdn)
	s.txtMu.Lock()
	defer s.txtMu.Unlock()
	if slices.Contains(s.txt[fqdn], value) {
		return nil
	}
	if err := s.post(ctx, s.ChallTestSrvURL+"/set-txt", map[string]string{"host": fqdn, "value": value}); err != nil {
		return fmt.Errorf("setting TXT %s in challtestsrv: %w", fqdn, err)
	}
	s.txt[fqdn] = append(s.txt[fqdn], value)
	return nil
}

// cleanupTXT removes value from fqdn's TXT records. challtestsrv can only
// clear all of a name's records, so the others are set again: a wildcard and
// its base domain validate two values on the same name at once.
func (s *Server) cleanupTXT(ctx context.Context, fqdn, value string) error {
	fqdn = canonicalName(fqdn)
	s.txtMu.Lock()
	defer s.txtMu.Unlock()
	if err := s.post(ctx, s.ChallTestSrvURL+"/clear-txt", map[string]string{"host": fqdn}); err != nil {
		return fmt.Errorf("clearing TXT %s in challtestsrv: %w", fqdn, err)
	}
	rest := slices.DeleteFunc(s.txt[fqdn], func(v string) bool { return v == value })
	s.txt[fqdn] = nil
	for _, v := range rest {
		if err := s.post(ctx, s.ChallTestSrvURL+"/set-txt", map[string]string{"host": fqdn, "value": v}); err != nil {
			return fmt.Errorf("restoring TXT %s in challtestsrv: %w", fqdn, err)
		}
		s.txt[fqdn] = append(s.txt[fqdn], v)
	}
	if len(s.txt[fqdn]) == 0 {
		delete(s.txt, fqdn)
	}
	return nil
}

// canonicalName is the form challtestsrv keys records by: lower case, with
// the trailing dot.
func canonicalName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, ".")) + "."
}

// LookupTXT asks the DNS server (DNSAddress) for name's TXT records, as
// Pebble's DNS-01 validation does; a name without any returns none. (Go's
// resolver calls challtestsrv's empty answers lame referrals, hence a
// direct query.)
func (s *Server) LookupTXT(t testing.TB, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	c := &dns.Client{Net: "tcp", Timeout: 10 * time.Second}
	r, _, err := c.Exchange(m, s.DNSAddress)
	if err != nil {
		t.Fatalf("pebble: TXT query for %s at %s: %v", name, s.DNSAddress, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		t.Fatalf("pebble: TXT query for %s at %s: %s", name, s.DNSAddress, dns.RcodeToString[r.Rcode])
	}
	var values []string
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			values = append(values, strings.Join(txt.Txt, ""))
		}
	}
	return values
}
