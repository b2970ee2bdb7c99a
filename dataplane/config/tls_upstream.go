package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// compileUpstreamTLS reads a cluster's transport_socket: an
// UpstreamTlsContext with sni, at most one client certificate over SDS, and
// a validation context: validation_context{system_root_certs,
// match_typed_subject_alt_names} or combined_validation_context{
// default_validation_context{match_typed_subject_alt_names},
// validation_context_sds_secret_config}. Without a trust anchor Envoy would
// skip verification; the contract never allows that, so it is refused.
func compileUpstreamTLS(rep reporter, ts *corev3.TransportSocket) (*UpstreamTLS, error) {
	if ts.GetName() != nameTLSSocket || ts.GetTypedConfig() == nil {
		return nil, rep.errf("transport_socket", "only %q with an UpstreamTlsContext typed_config is supported", nameTLSSocket)
	}
	var utc tlsv3.UpstreamTlsContext
	if err := ts.GetTypedConfig().UnmarshalTo(&utc); err != nil {
		return nil, rep.errf("transport_socket.typed_config", "%v", err)
	}
	const loc = "transport_socket.typed_config"
	u := &UpstreamTLS{SNI: utc.GetSni()}
	if u.SNI == "" {
		return nil, rep.errf(loc+".sni", "sni is required")
	}
	ctc := utc.GetCommonTlsContext()
	switch certs := ctc.GetTlsCertificateSdsSecretConfigs(); len(certs) {
	case 0:
	case 1:
		sloc := loc + ".common_tls_context.tls_certificate_sds_secret_configs[0]"
		if certs[0].GetName() == "" {
			return nil, rep.errf(sloc+".name", "secret name is required")
		}
		if err := checkADS(rep, sloc+".sds_config", certs[0].GetSdsConfig()); err != nil {
			return nil, err
		}
		u.certSecret = certs[0].GetName()
	default:
		return nil, rep.errf(loc+".common_tls_context.tls_certificate_sds_secret_configs", "at most one client certificate is supported")
	}
	var vc *tlsv3.CertificateValidationContext
	vloc := loc + ".common_tls_context."
	switch {
	case ctc.GetValidationContext() != nil:
		vc = ctc.GetValidationContext()
		vloc += "validation_context"
		if vc.GetSystemRootCerts() == nil {
			return nil, rep.errf(vloc, "system_root_certs is required (or a combined_validation_context with an SDS CA bundle)")
		}
		u.systemRoots = true
	case ctc.GetCombinedValidationContext() != nil:
		cvc := ctc.GetCombinedValidationContext()
		vc = cvc.GetDefaultValidationContext()
		vloc += "combined_validation_context.default_validation_context"
		sds := cvc.GetValidationContextSdsSecretConfig()
		sloc := loc + ".common_tls_context.combined_validation_context.validation_context_sds_secret_config"
		if sds.GetName() == "" {
			return nil, rep.errf(sloc+".name", "secret name is required")
		}
		if err := checkADS(rep, sloc+".sds_config", sds.GetSdsConfig()); err != nil {
			return nil, err
		}
		u.caSecret = sds.GetName()
	default:
		return nil, rep.errf(loc+".common_tls_context", "a validation context is required: upstream certificates are always verified")
	}
	for i, m := range vc.GetMatchTypedSubjectAltNames() {
		mloc := fmt.Sprintf("%s.match_typed_subject_alt_names[%d]", vloc, i)
		exact, prefix := m.GetMatcher().GetExact(), m.GetMatcher().GetPrefix()
		switch {
		case exact == "" && prefix == "":
			return nil, rep.errf(mloc+".matcher", "an exact matcher (or, for a URI SAN, a prefix matcher) is required")
		case prefix != "" && m.GetSanType() != tlsv3.SubjectAltNameMatcher_URI:
			return nil, rep.errf(mloc+".matcher.prefix", "a prefix matcher is supported for URI SANs only; use exact for %v", m.GetSanType())
		}
		switch m.GetSanType() {
		case tlsv3.SubjectAltNameMatcher_DNS:
			u.SANs = append(u.SANs, SANMatcher{Value: strings.ToLower(exact)})
		case tlsv3.SubjectAltNameMatcher_URI:
			u.SANs = append(u.SANs, SANMatcher{URI: true, Prefix: prefix != "", Value: exact + prefix})
		default:
			return nil, rep.errf(mloc+".san_type", "unsupported SAN type %v (DNS or URI)", m.GetSanType())
		}
	}
	alpn, err := compileUpstreamALPN(rep, loc+".common_tls_context.alpn_protocols", ctc.GetAlpnProtocols())
	if err != nil {
		return nil, err
	}
	u.ALPN = alpn
	return u, nil
}

