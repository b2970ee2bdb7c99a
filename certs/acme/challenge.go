package acme

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-acme/lego/v4/challenge/tlsalpn01"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// The HTTP-01 and TLS-ALPN-01 providers hand lego's challenges to the
// Gateways: Present writes the challenge into the state Secret (from where
// every data plane serving the domain gets it), then waits until the
// Gateways really answer it (the self-check), so the CA is asked only once
// it can succeed. CleanUp removes it again.

// http01Provider is lego's challenge.Provider for HTTP-01.
type http01Provider struct{ r *orderRun }

func (p http01Provider) Present(domain, token, keyAuth string) error {
	err := p.r.update(func(st *snapshot.ACMEState, f *orderFacts) {
		st.HTTP01 = slices.DeleteFunc(st.HTTP01, func(c snapshot.ACMEHTTP01Challenge) bool { return c.Domain == domain })
		st.HTTP01 = append(st.HTTP01, snapshot.ACMEHTTP01Challenge{Domain: domain, Token: token, KeyAuthorization: keyAuth})
		f.tokens[domain] = token
	})
	if err != nil {
		return fmt.Errorf("writing the challenge into the state Secret: %w", err)
	}
	p.r.selfCheck(domain, v1alpha1.ACMEChallengeHTTP01, func(ctx context.Context, addr string) error {
		return checkHTTP01(ctx, addr, domain, token, keyAuth)
	})
	return nil
}

func (p http01Provider) CleanUp(domain, token, _ string) error {
	return p.r.cleanup(func(st *snapshot.ACMEState) {
		st.HTTP01 = slices.DeleteFunc(st.HTTP01, func(c snapshot.ACMEHTTP01Challenge) bool {
			return c.Domain == domain && c.Token == token
		})
	})
}

// tlsALPN01Provider is lego's challenge.Provider for TLS-ALPN-01.
type tlsALPN01Provider struct{ r *orderRun }

func (p tlsALPN01Provider) Present(domain, _, keyAuth string) error {
	// The certificate carrying the acmeIdentifier extension (RFC 8737),
	// built by lego, as PEM for the state Secret.
	certPEM, keyPEM, err := tlsalpn01.ChallengeBlocks(domain, keyAuth)
	if err != nil {
		return fmt.Errorf("building the TLS-ALPN-01 certificate: %w", err)
	}
	err = p.r.update(func(st *snapshot.ACMEState, _ *orderFacts) {
		st.TLSALPN01 = slices.DeleteFunc(st.TLSALPN01, func(c snapshot.ACMETLSALPN01Challenge) bool { return c.Domain == domain })
		st.TLSALPN01 = append(st.TLSALPN01, snapshot.ACMETLSALPN01Challenge{Domain: domain, Certificate: string(certPEM), PrivateKey: string(keyPEM)})
	})
	if err != nil {
		return fmt.Errorf("writing the challenge into the state Secret: %w", err)
	}
	p.r.selfCheck(domain, v1alpha1.ACMEChallengeTLSALPN01, func(ctx context.Context, addr string) error {
		return checkTLSALPN01(ctx, addr, domain, keyAuth)
	})
	return nil
}

func (p tlsALPN01Provider) CleanUp(domain, _, _ string) error {
	return p.r.cleanup(func(st *snapshot.ACMEState) {
		st.TLSALPN01 = slices.DeleteFunc(st.TLSALPN01, func(c snapshot.ACMETLSALPN01Challenge) bool { return c.Domain == domain })
	})
}

// selfCheckInterval is the pause between two rounds of the self-check.
const selfCheckInterval = 250 * time.Millisecond

