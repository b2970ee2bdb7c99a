package gatewayapi

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// ACME listeners: a Gateway listener whose tls.options name an ACMEIssuer
// (v1alpha1.ACMEListenerOption) gets its certificate from the ACME manager
// (certs/acme), which writes it to the Secret certificateRefs[0] names.
// Translation validates such listeners, tells the manager what to order
// (ACMECertificates), serves the challenges the manager's state Secrets
// carry (acme_challenges.go) and reports the order (acme_state.go).
//
// How each problem is reported, and what it costs:
//
//   - Accepted=False, UnsupportedValue: a listener shape ACME cannot serve,
//     whatever the Secrets say: a protocol other than HTTPS or TLS, TLS mode
//     Passthrough (the backend holds the certificate), no hostname (nothing
//     to order), a wildcard hostname with an issuer whose challenge is not
//     DNS01 (HTTP-01 and TLS-ALPN-01 cannot validate wildcards). The listener
//     is not served, as for any unsupported value.
//   - ResolvedRefs=False, InvalidCertificateRef: a reference ACME cannot
//     follow: not exactly one certificateRef, a certificateRef that is not a
//     core Secret, an ACMEIssuer that does not exist, an issuer whose own
//     Secrets or ConfigMaps are missing or wrong, and a Secret that another
//     listener (the older Gateway, then the earlier listener, wins) already
//     has certificates from another issuer written to. RefNotPermitted:
//     the Secret is in another namespace without a ReferenceGrant, exactly
//     as for any certificateRef. Nothing is ordered for such a listener, but
//     a valid certificate already in the Secret is still served: a broken
//     issuer must not take a working site down before its certificate
//     expires.
//   - ResolvedRefs=False, InvalidCertificateRef, Programmed=False: the
//     certificate Secret does not exist yet (or holds no valid certificate)
//     while the manager obtains it. The message names the issuer and the
//     CertificateReady condition. The listener's socket is still bound, with
//     only its TLS-ALPN-01 challenge chains.
//   - gateway.edgeway.dev/CertificateReady (snapshot.ACMECertificateReady)
//     on every ACME listener: the order's state, see acme_state.go.

// CertificateReady reasons of our own, for listeners nothing is ordered for.
const (
	acmeReasonInvalidListener = "InvalidListener"
	acmeReasonIssuerNotFound  = "IssuerNotFound"
	acmeReasonInvalidIssuer   = "InvalidIssuer"
	acmeReasonIssuerConflict  = "IssuerConflict"
)

// acmeListener is what ACME adds to a listener naming an ACMEIssuer.
type acmeListener struct {
	issuerKey string               // "<gateway namespace>/<option value>"
	issuer    *v1alpha1.ACMEIssuer // nil: not found
	secret    types.NamespacedName // certificateRefs[0]; zero until resolved
	// refProblem: ACME cannot order this listener's certificate
	// (ResolvedRefs=False); refReason is the CertificateReady reason.
	refProblem problem
	refReason  string
	// pending: the listener is valid for ACME but its certificate Secret is
	// not servable yet; it binds its socket for the TLS-ALPN-01 challenges.
	pending bool
	// group is the certificate this listener contributes to (nil: the
	// listener is not valid for ACME).
	group *acmeGroup
	// ready is the CertificateReady condition (acme_state.go).
	ready acmeReady
}

// acmeGroup is one certificate Secret and the listeners (of any Gateway)
// that want their certificate there from one issuer.
type acmeGroup struct {
	secret    types.NamespacedName
	issuerKey string
	issuer    *v1alpha1.ACMEIssuer
	refs      *acmeIssuerRefs
	listeners []*listenerCtx
	domains   []string // sorted, unique
	gateways  []string // sorted, unique
	// withoutHTTP are the group's Gateways without a plain HTTP listener
	// to answer HTTP-01 on (only computed for HTTP01 issuers).
	withoutHTTP []string
	// awaitingAddress (Kubernetes mode, HTTP-01 / TLS-ALPN-01): none of the
	// group's Gateways has an address in status yet, so the CA could reach
	// none and the manager could not check its own data plane: nothing is
	// ordered until the load balancer gives one (else the first order races
	// the data plane and fails into the backoff).
	awaitingAddress bool

	// From the state Secret (acme_state.go).
	stateFound   bool
	state        *snapshot.ACMEState
	stateProblem string
	http01       []snapshot.ACMEHTTP01Challenge    // valid ones only
	tlsALPN01    []snapshot.ACMETLSALPN01Challenge // valid ones only
}

