package acme

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-acme/lego/v4/acme/api"
	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/lego"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// checkInput is what the scheduler remembers about a certificate between
// checks.
type checkInput struct {
	fingerprint string
	failedFP    string
	nextARI     time.Time
}

// checkResult is when to look again, and what to remember.
type checkResult struct {
	next     time.Time
	failedFP string
	nextARI  time.Time
}

// orderRun is one check of one certificate: the state Secret as it writes
// it, and what explains a failure.
type orderRun struct {
	m     *Manager
	ctx   context.Context
	key   types.NamespacedName
	mu    sync.Mutex
	state snapshot.ACMEState
	last  []byte // the state's JSON as stored
	facts orderFacts
}

// set replaces the state and stores it (if it changed).
func (r *orderRun) set(st snapshot.ACMEState) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state = st
	return r.write(r.ctx)
}

// update changes the state and stores it (if it changed).
func (r *orderRun) update(f func(*snapshot.ACMEState, *orderFacts)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.state, &r.facts)
	return r.write(r.ctx)
}

// cleanup removes a challenge. A cancelled order writes nothing more: a
// newer check of the certificate may already own its state Secret, and
// overwrites the challenge anyway.
func (r *orderRun) cleanup(f func(*snapshot.ACMEState)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.state)
	if r.ctx.Err() != nil {
		return nil
	}
	return r.write(r.ctx)
}

func (r *orderRun) setSelfCheck(domain string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.facts.selfCheck, domain)
	} else {
		r.facts.selfCheck[domain] = err
	}
}

