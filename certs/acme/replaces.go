package acme

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/lego"

	legoacme "github.com/go-acme/lego/v4/acme"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// A renewal order names the certificate it replaces (RFC 9773, section 5:
// the order's "replaces"). That is a hint: it lets the CA count the order as
// a renewal (Let's Encrypt exempts those from some rate limits), and a
// certificate can be had without it. So when the CA refuses an order because
// of the hint, the manager orders once more without it, at once, rather than
// send the same refused order at every retry until the old certificate
// expires. Refused because of the hint means:
//   - alreadyReplaced, wherever in the order it comes: an order this
//     process did not finish already replaced the certificate;
//   - any refusal of the new-order request itself other than rateLimited
//     (ordering again would only count against the limit): the CA may not
//     know the certificate any more (another CA behind the directory, a
//     purged database), or fail to find it; Pebble 2.10.1 cannot find one
//     whose serial has its top bit set (it looks the DER bytes' hex up, a
//     leading 00, among the minimal hex it stored), about 1 serial in 250.
//
// A second refusal is the one reported: it says what is wrong with the order
// itself.

// obtain runs the order req describes with client, once more without
// replaces when the CA refused it for naming the replaced certificate.
func (m *Manager) obtain(ctx context.Context, c *snapshot.ACMECertificate, client *lego.Client, httpClient *http.Client, req certificate.ObtainRequest) (*certificate.Resource, error) {
	cr, err := client.Certificate.Obtain(req)
	if err == nil || req.ReplacesCertID == "" || ctx.Err() != nil {
		return cr, err
	}
	if !refusedForReplaces(err, func() (string, error) { return newOrderURL(ctx, httpClient, c.Issuer.Spec.DirectoryURL) }) {
		return nil, err
	}
	m.log.Warn("the CA refused the renewal order that names the replaced certificate; ordering again without naming it",
		"secret", c.Secret.String(), "issuer", issuerName(c), "replaces", req.ReplacesCertID, "error", err.Error())
	req.ReplacesCertID = ""
	return client.Certificate.Obtain(req)
}

// refusedForReplaces tells whether err, from an order that named the
// replaced certificate, is a refusal that ordering without the name may
// avoid (the rules above). newOrder reads the directory's new-order URL; it
// is called only for a problem document the CA returned.
func refusedForReplaces(err error, newOrder func() (string, error)) bool {
	var replaced *legoacme.AlreadyReplacedError
	if errors.As(err, &replaced) {
		return true
	}
	var p *legoacme.ProblemDetails
	if !errors.As(err, &p) || p.Type == legoacme.RateLimitedErr || p.Method != http.MethodPost || p.URL == "" {
		return false
	}
	u, uerr := newOrder()
	return uerr == nil && p.URL == u
}

// newOrderURL reads the CA's directory for its new-order URL (lego's client
// read it too but does not expose it).
func newOrderURL(ctx context.Context, httpClient *http.Client, directoryURL string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, directoryURL, nil)
	if err != nil {
		return "", err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("directory %s: HTTP %d", directoryURL, resp.StatusCode)
	}
	var dir legoacme.Directory
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&dir); err != nil {
		return "", fmt.Errorf("directory %s: %w", directoryURL, err)
	}
	if dir.NewOrderURL == "" {
		return "", fmt.Errorf("directory %s names no newOrder URL", directoryURL)
	}
	return dir.NewOrderURL, nil
}