// acmeOption is the ACMEIssuer name a listener's tls.options give, if any.
func acmeOption(spec *gwv1.Listener) (string, bool) {
	if spec.TLS == nil {
		return "", false
	}
	v, ok := spec.TLS.Options[gwv1.AnnotationKey(v1alpha1.ACMEListenerOption)]
	return string(v), ok
}

// resolveACME validates an ACME listener on its own (runs after
// newListener, so certificateRefs are already resolved).
func (t *translator) resolveACME(l *listenerCtx) {
	name, ok := acmeOption(l.spec)
	if !ok {
		return
	}
	from := l.owner() // the issuer and the Secret are looked up in its namespace
	a := &acmeListener{issuerKey: key(from.namespace, name), issuer: t.acmeIssuers[key(from.namespace, name)]}
	l.acme = a
	if !l.accepted.ok() {
		return // already not served, for a reason of its own
	}
	if p := acmeShape(l, a.issuer); !p.ok() {
		l.accepted = p
		return
	}
	opt := fmt.Sprintf("%s.tls.options[%q]", l.field, v1alpha1.ACMEListenerOption)
	refs := l.spec.TLS.CertificateRefs
	if len(refs) != 1 {
		a.fail(acmeReasonInvalidListener, string(gwv1.ListenerReasonInvalidCertificateRef),
			"%s.tls.certificateRefs: an ACME listener names exactly one Secret, the one its certificate is written to; found %d", l.field, len(refs))
		return
	}
	ref := refs[0]
	field := l.field + ".tls.certificateRefs[0]"
	group, kind, ns := secretRefParts(ref, from.namespace)
	switch {
	case group != "" || kind != "Secret":
		// The same message as resolveCertificates, so it is shown once.
		a.fail(acmeReasonInvalidListener, string(gwv1.ListenerReasonInvalidCertificateRef), "%s: %s/%s is not supported; reference a core Secret", field, group, kind)
		return
	case !t.refAllowed(from, objRef{"", "Secret", ns, string(ref.Name)}):
		a.fail(acmeReasonInvalidListener, string(gwv1.ListenerReasonRefNotPermitted), "%s: Secret %s/%s is in another namespace and no ReferenceGrant in %s allows %ss from %s to reference it", field, ns, ref.Name, ns, from.kind, from.namespace)
		return
	}
	a.secret = types.NamespacedName{Namespace: ns, Name: string(ref.Name)}
	switch {
	case name == "":
		a.fail(acmeReasonIssuerNotFound, string(gwv1.ListenerReasonInvalidCertificateRef), "%s: names no ACMEIssuer; set it to the name of an ACMEIssuer in namespace %s", opt, from.namespace)
		return
	case a.issuer == nil:
		a.fail(acmeReasonIssuerNotFound, string(gwv1.ListenerReasonInvalidCertificateRef), "%s: ACMEIssuer %s not found; create it in namespace %s or name an existing one", opt, a.issuerKey, from.namespace)
		return
	}
	if _, err := t.resolveACMEIssuer(a.issuer); err != nil {
		a.fail(acmeReasonInvalidIssuer, string(gwv1.ListenerReasonInvalidCertificateRef), "%s: %v", opt, err)
	}
}

func (a *acmeListener) fail(readyReason, reason, format string, args ...any) {
	a.refReason = readyReason
	a.refProblem = problem{reason, fmt.Sprintf(format, args...)}
}

// acmeShape refuses the listener shapes ACME cannot serve (Accepted=False).
func acmeShape(l *listenerCtx, issuer *v1alpha1.ACMEIssuer) problem {
	unsupported := func(format string, args ...any) problem {
		return problem{string(gwv1.ListenerReasonUnsupportedValue), fmt.Sprintf(format, args...)}
	}
	switch {
	case l.spec.Protocol != gwv1.HTTPSProtocolType && l.spec.Protocol != gwv1.TLSProtocolType:
		return unsupported("%s.protocol: ACME (tls.options[%q]) obtains certificates for HTTPS and TLS listeners, not %s", l.field, v1alpha1.ACMEListenerOption, l.spec.Protocol)
	case l.passthrough:
		return unsupported("%s.tls.mode: ACME (tls.options[%q]) needs mode Terminate; a Passthrough listener presents its backends' certificates, not one of its own", l.field, v1alpha1.ACMEListenerOption)
	case l.hostname == "":
		return unsupported("%s.hostname: required with ACME (tls.options[%q]): certificates are only ordered for hostnames a listener declares", l.field, v1alpha1.ACMEListenerOption)
	case isWildcard(l.hostname) && issuer != nil && acmeChallenge(issuer) != v1alpha1.ACMEChallengeDNS01:
		return unsupported("%s.hostname: the wildcard %q can only be validated with DNS-01, and ACMEIssuer %s/%s uses %s; set its spec.challenge to DNS01 or declare exact hostnames",
			l.field, l.hostname, issuer.Namespace, issuer.Name, acmeChallenge(issuer))
	}
	return problem{}
}

