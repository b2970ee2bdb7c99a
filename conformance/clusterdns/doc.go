// Package clusterdns is the local cluster's DNS server: what CoreDNS's
// kubernetes plugin is to a real cluster. Pods' /etc/resolv.conf names it
// (conformance/node's Config.ClusterDNS), so Service names resolve inside
// pods as the Kubernetes DNS specification describes.
//
// # Use
//
//	s, err := clusterdns.Start(ctx, clusterdns.Config{
//		REST:   restConfig,                              // admin
//		Listen: netip.AddrPortFrom(network.Gateway(), 53), // UDP and TCP
//	})
//	defer s.Stop()
//
// # What it answers (Domain is cluster.local unless configured)
//
//   - <svc>.<ns>.svc.<domain>: A/AAAA with the Service's ClusterIPs; for a
//     headless Service (clusterIP None) the addresses of its ready endpoints
//     (all endpoints with publishNotReadyAddresses), from its EndpointSlices.
//   - <name>.<svc>.<ns>.svc.<domain> for each endpoint of a headless
//     Service: name is the endpoint's hostname, or its address with dashes
//     (10-0-0-1) when it has none, as CoreDNS does; these are the targets of
//     the headless SRV records.
//   - _<port>._<proto>.<svc>.<ns>.svc.<domain>: SRV for each named port,
//     targeting the Service name (or each endpoint of a headless Service),
//     with the target's addresses in the additional section. An SRV query
//     for <svc>.<ns>.svc.<domain> itself returns the SRV records of every
//     named port, as CoreDNS does.
//   - An ExternalName Service: a CNAME to spec.externalName. A target inside
//     the cluster domain is followed in the same answer; one outside is not,
//     since nothing outside the domain is ever resolved (below).
//   - <a-b-c-d>.<ns>.pod.<domain> (IPv6: dashes for colons): the address in
//     the name, without checking that such a Pod exists (CoreDNS's "pods
//     insecure", what kubeadm configures).
//   - The apex's SOA, and SOA in the authority section of every negative
//     answer so resolvers cache the negative answer for TTL seconds only.
//
// A name that exists but has no record of the asked type (AAAA for a
// Service with only an IPv4 ClusterIP) gets NOERROR with no answer, so
// resolvers that ask for A and AAAA together do not wait or fail; a name in
// the domain that does not exist gets NXDOMAIN.
//
// # Nothing outside the cluster domain, ever
//
// A query for a name outside the domain is answered REFUSED at once and
// logged (rate-limited): the local cluster must never send DNS off the
// machine, so there is no upstream to forward to. REFUSED, rather than
// silence, makes stub resolvers give up immediately instead of waiting for
// a timeout on every search-path step.
//
// # TTL
//
// Every record, and the negative-caching TTL in the SOA, is TTL (5 s, what
// CoreDNS's kubernetes plugin uses): the conformance suite creates, deletes
// and re-creates Services and Pods of the same names within seconds, and a
// longer TTL would let pods' resolvers keep answers that are no longer true.
// The queries are answered from informer caches, so short TTLs cost nothing.
//
// # Transport
//
// UDP and TCP on the same address. A UDP answer larger than the client can
// receive (512 bytes, or the EDNS0 size it advertises) is truncated with the
// TC bit set, so the client retries over TCP, where answers go up to 64 KiB.
package clusterdns