// write stores r.state unless it is what is stored already. r.mu is held.
func (r *orderRun) write(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		// Cancelled: not ours to write any more (a Store may not look at
		// ctx itself).
		return err
	}
	raw, err := json.Marshal(&r.state)
	if err != nil {
		return err
	}
	if bytes.Equal(raw, r.last) {
		return nil
	}
	s, err := snapshot.EncodeACMEState(r.key, &r.state)
	if err != nil {
		return err
	}
	if err := r.m.o.Store.Put(ctx, s); err != nil {
		return fmt.Errorf("writing state Secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	r.last = raw
	return nil
}

func challengeOf(c *snapshot.ACMECertificate) v1alpha1.ACMEChallengeType {
	if c.Issuer == nil || c.Issuer.Spec.Challenge == "" {
		return v1alpha1.ACMEChallengeHTTP01
	}
	return c.Issuer.Spec.Challenge
}

func challengeName(t v1alpha1.ACMEChallengeType) string {
	switch t {
	case v1alpha1.ACMEChallengeTLSALPN01:
		return "TLS-ALPN-01"
	case v1alpha1.ACMEChallengeDNS01:
		return "DNS-01"
	}
	return "HTTP-01"
}

// check looks at one certificate, orders it when needed, and says when to
// look again.
func (m *Manager) check(ctx context.Context, c *snapshot.ACMECertificate, in checkInput) checkResult {
	now := m.now()
	res := checkResult{failedFP: in.failedFP, nextARI: in.nextARI, next: now.Add(recheckInterval)}
	issuer := issuerName(c)
	log := m.log.With("secret", c.Secret.String(), "issuer", issuer)
	r := &orderRun{m: m, ctx: ctx, key: c.Secret, facts: orderFacts{
		cert: c, challenge: challengeOf(c), tokens: map[string]string{}, selfCheck: map[string]error{},
	}}

	certSecret, err := m.o.Store.Get(ctx, c.Secret)
	var stateSecret *corev1.Secret
	if err == nil {
		stateSecret, err = m.o.Store.Get(ctx, types.NamespacedName{Namespace: c.Secret.Namespace, Name: snapshot.ACMEStateSecretName(c.Secret.Name)})
	}
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("cannot read the certificate's Secrets; trying again later", "error", err.Error())
			res.next = now.Add(defaultInitialBackoff)
		}
		return res
	}
	var prev *snapshot.ACMEState
	if stateSecret != nil {
		r.last = stateSecret.Data[snapshot.ACMEStateKey]
		if p, err := snapshot.DecodeACMEState(stateSecret); err == nil {
			prev = p
		} else {
			log.Warn("ignoring an unreadable state Secret", "error", err.Error())
		}
	}
	sameOrder := prev != nil && prev.Issuer == issuer && slices.Equal(prev.Domains, c.Domains)
	base := snapshot.ACMEState{Issuer: issuer, Domains: slices.Clone(c.Domains)}
	if sameOrder {
		base.NotAfter, base.RenewAt = prev.NotAfter, prev.RenewAt
	}

	if err := validateCertificate(c, m.o.AllowExecDNSProvider); err != nil {
		m.configFailure(r, c, prev, base, ReasonInvalidIssuer, err.Error())
		return res
	}
	if certSecret != nil && certSecret.Annotations[snapshot.ACMEIssuerAnnotation] == "" {
		m.configFailure(r, c, prev, base, ReasonSecretNotManaged, notManagedMessage(c))
		return res
	}

	// Is there a certificate to keep, and is it due?
	var leaf *x509.Certificate
	kind, why := kindIssue, "no certificate yet"
	var renewAt time.Time
	if certSecret != nil {
		l, perr := parseCertSecret(certSecret)
		switch {
		case perr != nil:
			why = "the Secret's certificate is unusable: " + perr.Error()
		case certSecret.Annotations[snapshot.ACMEIssuerAnnotation] != issuer:
			why = "the Secret's certificate is from ACMEIssuer " + certSecret.Annotations[snapshot.ACMEIssuerAnnotation]
		case certSecret.Annotations[snapshot.ACMEDomainsAnnotation] != strings.Join(c.Domains, ",") || !covers(l, c.Domains):
			why = "the listeners' hostnames changed"
		default:
			leaf = l
		}
	}
	if leaf != nil {
		m.metrics.setExpiry(c.Secret, issuer, leaf.NotAfter)
		base.NotAfter = utc(leaf.NotAfter)
		stored := sameOrder && prev.NotAfter != nil && prev.NotAfter.Equal(*base.NotAfter) && prev.RenewAt != nil
		if stored && !in.nextARI.IsZero() && now.Before(in.nextARI) {
			renewAt = *prev.RenewAt
		} else {
			var keep *time.Time
			if stored {
				keep = prev.RenewAt
			}
			renewAt, res.nextARI = m.renewalTime(ctx, c, nil, leaf, keep)
			if ctx.Err() != nil {
				return res
			}
		}
		base.RenewAt = utc(renewAt)
		if now.Before(renewAt) {
			reason := ReasonIssued
			if sameOrder && prev.Phase == snapshot.ACMEReady && prev.Reason == ReasonRenewed {
				reason = ReasonRenewed
			}
			st := base
			st.Phase, st.Reason = snapshot.ACMEReady, reason
			st.Message = readyMessage(reason, c, leaf, renewAt)
			if err := r.set(st); err != nil && ctx.Err() == nil {
				log.Warn("cannot write the state Secret", "error", err.Error())
			}
			res.failedFP = ""
			res.next = earliest(renewAt, res.nextARI, now.Add(recheckInterval))
			return res
		}
		kind, why = kindRenew, "renewal is due"
	}

	// An order is needed; a failed one waits for its NextAttempt unless
	// the inputs changed since (a rate limit waits in any case).
	if sameOrder && prev.Phase == snapshot.ACMEFailed && prev.NextAttempt != nil && now.Before(*prev.NextAttempt) &&
		(prev.Reason == ReasonRateLimited || in.failedFP == "" || in.failedFP == in.fingerprint) {
		res.failedFP = in.fingerprint
		res.next = *prev.NextAttempt
		return res
	}
	failures := 0
	if sameOrder && prev.Phase != snapshot.ACMEReady {
		failures = prev.Failures
	}
	pending := base
	pending.Phase, pending.Reason, pending.Failures = snapshot.ACMEPending, ReasonOrdering, failures
	pending.Message = fmt.Sprintf("ordering a certificate for %s from %s with %s (%s)",
		strings.Join(c.Domains, ", "), c.Issuer.Spec.DirectoryURL, challengeName(r.facts.challenge), why)
	if err := r.set(pending); err != nil {
		if ctx.Err() == nil {
			log.Warn("cannot write the state Secret; trying again later", "error", err.Error())
			res.next = now.Add(defaultInitialBackoff)
		}
		return res
	}
	m.metrics.ordered(c.Secret, issuer, kind)
	log.Info("ordering an ACME certificate", "kind", kind, "domains", c.Domains, "why", why, "challenge", challengeName(r.facts.challenge))

	var old *x509.Certificate
	if kind == kindRenew {
		old = leaf
	}
	cr, client, err := m.order(ctx, r, c, old)
	if err == nil {
		err = m.storeCertificate(ctx, c, cr)
	}
	if ctx.Err() != nil {
		// Cancelled: the certificate is no longer wanted, its inputs
		// changed, or the manager stops. Whoever comes next decides.
		log.Info("ACME order cancelled", "domains", c.Domains)
		return res
	}
	if err != nil {
		return m.orderFailure(r, c, in, pending, kind, err)
	}
	newLeaf, err := certcrypto.ParsePEMCertificate(cr.Certificate)
	if err != nil { // lego checked it; cannot happen
		return m.orderFailure(r, c, in, pending, kind, inStage(stageOrder, err))
	}
	renewAt, res.nextARI = m.renewalTime(ctx, c, client, newLeaf, nil)
	now = m.now()
	reason := ReasonIssued
	if kind == kindRenew {
		reason = ReasonRenewed
	}
	st := snapshot.ACMEState{Issuer: issuer, Domains: slices.Clone(c.Domains), Phase: snapshot.ACMEReady, Reason: reason,
		Message: readyMessage(reason, c, newLeaf, renewAt), NotAfter: utc(newLeaf.NotAfter), RenewAt: utc(renewAt)}
	m.metrics.setExpiry(c.Secret, issuer, newLeaf.NotAfter)
	log.Info("ACME certificate "+strings.ToLower(reason), "domains", c.Domains, "notAfter", newLeaf.NotAfter.UTC(), "renewAt", renewAt.UTC())
	m.emit(c, false, reason, st.Message)
	if err := r.set(st); err != nil && ctx.Err() == nil {
		log.Warn("the certificate is stored but the state Secret could not be written", "error", err.Error())
	}
	res.failedFP = ""
	res.next = earliest(renewAt, res.nextARI, now.Add(recheckInterval))
	return res
}

