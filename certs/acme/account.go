package acme

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/lego"
	"github.com/go-acme/lego/v4/registration"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/edgeway/edgeway/controller/snapshot"
)

const (
	// AccountLabel marks an account Secret (value "true").
	AccountLabel = "gateway.edgeway.dev/acme-account"
	// The directory and email an account Secret was registered for.
	accountDirectoryAnnotation = "gateway.edgeway.dev/acme-directory"
	accountEmailAnnotation     = "gateway.edgeway.dev/acme-email"
	accountKeyKey              = "key.pem"
	accountRegistrationKey     = "registration.json"
)

// AccountSecretName is the name of the account Secret of an ACMEIssuer
// (in the issuer's namespace).
func AccountSecretName(issuer string) string { return issuer + "-acme-account" }

// account is a lego registration.User.
type account struct {
	email string
	key   crypto.PrivateKey
	reg   *registration.Resource
}

func (a *account) GetEmail() string                        { return a.email }
func (a *account) GetRegistration() *registration.Resource { return a.reg }
func (a *account) GetPrivateKey() crypto.PrivateKey        { return a.key }

func accountRef(c *snapshot.ACMECertificate) types.NamespacedName {
	return types.NamespacedName{Namespace: c.Issuer.Namespace, Name: AccountSecretName(c.Issuer.Name)}
}

// readAccount loads the issuer's account from its Secret. A Secret for
// another directory or email, or none, gives a fresh key without
// registration.
func (m *Manager) readAccount(ctx context.Context, c *snapshot.ACMECertificate) (*account, error) {
	spec := &c.Issuer.Spec
	s, err := m.o.Store.Get(ctx, accountRef(c))
	if err != nil {
		return nil, fmt.Errorf("reading account Secret %s: %w", accountRef(c), err)
	}
	if s != nil && s.Labels[AccountLabel] != "true" {
		return nil, fmt.Errorf("Secret %s exists and is not an edgeway ACME account (no label %s: \"true\"), so it is never overwritten: rename it or the ACMEIssuer", accountRef(c), AccountLabel)
	}
	if s != nil && s.Annotations[accountDirectoryAnnotation] == spec.DirectoryURL && s.Annotations[accountEmailAnnotation] == spec.Email {
		key, kerr := certcrypto.ParsePEMPrivateKey(s.Data[accountKeyKey])
		if kerr == nil {
			a := &account{email: spec.Email, key: key}
			if raw := s.Data[accountRegistrationKey]; len(raw) > 0 {
				var reg registration.Resource
				if json.Unmarshal(raw, &reg) == nil && reg.URI != "" {
					a.reg = &reg
				}
			}
			return a, nil
		}
		m.log.Warn("the ACME account Secret has no usable key; registering a new account",
			"secret", accountRef(c).String(), "error", kerr.Error())
	}
	key, err := certcrypto.GeneratePrivateKey(certcrypto.EC256)
	if err != nil {
		return nil, err
	}
	return &account{email: spec.Email, key: key}, nil
}

// writeAccount stores the account (key, and registration when it has one).
func (m *Manager) writeAccount(ctx context.Context, c *snapshot.ACMECertificate, a *account) error {
	ref := accountRef(c)
	s := &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{
		accountKeyKey: certcrypto.PEMEncode(a.key),
	}}
	if a.reg != nil {
		raw, err := json.Marshal(a.reg)
		if err != nil {
			return err
		}
		s.Data[accountRegistrationKey] = raw
	}
	s.APIVersion, s.Kind = "v1", "Secret"
	s.Namespace, s.Name = ref.Namespace, ref.Name
	s.Labels = map[string]string{AccountLabel: "true"}
	s.Annotations = map[string]string{
		accountDirectoryAnnotation: c.Issuer.Spec.DirectoryURL,
		accountEmailAnnotation:     c.Issuer.Spec.Email,
	}
	if err := m.o.Store.Put(ctx, s); err != nil {
		return fmt.Errorf("writing account Secret %s: %w", ref, err)
	}
	return nil
}

