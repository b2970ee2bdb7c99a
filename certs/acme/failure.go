package acme

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// Reasons of the state (snapshot.ACMEState.Reason) and of the failure
// metric's reason label.
const (
	ReasonIssued               = "Issued"
	ReasonRenewed              = "Renewed"
	ReasonOrdering             = "Ordering"
	ReasonInvalidIssuer        = "InvalidIssuer"
	ReasonSecretNotManaged     = "SecretNotManaged"
	ReasonDirectoryUnavailable = "DirectoryUnavailable"
	ReasonAccountFailed        = "AccountFailed"
	ReasonRateLimited          = "RateLimited"
	ReasonChallengeFailed      = "ChallengeFailed"
	ReasonDNSProviderFailed    = "DNSProviderFailed"
	ReasonOrderFailed          = "OrderFailed"
	ReasonStoreFailed          = "StoreFailed"
)

// accountDoesNotExist is the CA's problem type for an unknown account
// (RFC 8555 section 6.7), e.g. after the CA's database was reset.
const accountDoesNotExist = "urn:ietf:params:acme:error:accountDoesNotExist"

// stage is where an order failed; it decides how the error is explained.
type stage int

const (
	stageIssuer    stage = iota // the issuer's configuration (no CA involved)
	stageDirectory              // reading the CA's directory
	stageAccount                // registering or loading the account
	stageOrder                  // ordering: challenges, finalization
	stageStore                  // writing the certificate Secret
)