// configFailure records a problem only the user can fix; it is checked
// again at the next Sync (and every recheckInterval).
func (m *Manager) configFailure(r *orderRun, c *snapshot.ACMECertificate, prev *snapshot.ACMEState, base snapshot.ACMEState, reason, msg string) {
	st := base
	st.Phase, st.Reason, st.Message = snapshot.ACMEFailed, reason, msg
	if prev == nil || prev.Phase != st.Phase || prev.Reason != reason || prev.Message != msg {
		m.log.Warn("ACME certificate cannot be ordered", "secret", c.Secret.String(), "reason", reason, "message", msg)
		m.emit(c, true, reason, msg)
	}
	if err := r.set(st); err != nil && r.ctx.Err() == nil {
		m.log.Warn("cannot write the state Secret", "secret", c.Secret.String(), "error", err.Error())
	}
}

// orderFailure records a failed order and schedules the next attempt.
func (m *Manager) orderFailure(r *orderRun, c *snapshot.ACMECertificate, in checkInput, pending snapshot.ACMEState, kind string, err error) checkResult {
	now := m.now()
	f := classify(err, &r.facts, now)
	if p := problem(err); p != nil && p.Type == accountDoesNotExist {
		m.forgetRegistration(r.ctx, c)
	}
	failures := pending.Failures + 1
	var wait time.Duration
	switch {
	case f.reason == ReasonRateLimited:
		wait = f.retryAfter
		if wait <= 0 {
			_, wait = backoffs(c.Issuer.Spec.Retry)
		}
	case f.untilSync:
	default:
		wait = backoff(c.Issuer.Spec.Retry, failures, randomJitter())
	}
	st := pending
	st.Phase, st.Reason, st.Failures = snapshot.ACMEFailed, f.reason, failures
	st.HTTP01, st.TLSALPN01 = nil, nil
	res := checkResult{failedFP: in.fingerprint, next: now.Add(recheckInterval)}
	if wait > 0 {
		res.next = now.Add(wait)
		st.NextAttempt = utc(res.next)
		st.Message = fmt.Sprintf("%s (attempt %d failed; next attempt at %s)", f.message, failures, st.NextAttempt.Format(time.RFC3339))
	} else {
		st.Message = fmt.Sprintf("%s (attempt %d failed; edgeway tries again when the configuration changes)", f.message, failures)
	}
	// Metrics and event first: whoever sees the state sees them too.
	m.metrics.failed(c.Secret, issuerName(c), kind, f.reason)
	m.log.Warn("ACME order failed", "secret", c.Secret.String(), "issuer", issuerName(c), "kind", kind,
		"reason", f.reason, "message", st.Message, "error", err.Error())
	m.emit(c, true, f.reason, st.Message)
	if werr := r.set(st); werr != nil && r.ctx.Err() == nil {
		m.log.Warn("cannot write the state Secret", "secret", c.Secret.String(), "error", werr.Error())
	}
	return res
}

