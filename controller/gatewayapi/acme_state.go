package gatewayapi

import (
	"crypto/tls"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// acmeReady is the gateway.edgeway.dev/CertificateReady condition of an
// ACME listener:
//
//   - True, the state's reason (Issued, Renewed): the manager reports a
//     valid certificate for exactly the domains and issuer the listeners
//     ask for now;
//   - False, the state's reason and message: the order failed, is rate
//     limited, is being ordered, ...;
//   - False, Pending: no state yet ("waiting for the ACME manager"), or a
//     state about other domains or another issuer (the manager has not
//     caught up with an edit yet);
//   - False, InvalidState: the state Secret cannot be read, or carries
//     challenge material that cannot be served (not served);
//   - False, InvalidListener / IssuerNotFound / InvalidIssuer /
//     IssuerConflict: nothing is ordered for this listener (acme.go).
type acmeReady struct {
	ok      bool
	reason  string
	message string
}

// Reasons of CertificateReady besides the state's own.
const (
	acmeReasonPending      = "Pending"
	acmeReasonIssued       = "Issued"
	acmeReasonInvalidState = "InvalidState"
)

// conditionReason is the API's pattern for metav1.Condition.Reason.
var conditionReason = regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`)

// maxConditionMessage is metav1.Condition.Message's maximum length.
const maxConditionMessage = 32768

// acmeToken is RFC 8555's token alphabet (base64url without padding): a
// token is a path segment of the challenge URL.
var acmeToken = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// readACMEState decodes a group's state Secret and keeps the challenge
// material that can be served: HTTP-01 tokens in the base64url alphabet
// and TLS-ALPN-01 certificates with matching keys. A state Secret is one
// with the label ACMEStateLabel: "true" (another Secret of that name is
// reported, never served).
func (t *translator) readACMEState(grp *acmeGroup) {
	name := snapshot.ACMEStateSecretName(grp.secret.Name)
	s := t.secrets[key(grp.secret.Namespace, name)]
	if s == nil {
		return
	}
	grp.stateFound = true
	where := fmt.Sprintf("Secret %s/%s", grp.secret.Namespace, name)
	if s.Labels[snapshot.ACMEStateLabel] != "true" {
		grp.stateProblem = fmt.Sprintf("%s is not an ACME state Secret (it lacks the label %s: \"true\"); rename or delete it, it is where the ACME manager reports on Secret %s", where, snapshot.ACMEStateLabel, grp.secret)
		return
	}
	st, err := snapshot.DecodeACMEState(s)
	if err != nil {
		grp.stateProblem = fmt.Sprintf("the ACME state cannot be read: %v", err)
		return
	}
	grp.state = st
	var bad []string
	for i, ch := range st.HTTP01 {
		if !acmeToken.MatchString(ch.Token) {
			bad = append(bad, fmt.Sprintf("http01[%d].token %q is not base64url", i, ch.Token))
			continue
		}
		ch.Domain = strings.ToLower(ch.Domain)
		grp.http01 = append(grp.http01, ch)
	}
	for i, ch := range st.TLSALPN01 {
		if _, err := tls.X509KeyPair([]byte(ch.Certificate), []byte(ch.PrivateKey)); err != nil {
			bad = append(bad, fmt.Sprintf("tlsALPN01[%d] (%s): not a certificate and matching key: %v", i, ch.Domain, err))
			continue
		}
		ch.Domain = strings.ToLower(ch.Domain)
		grp.tlsALPN01 = append(grp.tlsALPN01, ch)
	}
	if len(bad) > 0 {
		grp.stateProblem = fmt.Sprintf("%s: challenges not served: %s", where, strings.Join(bad, "; "))
	}
}

// acmeReadyOf computes an ACME listener's CertificateReady condition.
func acmeReadyOf(l *listenerCtx) acmeReady {
	a := l.acme
	if grp := a.group; grp != nil {
		return grp.ready()
	}
	if !a.refProblem.ok() {
		return acmeReady{reason: a.refReason, message: "no certificate is ordered: " + a.refProblem.message}
	}
	var why string
	switch {
	case !l.gw.addressProblem.ok():
		why = l.gw.addressProblem.message
	case !l.accepted.ok():
		why = l.accepted.message
	case !l.conflicted.ok():
		why = l.conflicted.message
	default:
		why = "the listener is not programmed: " + l.notProgrammedWhy()
	}
	return acmeReady{reason: acmeReasonInvalidListener, message: "no certificate is ordered: " + why}
}

// ready is the condition every listener of the group shows.
func (grp *acmeGroup) ready() acmeReady {
	st := grp.state
	switch {
	case grp.awaitingAddress && (!grp.stateFound || grp.state == nil || grp.state.Phase != snapshot.ACMEReady):
		return acmeReady{reason: acmeReasonPending, message: fmt.Sprintf("waiting for Gateway %s to get an address from its load balancer before ordering a certificate for %s from ACMEIssuer %s: the CA validates the challenge there",
			strings.Join(grp.gateways, ", "), strings.Join(grp.domains, ", "), grp.issuerKey)}
	case !grp.stateFound:
		m := fmt.Sprintf("waiting for the ACME manager to obtain a certificate for %s from ACMEIssuer %s into Secret %s",
			strings.Join(grp.domains, ", "), grp.issuerKey, grp.secret)
		if len(grp.withoutHTTP) > 0 {
			// Not an error of its own (a load balancer may forward port 80
			// elsewhere), but the likely reason the order will fail.
			m += fmt.Sprintf("; note that the CA validates HTTP-01 on plain HTTP (port 80 for a public CA) and Gateway %s has no HTTP listener to answer it on: add one, or use challenge TLSALPN01 or DNS01",
				strings.Join(grp.withoutHTTP, ", "))
		}
		return acmeReady{reason: acmeReasonPending, message: m}
	case st == nil:
		return acmeReady{reason: acmeReasonInvalidState, message: grp.stateProblem}
	case st.Issuer != grp.issuerKey || !slices.Equal(sortedCopy(st.Domains), grp.domains):
		return acmeReady{reason: acmeReasonPending, message: fmt.Sprintf("waiting for the ACME manager: its last order was for %s from ACMEIssuer %s, the listeners now ask for %s from ACMEIssuer %s",
			strings.Join(st.Domains, ", "), st.Issuer, strings.Join(grp.domains, ", "), grp.issuerKey)}
	case grp.stateProblem != "":
		return acmeReady{reason: acmeReasonInvalidState, message: grp.stateProblem}
	case st.Phase == snapshot.ACMEReady:
		r := acmeReady{ok: true, reason: conditionReasonOr(st.Reason, acmeReasonIssued), message: st.Message}
		if r.message == "" {
			r.message = fmt.Sprintf("Secret %s holds a valid certificate for %s", grp.secret, strings.Join(grp.domains, ", "))
		}
		return r
	default:
		r := acmeReady{reason: conditionReasonOr(st.Reason, conditionReasonOr(string(st.Phase), acmeReasonPending)), message: st.Message}
		if r.message == "" {
			r.message = fmt.Sprintf("the ACME order for %s is %s", strings.Join(grp.domains, ", "), st.Phase)
		}
		return r
	}
}

func conditionReasonOr(reason, fallback string) string {
	if len(reason) <= 1024 && conditionReason.MatchString(reason) {
		return reason
	}
	return fallback
}

func truncateMessage(m string) string {
	if len(m) <= maxConditionMessage {
		return m
	}
	cut := maxConditionMessage - len("...")
	for cut > 0 && !utf8RuneStart(m[cut]) {
		cut--
	}
	return m[:cut] + "..."
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

func sortedCopy(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = strings.ToLower(x)
	}
	slices.Sort(out)
	return out
}