// acmeCandidate: so far nothing stops ordering this listener's certificate
// (sockets are not assigned yet).
func (l *listenerCtx) acmeCandidate() bool {
	return l.acme != nil && l.acme.refProblem.ok() && l.accepted.ok() && l.conflicted.ok() && l.gw.addressProblem.ok()
}

// resolveACMEConflicts gives each certificate Secret to one issuer: the
// first listener naming it (oldest Gateway first, then listener order)
// decides; listeners naming it with another issuer are refused. Then it
// settles the listeners whose Secret is not servable yet: pending (bound
// for the challenges) when ACME will obtain it, otherwise the reason why not.
func (t *translator) resolveACMEConflicts() {
	owners := map[types.NamespacedName]*listenerCtx{}
	for _, g := range t.gateways {
		for _, l := range g.listeners {
			if !l.acmeCandidate() {
				continue
			}
			a := l.acme
			first := owners[a.secret]
			if first == nil {
				owners[a.secret] = l
				continue
			}
			if first.acme.issuerKey != a.issuerKey {
				a.fail(acmeReasonIssuerConflict, string(gwv1.ListenerReasonInvalidCertificateRef),
					"%s.tls.certificateRefs[0]: Secret %s already receives the certificate of ACMEIssuer %s for %s; a Secret holds the certificate of one issuer: name that issuer or another Secret",
					l.field, a.secret, first.acme.issuerKey, first.describe())
			}
		}
	}
	for _, g := range t.gateways {
		for _, l := range g.listeners {
			a := l.acme
			if a == nil || l.certProblem.ok() {
				continue
			}
			switch {
			case l.acmeCandidate():
				a.pending = true
				l.certProblem.message += fmt.Sprintf("; the certificate is being obtained by ACMEIssuer %s (see the %s condition)", a.issuerKey, snapshot.ACMECertificateReady)
			case !a.refProblem.ok() && len(l.spec.TLS.CertificateRefs) == 0:
				l.certProblem = a.refProblem
			case !a.refProblem.ok() && a.refProblem.message != l.certProblem.message:
				// The ACME problem is why the Secret will not appear.
				l.certProblem = problem{a.refProblem.reason, a.refProblem.message + "; " + l.certProblem.message}
			}
		}
	}
}

// acmeBinds: a pending ACME listener takes its place on a socket (for the
// TLS-ALPN-01 challenges) although it has no certificate to serve.
func (l *listenerCtx) acmeBinds() bool {
	return l.acme != nil && l.acme.pending && l.acmeCandidate()
}

// acmePending: on a socket for the challenges only; no terminating chain.
func (l *listenerCtx) acmePending() bool { return l.acme != nil && l.acme.pending }

// collectACME groups the listeners valid for ACME (on a socket: served, or
// pending) by certificate Secret, reads each group's state Secret and
// computes every ACME listener's CertificateReady condition.
func (t *translator) collectACME() {
	t.acmeGroups = map[types.NamespacedName]*acmeGroup{}
	for _, g := range t.gateways {
		for _, l := range g.listeners {
			a := l.acme
			if a == nil || !l.acmeCandidate() || !l.inSocket {
				continue
			}
			grp := t.acmeGroups[a.secret]
			if grp == nil {
				refs, _ := t.resolveACMEIssuer(a.issuer)
				grp = &acmeGroup{secret: a.secret, issuerKey: a.issuerKey, issuer: a.issuer, refs: refs}
				t.acmeGroups[a.secret] = grp
			}
			grp.listeners = append(grp.listeners, l)
			grp.domains = appendUnique(grp.domains, l.hostname)
			grp.gateways = appendUnique(grp.gateways, g.key)
			a.group = grp
		}
	}
	for _, grp := range t.acmeGroups {
		sort.Strings(grp.domains)
		sort.Strings(grp.gateways)
		if acmeChallenge(grp.issuer) == v1alpha1.ACMEChallengeHTTP01 {
			for _, gk := range grp.gateways {
				if !t.byKey[gk].servesPlainHTTP() {
					grp.withoutHTTP = append(grp.withoutHTTP, gk)
				}
			}
		}
		if t.snap.IsolateGateways && acmeChallenge(grp.issuer) != v1alpha1.ACMEChallengeDNS01 {
			http01, tlsALPN01 := t.acmeAddresses(grp)
			if acmeChallenge(grp.issuer) == v1alpha1.ACMEChallengeHTTP01 {
				grp.awaitingAddress = len(http01) == 0
			} else {
				grp.awaitingAddress = len(tlsALPN01) == 0
			}
		}
		t.readACMEState(grp)
	}
	for _, g := range t.gateways {
		for _, l := range g.listeners {
			if l.acme != nil {
				l.acme.ready = acmeReadyOf(l)
			}
		}
	}
}