// order obtains a certificate for c (replacing old when renewing).
func (m *Manager) order(ctx context.Context, r *orderRun, c *snapshot.ACMECertificate, old *x509.Certificate) (*certificate.Resource, *lego.Client, error) {
	httpClient, tr, err := newHTTPClient(ctx, c.CABundle)
	if err != nil {
		return nil, nil, err
	}
	defer tr.CloseIdleConnections()
	client, _, err := m.client(ctx, c, httpClient)
	if err != nil {
		return nil, nil, err
	}
	switch r.facts.challenge {
	case v1alpha1.ACMEChallengeTLSALPN01:
		err = client.Challenge.SetTLSALPN01Provider(tlsALPN01Provider{r})
	case v1alpha1.ACMEChallengeDNS01:
		d := c.Issuer.Spec.DNS01
		p, perr := newDNSProvider(d, c.DNSCredentials, m.o.AllowExecDNSProvider)
		if perr != nil {
			return nil, nil, inStage(stageIssuer, perr)
		}
		unlock, lerr := lockDNS01(ctx)
		if lerr != nil {
			return nil, nil, lerr
		}
		defer unlock()
		err = client.Challenge.SetDNS01Provider(p, dns01Options(ctx, d)...)
	default:
		err = client.Challenge.SetHTTP01Provider(http01Provider{r})
	}
	if err != nil {
		return nil, nil, err
	}
	req := certificate.ObtainRequest{Domains: c.Domains, Bundle: true, Profile: c.Issuer.Spec.Profile}
	if old != nil {
		// Name the replaced certificate when the CA offers ARI and knows
		// it (RFC 9773 section 5).
		if _, err := client.Certificate.GetRenewalInfo(certificate.RenewalInfoRequest{Cert: old}); err == nil {
			req.ReplacesCertID, _ = certificate.MakeARICertID(old)
			m.log.Debug("renewing with ARI: the order names the replaced certificate", "secret", c.Secret.String(), "replaces", req.ReplacesCertID)
		}
	}
	cr, err := m.obtain(ctx, c, client, httpClient, req)
	if err != nil {
		return nil, nil, inStage(stageOrder, err)
	}
	return cr, client, nil
}

