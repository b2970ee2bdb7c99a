// This file only holds package documentation. It continues store.go's and
// is named to sort after it, so go doc shows that introduction first.

// # How the manager works
//
// Sync hands the manager the certificates the Gateways want (latest call
// wins); Run works on them until its context ends. A small pool of workers
// (maxWorkers) takes certificates whose check is due; each certificate has
// at most one check or order in flight. A check is due after every Sync
// (so a deleted or edited Secret is noticed at the next translation), at
// the certificate's RenewAt, at a failed order's NextAttempt, for an ARI
// refresh, and at the latest an hour after the previous check. Between
// those the loop sleeps on a timer: it never polls. A certificate that
// leaves the desired set is dropped at once (an order in flight for it is
// cancelled: lego has no contexts, so every HTTP request of the order is
// bound to one, and a cancelled order writes no more state); its Secrets
// stay where they are. An order in flight is also cancelled when the
// certificate's inputs change (issuer, its spec, the domains, the EAB key,
// the CA bundle, the DNS credentials); the next check starts over with
// them.
//
// A check reads the certificate Secret and the state Secret through the
// Store and orders a certificate when
//   - the certificate Secret does not exist ("issue"),
//   - its snapshot.ACMEIssuerAnnotation names another issuer, its
//     snapshot.ACMEDomainsAnnotation other domains, or its tls.crt/tls.key
//     do not parse ("issue"),
//   - or RenewAt has passed ("renew").
//
// A Secret at the certificate's name that lacks snapshot.ACMEIssuerAnnotation
// was not written by this package and is never overwritten: the state says
// Failed / SecretNotManaged until the user deletes it or picks another
// certificateRefs name. In standalone mode the FileStore only sees the state
// directory, so this only concerns files there.
//
// # State
//
// The state Secret (snapshot.ACMEState) always says what happened: Pending /
// Ordering while an order runs, Ready / Issued or Renewed afterwards, Failed
// with a Reason (InvalidIssuer, SecretNotManaged, DirectoryUnavailable,
// AccountFailed, RateLimited, ChallengeFailed, DNSProviderFailed,
// OrderFailed, StoreFailed), Failures, NextAttempt and a message that
// names the domain, the challenge type, the CA's problem detail and what to
// do. NotAfter and RenewAt describe the certificate in the Secret. It is only
// written when it changes, so a re-check after every Sync does not cause
// writes (and so no translation loop).
//
// # Accounts
//
// One ACME account per issuer (namespace/name), directory URL and email. Its
// key (EC P-256) and registration are kept in the Secret
// "<issuer name>-acme-account" in the issuer's namespace (label
// gateway.edgeway.dev/acme-account: "true", annotations naming the directory
// and email), so a restart or another replica reuses it. When the directory
// or the email changes, a new account is registered and replaces the Secret.
// The registration agrees to the terms of service when the issuer says so
// and binds the external account when externalAccountBinding is set.
// Requests to the CA trust the system roots plus the issuer's CA bundle.
//
// # Challenges
//
// HTTP-01 and TLS-ALPN-01 are answered by the Gateways themselves: the
// challenge (token and key authorization, or the acmeIdentifier certificate
// built with lego's tlsalpn01.ChallengeBlocks) is written into the state
// Secret, the data planes serve it, and the manager then checks every
// address in ACMECertificate.HTTP01Addresses / TLSALPN01Addresses the way
// the CA will (SelfCheckTimeout, 30s by default) before it asks the CA to
// validate: every address must answer (they are all the places the CA's
// lookup may lead to). A self-check that does not pass in time is logged as
// a warning and the CA is asked anyway; its outcome is added to the failure
// message. Wildcard domains are refused unless the challenge is DNS01.
//
// DNS-01 uses lego DNS providers, built into the binary from a curated list
// (httpreq, rfc2136, exec, cloudflare, digitalocean, route53; see
// dnsproviders.go for the measured build cost, why gcloud is left out, and
// how to add one). Credentials come only from the issuer's credentials
// Secret: while a provider is constructed, under a process-wide lock, the
// provider's environment variable namespace is emptied, the Secret's keys
// (which must lie in that namespace) are set, and everything is restored
// afterwards. route53 requires static keys (never the controller's own AWS
// identity); exec, which runs a program, only works with
// Options.AllowExecDNSProvider. With
// spec.dns01.nameservers the TXT record must be visible on those resolvers
// (lego's authoritative nameserver check is skipped). lego keeps the
// resolvers in package variables, so DNS-01 orders run one at a time in the
// process. spec.dns01.propagationTimeout (2m by default) bounds the wait.
//
// # Renewal
//
// After an issuance the manager asks the CA for renewal information (ARI,
// RFC 9773) when its directory offers renewalInfo, and picks the renewal
// time with lego's ShouldRenewAt inside the suggested window; it refreshes
// that answer when the CA's Retry-After says (between 1h and 24h) so a CA
// can move the window earlier. Without ARI (or when the CA does not know
// the certificate) it renews at 2/3 of the lifetime. Either way RenewAt is
// never later than NotAfter minus a quarter of the lifetime, leaving room for
// retries and for an order that is slow to complete. A renewal with ARI names
// the replaced certificate (replaces); when the CA refuses the order for that
// name, the manager orders again without it in the same attempt (replaces.go).
//
// # Failures
//
// A failed order is retried after spec.retry.initialBackoff (1m), doubling
// per consecutive failure up to spec.retry.maxBackoff (1h), minus up to 10%
// jitter. A CA rate limit (urn:ietf:params:acme:error:rateLimited, or HTTP
// 429) waits for the CA's Retry-After, or maxBackoff when it gives none. A
// failed order is not retried before NextAttempt (read back from the state
// Secret, so also not after a restart), unless the certificate's inputs
// changed since the failure in this process, or its issuer or domains
// changed at all; a rate limit is always waited out unless the issuer or
// domains changed. Problems the CA cannot fix (InvalidIssuer,
// SecretNotManaged) are checked again at every Sync.
//
// # Events
//
// Options.Events gets Issued and Renewed, one warning per failed order
// (Reason as in the state), and one warning when a certificate enters
// InvalidIssuer or SecretNotManaged.
//
// # Metrics
//
//	edgeway_acme_certificate_expiry_timestamp_seconds{namespace,secret,issuer}
//	edgeway_acme_orders_total{namespace,secret,issuer,kind="issue"|"renew"}
//	edgeway_acme_order_failures_total{namespace,secret,issuer,kind,reason}
package acme