// servesPlainHTTP: some listener of g is on a plain HTTP socket.
func (g *gatewayCtx) servesPlainHTTP() bool {
	for _, l := range g.listeners {
		if l.kind == socketHTTP && l.inSocket {
			return true
		}
	}
	return false
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// sortedACMEGroups are the groups by Secret namespace, then name.
func (t *translator) sortedACMEGroups() []*acmeGroup {
	out := make([]*acmeGroup, 0, len(t.acmeGroups))
	for _, g := range t.acmeGroups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].secret.Namespace != out[j].secret.Namespace {
			return out[i].secret.Namespace < out[j].secret.Namespace
		}
		return out[i].secret.Name < out[j].secret.Name
	})
	return out
}

// ACMECertificates is what the ACME manager must keep valid: one entry per
// certificate Secret that Gateway listeners of our controller name with
// tls.options[v1alpha1.ACMEListenerOption], sorted by Secret namespace and
// name. Only listeners valid for ACME count (see the top of this file);
// the others are reported in the statuses Translate returns. Pure, like
// Translate.
func ACMECertificates(snap *snapshot.Snapshot) []snapshot.ACMECertificate {
	t := newTranslator(snap)
	t.index()
	t.translateGatewayClasses()
	t.translateListeners()
	t.assignSockets()
	t.collectACME()
	var out []snapshot.ACMECertificate
	for _, grp := range t.sortedACMEGroups() {
		if grp.awaitingAddress {
			continue
		}
		c := snapshot.ACMECertificate{
			Secret:   grp.secret,
			Issuer:   grp.issuer.DeepCopy(),
			Domains:  append([]string(nil), grp.domains...),
			Gateways: append([]string(nil), grp.gateways...),
		}
		if grp.refs != nil {
			c.EABKey = grp.refs.eabKey
			if len(grp.refs.caBundle) > 0 {
				c.CABundle = append([]byte(nil), grp.refs.caBundle...)
			}
			if grp.refs.dnsCredentials != nil {
				c.DNSCredentials = map[string]string{}
				for k, v := range grp.refs.dnsCredentials {
					c.DNSCredentials[k] = v
				}
			}
		}
		c.HTTP01Addresses, c.TLSALPN01Addresses = t.acmeAddresses(grp)
		out = append(out, c)
	}
	return out
}

// acmeAddresses are where the group's Gateways serve the challenges, for
// the manager's self-check: every plain HTTP listener of those Gateways
// (HTTP-01) and the group's listeners (TLS-ALPN-01), sorted, unique.
func (t *translator) acmeAddresses(grp *acmeGroup) (http01, tlsALPN01 []string) {
	for _, gk := range grp.gateways {
		g := t.byKey[gk]
		for _, l := range g.listeners {
			if l.kind == socketHTTP && l.inSocket {
				for _, h := range t.challengeHosts(g) {
					http01 = appendUnique(http01, net.JoinHostPort(h, strconv.Itoa(int(l.port))))
				}
			}
		}
	}
	for _, l := range grp.listeners {
		for _, h := range t.challengeHosts(l.gw) {
			tlsALPN01 = appendUnique(tlsALPN01, net.JoinHostPort(h, strconv.Itoa(int(l.port))))
		}
	}
	sort.Strings(http01)
	sort.Strings(tlsALPN01)
	return http01, tlsALPN01
}

// challengeHosts are the hosts a Gateway's listeners are reached at: the
// bound address in file mode (a wildcard address through loopback), the
// Gateway's status addresses in Kubernetes mode (its data plane Pods bind
// 0.0.0.0 behind the Service that status.addresses report).
func (t *translator) challengeHosts(g *gatewayCtx) []string {
	if !t.snap.IsolateGateways {
		switch g.address {
		case "", "0.0.0.0":
			return []string{"127.0.0.1"}
		case "::":
			return []string{"::1"}
		}
		return []string{g.address}
	}
	var out []string
	for _, a := range g.obj.Status.Addresses {
		if a.Value == "" || (a.Type != nil && *a.Type != gwv1.IPAddressType && *a.Type != gwv1.HostnameAddressType) {
			continue
		}
		out = appendUnique(out, strings.ToLower(a.Value))
	}
	return out
}