// stageError is an error of one stage of an order.
type stageError struct {
	stage stage
	err   error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

func inStage(s stage, err error) error {
	if err == nil {
		return nil
	}
	return &stageError{stage: s, err: err}
}

// failure is a classified order failure.
type failure struct {
	reason  string
	message string
	// retryAfter is the CA's Retry-After of a rate limit (0: none given).
	retryAfter time.Duration
	// untilSync: retrying cannot help until the configuration changes.
	untilSync bool
}

// orderFacts is what an order learned that explains its failure.
type orderFacts struct {
	cert      *snapshot.ACMECertificate
	challenge v1alpha1.ACMEChallengeType
	// tokens: HTTP-01 token per domain presented.
	tokens map[string]string
	// selfCheck: the self-check's last error per domain, when it did not pass.
	selfCheck map[string]error
}

// classify explains an order's error: reason, message (what happened, the
// CA's problem, what to do) and, for a rate limit, the CA's Retry-After.
func classify(err error, f *orderFacts, now time.Time) failure {
	c := f.cert
	if wait, limited := rateLimit(err, now); limited {
		return failure{
			reason:     ReasonRateLimited,
			retryAfter: wait,
			message: fmt.Sprintf("the CA at %s rate-limited the order for %s: %s. Nothing to do but wait; edgeway retries when the CA allows",
				c.Issuer.Spec.DirectoryURL, strings.Join(c.Domains, ", "), problemText(err)),
		}
	}
	var se *stageError
	st := stageOrder
	if errors.As(err, &se) {
		st = se.stage
	}
	switch st {
	case stageIssuer:
		return failure{reason: ReasonInvalidIssuer, untilSync: true,
			message: fmt.Sprintf("ACMEIssuer %s/%s: %s", c.Issuer.Namespace, c.Issuer.Name, err)}
	case stageDirectory:
		return failure{reason: ReasonDirectoryUnavailable,
			message: fmt.Sprintf("could not read the ACME directory %s: %s. Check spec.directoryURL, that the controller can reach the CA, and spec.caBundleRef when the CA's certificate is not publicly trusted",
				c.Issuer.Spec.DirectoryURL, problemText(err))}
	case stageAccount:
		return failure{reason: ReasonAccountFailed, message: accountMessage(err, c)}
	case stageStore:
		if errors.Is(err, ErrNotManaged) {
			return failure{reason: ReasonSecretNotManaged, untilSync: true, message: notManagedMessage(c)}
		}
		return failure{reason: ReasonStoreFailed,
			message: fmt.Sprintf("the certificate for %s was issued but could not be stored in Secret %s: %s", strings.Join(c.Domains, ", "), c.Secret, err)}
	}
	if p := problem(err); p != nil && p.Type == accountDoesNotExist {
		return failure{reason: ReasonAccountFailed,
			message: fmt.Sprintf("the CA at %s no longer knows the ACME account of ACMEIssuer %s/%s (%s); edgeway registers it again at the next attempt",
				c.Issuer.Spec.DirectoryURL, c.Issuer.Namespace, c.Issuer.Name, problemText(err))}
	}
	if perDomain := domainErrors(err); len(perDomain) > 0 {
		return challengeFailure(perDomain, f)
	}
	return failure{reason: ReasonOrderFailed, message: orderMessage(err, c)}
}

func accountMessage(err error, c *snapshot.ACMECertificate) string {
	spec := &c.Issuer.Spec
	who := "an account"
	if spec.Email != "" {
		who = "an account for " + spec.Email
	}
	p := problem(err)
	if p == nil {
		// Not the CA: the account Secret.
		return fmt.Sprintf("ACME account of ACMEIssuer %s/%s: %s", c.Issuer.Namespace, c.Issuer.Name, err)
	}
	msg := fmt.Sprintf("could not register %s at %s: %s. ", who, spec.DirectoryURL, problemText(err))
	switch {
	case strings.HasSuffix(p.Type, ":externalAccountRequired"):
		msg += "The CA requires an external account binding: set spec.externalAccountBinding with the key ID and HMAC key the CA gave you"
	case strings.HasSuffix(p.Type, ":invalidContact"), strings.HasSuffix(p.Type, ":unsupportedContact"):
		msg += "Fix spec.email"
	case spec.ExternalAccountBinding != nil && strings.HasSuffix(p.Type, ":unauthorized"):
		// The CA's detail may not say it is the binding (an unknown kid).
		eab := spec.ExternalAccountBinding
		msg += fmt.Sprintf("The CA refused the external account binding: check that spec.externalAccountBinding.keyID %q and the HMAC key in Secret %s/%s (key %q) are the pair the CA gave you for this directory, the key exactly as the CA shows it",
			eab.KeyID, c.Issuer.Namespace, eab.KeySecretRef.Name, eab.KeySecretRef.Key)
	case !spec.TermsOfServiceAgreed:
		msg += "Most CAs require agreeing to their terms of service: set spec.termsOfServiceAgreed: true if you agree"
	default:
		msg += "Check spec.email, spec.externalAccountBinding and the CA's requirements"
	}
	return msg
}

func orderMessage(err error, c *snapshot.ACMECertificate) string {
	msg := fmt.Sprintf("the CA at %s refused the order for %s: %s", c.Issuer.Spec.DirectoryURL, strings.Join(c.Domains, ", "), problemText(err))
	p := problem(err)
	if p == nil {
		return msg
	}
	switch {
	case strings.HasSuffix(p.Type, ":invalidProfile"):
		msg += ". Check spec.profile against the profiles the CA's directory lists"
	case strings.HasSuffix(p.Type, ":rejectedIdentifier"):
		msg += ". The CA will not issue for one of these names; change the listener hostnames"
	case strings.HasSuffix(p.Type, ":caa"):
		msg += ". A CAA DNS record forbids this CA for the domain; add the CA to the CAA record"
	case strings.HasSuffix(p.Type, ":unauthorized"):
		msg += ". The account may not order for these names"
	}
	return msg
}

// challengeFailure explains the first failed domain (sorted) and counts
// the others.
func challengeFailure(perDomain map[string]error, f *orderFacts) failure {
	domains := make([]string, 0, len(perDomain))
	for d := range perDomain {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	domain := domains[0]
	err := perDomain[domain]
	more := ""
	if len(domains) > 1 {
		more = fmt.Sprintf(" (%d more domains failed: %s)", len(domains)-1, strings.Join(domains[1:], ", "))
	}
	host := strings.TrimPrefix(domain, "*.")
	gateways := "the Gateway"
	if len(f.cert.Gateways) > 0 {
		gateways = "Gateway " + strings.Join(f.cert.Gateways, ", ")
	}
	self := ""
	if e := f.selfCheck[host]; e != nil {
		self = fmt.Sprintf(" edgeway's own check before asking the CA failed too: %s.", e)
	}
	p := problem(err)
	switch f.challenge {
	case v1alpha1.ACMEChallengeDNS01:
		provider := f.cert.Issuer.Spec.DNS01.Provider
		if p == nil {
			return failure{reason: ReasonDNSProviderFailed, message: fmt.Sprintf(
				"DNS-01 for %s: publishing TXT _acme-challenge.%s through DNS provider %s failed: %s. Check the credentials Secret (its keys are lego's environment variable names for %s), that the provider serves the zone of %s, and with spec.dns01.nameservers that those resolvers can see it%s",
				domain, host, provider, err, provider, host, more)}
		}
		return failure{reason: ReasonChallengeFailed, message: fmt.Sprintf(
			"the CA could not validate %s with DNS-01: it looked up TXT _acme-challenge.%s and reports: %s. Check that DNS provider %s serves the zone of %s (and that a CNAME of _acme-challenge.%s points into it)%s",
			domain, host, problemText(err), provider, host, host, more)}
	case v1alpha1.ACMEChallengeTLSALPN01:
		if p == nil {
			return failure{reason: ReasonChallengeFailed, message: fmt.Sprintf(
				"TLS-ALPN-01 for %s: %s%s", domain, err, more)}
		}
		return failure{reason: ReasonChallengeFailed, message: fmt.Sprintf(
			"the CA could not validate %s with TLS-ALPN-01: %s.%s Make sure port 443 of %s reaches the TLS listener of %s for %s (it answers ALPN acme-tls/1 itself; a TLS-terminating load balancer in front breaks this challenge)%s",
			domain, problemText(err), self, host, gateways, host, more)}
	default:
		if p == nil {
			return failure{reason: ReasonChallengeFailed, message: fmt.Sprintf(
				"HTTP-01 for %s: %s%s", domain, err, more)}
		}
		url := "http://" + host + "/.well-known/acme-challenge/"
		if tok := f.tokens[host]; tok != "" {
			url += tok
		}
		return failure{reason: ReasonChallengeFailed, message: fmt.Sprintf(
			"the CA could not validate %s with HTTP-01: it fetched %s and reports: %s.%s Make sure port 80 of %s reaches a plain HTTP listener of %s (the challenge is answered there, before any route)%s",
			domain, url, problemText(err), self, host, gateways, more)}
	}
}

// problem is the CA's problem document in err, if any.
func problem(err error) *legoacme.ProblemDetails {
	var p *legoacme.ProblemDetails
	if errors.As(err, &p) {
		return p
	}
	return nil
}

// problemText is the CA's problem detail (with its type and subproblems)
// when err carries one, otherwise the error.
func problemText(err error) string {
	p := problem(err)
	if p == nil {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(p.Detail, "."))
	if t := strings.TrimPrefix(p.Type, "urn:ietf:params:acme:error:"); t != "" {
		fmt.Fprintf(&b, " (%s)", t)
	}
	for _, sp := range p.SubProblems {
		fmt.Fprintf(&b, "; %s: %s", sp.Identifier.Value, strings.TrimSuffix(sp.Detail, "."))
	}
	return b.String()
}

// rateLimit tells whether err is a CA rate limit and how long the CA asks
// to wait (0: it did not say).
func rateLimit(err error, now time.Time) (time.Duration, bool) {
	var rl *legoacme.RateLimitedError
	if errors.As(err, &rl) {
		return parseRetryAfter(rl.RetryAfter, now), true
	}
	if p := problem(err); p != nil && (p.Type == legoacme.RateLimitedErr || p.HTTPStatus == http.StatusTooManyRequests) {
		return 0, true
	}
	// lego reports a 429 without a JSON problem as "429 :: <method> :: ...".
	if err != nil && strings.HasPrefix(err.Error(), "get directory at") && strings.Contains(err.Error(), ": 429 ::") {
		return 0, true
	}
	return 0, false
}

// parseRetryAfter reads a Retry-After header (RFC 9110 section 10.2.3):
// delay seconds or an HTTP date, relative to now. 0 when absent or invalid.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// domainErrors finds lego's per-domain challenge errors in err: lego
// returns them as a map from domain to error (resolver.obtainError, an
// unexported type), which only reflection can list.
func domainErrors(err error) map[string]error {
	out := map[string]error{}
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		v := reflect.ValueOf(e)
		if v.Kind() == reflect.Map && v.Type().Key().Kind() == reflect.String {
			it := v.MapRange()
			for it.Next() {
				if de, ok := it.Value().Interface().(error); ok && de != nil {
					out[it.Key().String()] = de
				}
			}
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}