// compileUpstreamALPN checks the protocols a cluster offers: each a
// non-empty protocol id of at most 255 bytes (RFC 7301), no duplicates.
func compileUpstreamALPN(rep reporter, loc string, protos []string) ([]string, error) {
	seen := make(map[string]bool, len(protos))
	for i, p := range protos {
		if p == "" || len(p) > 255 {
			return nil, rep.errf(fmt.Sprintf("%s[%d]", loc, i), "a protocol id is 1 to 255 bytes long, got %d", len(p))
		}
		if seen[p] {
			return nil, rep.errf(fmt.Sprintf("%s[%d]", loc, i), "protocol %q is listed twice", p)
		}
		seen[p] = true
	}
	return slices.Clone(protos), nil
}

// linkClusterTLS resolves the SDS secrets of every TLS cluster into its
// client tls.Config, and applies locality weights.
func linkClusterTLS(clusters map[string]*Cluster, certs map[string]*secret) error {
	for _, n := range slices.Sorted(maps.Keys(clusters)) {
		if c := clusters[n]; c.LocalityWeighted {
			c.Endpoints = localityWeights(c.Endpoints)
		}
		u := clusters[n].TLS
		if u == nil {
			continue
		}
		rep := reporter{kind: "cluster", name: n}
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.SNI, NextProtos: slices.Clone(u.ALPN)}
		var caPEM, certPEM []byte
		if u.systemRoots {
			pool, err := x509.SystemCertPool()
			if err != nil {
				return rep.errf("transport_socket.typed_config.common_tls_context.validation_context.system_root_certs", "system CA certificates unavailable: %v", err)
			}
			tc.RootCAs = pool
		} else {
			s, ok := certs[u.caSecret]
			if !ok {
				return rep.missing("transport_socket", "secret %q not present", u.caSecret)
			}
			if s.ca == nil {
				return rep.errf("transport_socket", "secret %q is a certificate, not a validation context", u.caSecret)
			}
			tc.RootCAs, caPEM = s.ca, s.caPEM
		}
		if u.certSecret != "" {
			s, ok := certs[u.certSecret]
			if !ok {
				return rep.missing("transport_socket", "secret %q not present", u.certSecret)
			}
			if s.cert == nil {
				return rep.errf("transport_socket", "secret %q is a validation context, not a certificate", u.certSecret)
			}
			tc.Certificates = []tls.Certificate{*s.cert}
			for _, c := range s.cert.Certificate {
				certPEM = append(certPEM, c...)
			}
		}
		// Envoy verifies the chain and then the SAN matchers, never the
		// SNI by itself; crypto/tls would check ServerName, so do it here.
		roots, sans := tc.RootCAs, u.SANs
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error { return verifyUpstream(cs, roots, sans) }
		u.Config = tc
		parts := [][]byte{[]byte(u.SNI), caPEM, certPEM, []byte(fmt.Sprint(u.systemRoots, u.SANs, u.ALPN))}
		u.fingerprint = fingerprint(parts...)
	}
	return nil
}

// verifyUpstream verifies the peer chain against roots and requires one of
// the SANs (none listed: the chain alone).
func verifyUpstream(cs tls.ConnectionState, roots *x509.CertPool, sans []SANMatcher) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("upstream presented no certificate")
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return err
	}
	if len(sans) == 0 {
		return nil
	}
	for _, m := range sans {
		if m.URI {
			for _, u := range leaf.URIs {
				if sameURI(u, m.Value) || (m.Prefix && strings.HasPrefix(u.String(), m.Value)) {
					return nil
				}
			}
			continue
		}
		for _, d := range leaf.DNSNames {
			if dnsSANMatches(strings.ToLower(d), m.Value) {
				return nil
			}
		}
	}
	return fmt.Errorf("upstream certificate matches none of the expected subject alt names %v", sans)
}

func sameURI(u *url.URL, want string) bool { return u.String() == want }

// dnsSANMatches is Envoy's DNS SAN match: equal, or a certificate wildcard
// "*.example.com" covering exactly one label of want.
func dnsSANMatches(certSAN, want string) bool {
	if certSAN == want {
		return true
	}
	if strings.HasPrefix(certSAN, "*.") {
		i := strings.IndexByte(want, '.')
		return i > 0 && want[i:] == certSAN[1:]
	}
	return false
}

// compileClusterTLSAndLB reads the cluster fields of this contract section:
// transport_socket (upstream TLS) and common_lb_config
// locality_weighted_lb_config (weighted UDP splits).
func compileClusterTLSAndLB(rep reporter, c *Cluster, pc *clusterv3.Cluster) error {
	if ts := pc.GetTransportSocket(); ts != nil {
		u, err := compileUpstreamTLS(rep, ts)
		if err != nil {
			return err
		}
		c.TLS = u
	}
	if lb := pc.GetCommonLbConfig(); lb != nil {
		if lb.GetLocalityWeightedLbConfig() == nil {
			return rep.errf("common_lb_config", "only locality_weighted_lb_config is supported")
		}
		c.LocalityWeighted = true
	}
	return nil
}