// storeCertificate writes the certificate Secret.
func (m *Manager) storeCertificate(ctx context.Context, c *snapshot.ACMECertificate, cr *certificate.Resource) error {
	s := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{
		corev1.TLSCertKey:       cr.Certificate,
		corev1.TLSPrivateKeyKey: cr.PrivateKey,
	}}
	s.APIVersion, s.Kind = "v1", "Secret"
	s.Namespace, s.Name = c.Secret.Namespace, c.Secret.Name
	s.Annotations = map[string]string{
		snapshot.ACMEIssuerAnnotation:  issuerName(c),
		snapshot.ACMEDomainsAnnotation: strings.Join(c.Domains, ","),
	}
	return inStage(stageStore, m.o.Store.Put(ctx, s))
}

// renewalTime is when leaf should be renewed, and when to ask the CA
// again: ARI when the CA offers it (keeping keep when it is still inside
// the suggested window), else 2/3 of the lifetime. client nil: a client
// with a throwaway key (ARI needs no account).
func (m *Manager) renewalTime(ctx context.Context, c *snapshot.ACMECertificate, client *lego.Client, leaf *x509.Certificate, keep *time.Time) (time.Time, time.Time) {
	now := m.now()
	fallback := fallbackRenewAt(leaf)
	if client == nil {
		httpClient, tr, err := newHTTPClient(ctx, c.CABundle)
		if err != nil {
			return fallback, now.Add(minARIPoll)
		}
		defer tr.CloseIdleConnections()
		key, err := m.throwawayKey()
		if err != nil {
			return fallback, now.Add(minARIPoll)
		}
		cfg := lego.NewConfig(&account{key: key})
		cfg.CADirURL, cfg.HTTPClient, cfg.UserAgent = c.Issuer.Spec.DirectoryURL, httpClient, "edgeway"
		client, err = lego.NewClient(cfg)
		if err != nil {
			m.log.Debug("no renewal information: the CA's directory is unavailable", "secret", c.Secret.String(), "error", err.Error())
			return fallback, now.Add(minARIPoll)
		}
	}
	info, err := client.Certificate.GetRenewalInfo(certificate.RenewalInfoRequest{Cert: leaf})
	if errors.Is(err, api.ErrNoARI) {
		return fallback, now.Add(maxARIPoll)
	}
	if err != nil {
		m.log.Debug("no renewal information from the CA; renewing at 2/3 of the lifetime", "secret", c.Secret.String(), "error", err.Error())
		return fallback, now.Add(minARIPoll)
	}
	start, end := info.SuggestedWindow.Start, info.SuggestedWindow.End
	var at time.Time
	if keep != nil && !keep.Before(start.Truncate(time.Second)) && !keep.After(end) {
		at = *keep
	} else if p := info.ShouldRenewAt(now, max(end.Sub(now), 0)+time.Second); p != nil {
		at = *p
	} else {
		at = fallback
	}
	return clampRenewAt(leaf, at), now.Add(ariPollAfter(info.RetryAfter))
}

// throwawayKey is the key of ARI-only clients.
func (m *Manager) throwawayKey() (crypto.PrivateKey, error) {
	m.accountsMu.Lock()
	defer m.accountsMu.Unlock()
	if m.ariKey == nil {
		k, err := certcrypto.GeneratePrivateKey(certcrypto.EC256)
		if err != nil {
			return nil, err
		}
		m.ariKey = k
	}
	return m.ariKey, nil
}