// client returns a lego client for the issuer's account, registering the
// account first when it has none yet. Registration of one account is
// serialized so that two certificates of one issuer do not register two
// accounts.
func (m *Manager) client(ctx context.Context, c *snapshot.ACMECertificate, httpClient *http.Client) (*lego.Client, *account, error) {
	unlock, err := m.lockAccount(ctx, accountRef(c))
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	a, err := m.readAccount(ctx, c)
	if err != nil {
		return nil, nil, inStage(stageAccount, err)
	}
	cfg := lego.NewConfig(a)
	cfg.CADirURL = c.Issuer.Spec.DirectoryURL
	cfg.HTTPClient = httpClient
	cfg.UserAgent = "edgeway"
	cfg.Certificate.KeyType = keyType(string(c.Issuer.Spec.KeyType))
	cfg.Certificate.Timeout = time.Minute
	client, err := lego.NewClient(cfg)
	if err != nil {
		return nil, nil, inStage(stageDirectory, err)
	}
	if a.reg != nil {
		return client, a, nil
	}
	spec := &c.Issuer.Spec
	var reg *registration.Resource
	if eab := spec.ExternalAccountBinding; eab != nil {
		reg, err = client.Registration.RegisterWithExternalAccountBinding(registration.RegisterEABOptions{
			TermsOfServiceAgreed: spec.TermsOfServiceAgreed,
			Kid:                  eab.KeyID,
			HmacEncoded:          c.EABKey,
		})
	} else {
		reg, err = client.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: spec.TermsOfServiceAgreed})
	}
	if err != nil {
		return nil, nil, inStage(stageAccount, err)
	}
	a.reg = reg
	if err := m.writeAccount(ctx, c, a); err != nil {
		return nil, nil, inStage(stageAccount, err)
	}
	m.log.Info("registered ACME account", "issuer", c.Issuer.Namespace+"/"+c.Issuer.Name,
		"directory", spec.DirectoryURL, "account", reg.URI, "secret", accountRef(c).String())
	return client, a, nil
}

// forgetRegistration drops the registration from the account Secret (the
// CA no longer knows it) so that the next order registers the key again.
func (m *Manager) forgetRegistration(ctx context.Context, c *snapshot.ACMECertificate) {
	unlock, err := m.lockAccount(ctx, accountRef(c))
	if err != nil {
		return
	}
	defer unlock()
	a, err := m.readAccount(ctx, c)
	if err != nil || a.reg == nil {
		return
	}
	a.reg = nil
	if err := m.writeAccount(ctx, c, a); err != nil {
		m.log.Warn("could not drop the unknown ACME account registration", "secret", accountRef(c).String(), "error", err.Error())
	}
}

// lockAccount takes the per-account-Secret lock, or fails when ctx ends.
func (m *Manager) lockAccount(ctx context.Context, ref types.NamespacedName) (func(), error) {
	m.accountsMu.Lock()
	ch, ok := m.accountLocks[ref]
	if !ok {
		ch = make(chan struct{}, 1)
		m.accountLocks[ref] = ch
	}
	m.accountsMu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func keyType(k string) certcrypto.KeyType {
	switch k {
	case "EC384":
		return certcrypto.EC384
	case "RSA2048":
		return certcrypto.RSA2048
	case "RSA4096":
		return certcrypto.RSA4096
	}
	return certcrypto.EC256
}

// newHTTPClient is the HTTP client of one order: the system roots plus the
// issuer's CA bundle, and every request bound to ctx (lego's API has no
// contexts) so a cancelled order stops at its next request.
func newHTTPClient(ctx context.Context, caBundle []byte) (*http.Client, *http.Transport, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if len(caBundle) > 0 && !pool.AppendCertsFromPEM(caBundle) {
		return nil, nil, inStage(stageIssuer, errors.New("spec.caBundleRef: no PEM certificate in the referenced key"))
	}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       30 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Timeout: time.Minute, Transport: ctxTransport{ctx: ctx, rt: tr}}, tr, nil
}

// ctxTransport cancels every request when ctx ends (on top of the request's
// own context, which carries the client's timeout).
type ctxTransport struct {
	ctx context.Context
	rt  http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := t.ctx.Err(); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(r.Context())
	// Released when the order's ctx ends (always, at the end of the
	// order): the response body may be read after RoundTrip returns.
	context.AfterFunc(t.ctx, cancel)
	return t.rt.RoundTrip(r.WithContext(rctx))
}