// selfCheck waits until every address of the Gateways answers the
// challenge for domain, or SelfCheckTimeout. Not passing is not an error:
// the data plane may be reachable to the CA by a path the controller does
// not see. The last error is kept for the failure message.
func (r *orderRun) selfCheck(domain string, kind v1alpha1.ACMEChallengeType, check func(ctx context.Context, addr string) error) {
	if len(r.m.addresses(r.key, kind)) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.m.selfCheckTimeout)
	defer cancel()
	start := time.Now()
	for {
		// The addresses may change while waiting (a Gateway's status
		// gets its address).
		addrs := r.m.addresses(r.key, kind)
		var err error
		for _, a := range addrs {
			if e := check(ctx, a); e != nil {
				err = fmt.Errorf("%s: %w", a, e)
				break
			}
		}
		if err == nil {
			r.m.log.Debug("ACME challenge self-check passed", "secret", r.key.String(), "domain", domain,
				"challenge", string(kind), "addresses", addrs, "after", time.Since(start).Round(time.Millisecond).String())
			r.setSelfCheck(domain, nil)
			return
		}
		select {
		case <-ctx.Done():
			if r.ctx.Err() != nil {
				return
			}
			r.m.log.Warn("the Gateways do not serve the ACME challenge yet; asking the CA anyway",
				"secret", r.key.String(), "domain", domain, "challenge", string(kind),
				"waited", r.m.selfCheckTimeout.String(), "error", err.Error())
			r.setSelfCheck(domain, err)
			return
		case <-time.After(selfCheckInterval):
		}
	}
}

// selfCheckClient fetches HTTP-01 challenges from the Gateways directly
// (never through a proxy, never following a redirect: the challenge path is
// answered before any route).
var selfCheckClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// checkHTTP01 asks addr for the challenge the way the CA will ask domain.
func checkHTTP01(ctx context.Context, addr, domain, token, keyAuth string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/.well-known/acme-challenge/"+token, nil)
	if err != nil {
		return err
	}
	req.Host = domain
	resp, err := selfCheckClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /.well-known/acme-challenge/%s (Host %s): status %d", token, domain, resp.StatusCode)
	}
	if got := strings.TrimSpace(string(body)); got != keyAuth {
		return fmt.Errorf("GET /.well-known/acme-challenge/%s (Host %s): the body is not the key authorization (got %q)", token, domain, truncate(got, 80))
	}
	return nil
}

// idPeAcmeIdentifier is the acmeIdentifier extension (RFC 8737 section 6.1).
var idPeAcmeIdentifier = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}

// checkTLSALPN01 connects to addr the way the CA will connect to domain.
func checkTLSALPN01(ctx context.Context, addr, domain, keyAuth string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{
		ServerName: domain,
		NextProtos: []string{tlsalpn01.ACMETLS1Protocol},
		// The challenge certificate is self-signed by design; what
		// matters is its extension, checked below.
		InsecureSkipVerify: true, //nolint:gosec
		MinVersion:         tls.VersionTLS12,
	}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	cs := conn.(*tls.Conn).ConnectionState()
	if cs.NegotiatedProtocol != tlsalpn01.ACMETLS1Protocol {
		return fmt.Errorf("TLS with SNI %s: ALPN %s was not negotiated (got %q)", domain, tlsalpn01.ACMETLS1Protocol, cs.NegotiatedProtocol)
	}
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no certificate presented")
	}
	leaf := cs.PeerCertificates[0]
	if !slices.Contains(leaf.DNSNames, domain) {
		return fmt.Errorf("TLS with SNI %s: the certificate is for %v, not the challenge certificate", domain, leaf.DNSNames)
	}
	sum := sha256.Sum256([]byte(keyAuth))
	want, err := asn1.Marshal(sum[:])
	if err != nil {
		return err
	}
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(idPeAcmeIdentifier) {
			if bytes.Equal(ext.Value, want) {
				return nil
			}
			return fmt.Errorf("TLS with SNI %s: the acmeIdentifier is for another key authorization (an older challenge?)", domain)
		}
	}
	return fmt.Errorf("TLS with SNI %s: the certificate has no acmeIdentifier extension", domain)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