// validateCertificate refuses what no CA can fix (translation checks most
// of it already; the manager does not rely on that).
func validateCertificate(c *snapshot.ACMECertificate, allowExec bool) error {
	if c.Issuer == nil {
		return errors.New("no issuer")
	}
	if len(c.Domains) == 0 {
		return errors.New("no hostnames to order a certificate for: give the listeners hostnames")
	}
	spec := &c.Issuer.Spec
	if spec.DirectoryURL == "" {
		return errors.New("spec.directoryURL is empty")
	}
	ch := challengeOf(c)
	switch ch {
	case v1alpha1.ACMEChallengeHTTP01, v1alpha1.ACMEChallengeTLSALPN01:
		for _, d := range c.Domains {
			if strings.HasPrefix(d, "*.") {
				return fmt.Errorf("hostname %s is a wildcard, which only challenge DNS01 can validate; set spec.challenge: DNS01 or use exact hostnames", d)
			}
		}
	case v1alpha1.ACMEChallengeDNS01:
		if spec.DNS01 == nil {
			return errors.New("spec.dns01 is required with challenge DNS01")
		}
		info, ok := lookupDNSProvider(spec.DNS01.Provider)
		if !ok {
			return fmt.Errorf("spec.dns01.provider: %q is not built into edgeway (built in: %s)", spec.DNS01.Provider, strings.Join(dnsProviderNames(), ", "))
		}
		if info.runsCommands && !allowExec {
			return fmt.Errorf("spec.dns01.provider: %q runs a program inside the controller and is disabled here; use another DNS provider", spec.DNS01.Provider)
		}
	default:
		return fmt.Errorf("spec.challenge: %q is not HTTP01, TLSALPN01 or DNS01", ch)
	}
	if len(c.CABundle) > 0 && !x509.NewCertPool().AppendCertsFromPEM(c.CABundle) {
		return errors.New("spec.caBundleRef: no PEM certificate in the referenced key")
	}
	if eab := spec.ExternalAccountBinding; eab != nil {
		if c.EABKey == "" {
			return errors.New("spec.externalAccountBinding.keySecretRef: the HMAC key is empty")
		}
		// lego decodes the key only when it registers, and its error
		// names neither the binding nor the Secret; no CA can accept a key
		// that does not decode, so retrying would not help either. lego
		// accepts base64url with or without padding (newlines ignored).
		if _, err := base64.RawURLEncoding.DecodeString(c.EABKey); err != nil {
			if _, perr := base64.URLEncoding.DecodeString(c.EABKey); perr != nil {
				return fmt.Errorf("spec.externalAccountBinding.keySecretRef: the HMAC key in Secret %s/%s (key %q) is not base64url (%v): put it there exactly as the CA shows it",
					c.Issuer.Namespace, eab.KeySecretRef.Name, eab.KeySecretRef.Key, err)
			}
		}
	}
	return nil
}

func notManagedMessage(c *snapshot.ACMECertificate) string {
	return fmt.Sprintf("Secret %s exists and was not written by edgeway's ACME manager (it has no %s annotation), so it is never overwritten: delete it to let edgeway manage it, or point certificateRefs at another Secret name",
		c.Secret, snapshot.ACMEIssuerAnnotation)
}

func readyMessage(reason string, c *snapshot.ACMECertificate, leaf *x509.Certificate, renewAt time.Time) string {
	verb := "issued"
	if reason == ReasonRenewed {
		verb = "renewed"
	}
	by := leaf.Issuer.CommonName
	if by == "" {
		by = c.Issuer.Spec.DirectoryURL
	}
	return fmt.Sprintf("certificate for %s %s by %s, valid until %s; renewal from %s",
		strings.Join(c.Domains, ", "), verb, by, leaf.NotAfter.UTC().Truncate(time.Second).Format(time.RFC3339),
		renewAt.UTC().Truncate(time.Second).Format(time.RFC3339))
}

// parseCertSecret returns the leaf of a certificate Secret whose key
// matches it.
func parseCertSecret(s *corev1.Secret) (*x509.Certificate, error) {
	pair, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, err
	}
	if pair.Leaf != nil {
		return pair.Leaf, nil
	}
	return x509.ParseCertificate(pair.Certificate[0])
}

// covers: the certificate names exactly these hostnames (at least).
func covers(leaf *x509.Certificate, domains []string) bool {
	for _, d := range domains {
		if !slices.Contains(leaf.DNSNames, d) {
			return false
		}
	}
	return true
}

// earliest of the non-zero times.
func earliest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if !t.IsZero() && (out.IsZero() || t.Before(out)) {
			out = t
		}
	}
	return out
}
