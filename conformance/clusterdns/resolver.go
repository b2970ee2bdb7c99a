package clusterdns

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// maxCNAMEChain bounds how many ExternalName Services inside the domain one
// answer follows (ExternalName Services can point at each other in a loop).
const maxCNAMEChain = 8

// resolver turns a name inside the cluster domain into an answer.
type resolver struct {
	domain string // lower-case, fully qualified
	store  *store
}

// result is an answer before it becomes a message. rcode is
// dns.RcodeSuccess with no answer for NODATA.
type result struct {
	rcode  int
	answer []dns.RR
	extra  []dns.RR
}

var (
	nxdomain = result{rcode: dns.RcodeNameError}
	nodata   = result{rcode: dns.RcodeSuccess}
)

// inDomain reports whether name (lower-case, fully qualified) is the domain
// or below it.
func (r *resolver) inDomain(name string) bool {
	return name == r.domain || strings.HasSuffix(name, "."+r.domain)
}

// resolve answers qtype for qname, a name inside the domain. Owner names are
// qname as asked (resolvers compare case-insensitively, some expect their own
// spelling back).
func (r *resolver) resolve(qname string, qtype uint16, depth int) result {
	name := strings.ToLower(qname)
	var labels []string
	if name != r.domain {
		labels = dns.SplitDomainName(strings.TrimSuffix(name, "."+r.domain))
	}
	n := len(labels)
	switch {
	case n == 0:
		if qtype == dns.TypeSOA {
			return result{answer: []dns.RR{r.soa(qname)}}
		}
		return nodata
	case labels[n-1] == "svc":
		return r.resolveSvc(qname, labels[:n-1], qtype, depth)
	case labels[n-1] == "pod":
		return r.resolvePod(qname, labels[:n-1], qtype)
	}
	return nxdomain
}

// resolveSvc answers names below svc.<domain>; labels are those before "svc".
func (r *resolver) resolveSvc(qname string, labels []string, qtype uint16, depth int) result {
	switch len(labels) {
	case 0: // svc.<domain>: only names below it exist
		return nodata
	case 1: // <ns>.svc.<domain>
		if r.store.namespaceHasServices(labels[0]) {
			return nodata
		}
		return nxdomain
	}
	n := len(labels)
	svc := r.store.service(labels[n-1], labels[n-2])
	if svc == nil {
		return nxdomain
	}
	switch n {
	case 2:
		return r.serviceName(qname, svc, qtype, depth)
	case 3:
		if strings.HasPrefix(labels[0], "_") { // _<proto>.<svc>...: a name above SRV records
			if r.hasPort(svc, "", labels[0][1:]) {
				return nodata
			}
			return nxdomain
		}
		return r.endpointName(qname, svc, labels[0], qtype)
	case 4:
		if !strings.HasPrefix(labels[0], "_") || !strings.HasPrefix(labels[1], "_") {
			return nxdomain
		}
		return r.srvName(qname, svc, labels[0][1:], labels[1][1:], qtype)
	}
	return nxdomain
}

// serviceName answers <svc>.<ns>.svc.<domain>.
func (r *resolver) serviceName(qname string, svc *corev1.Service, qtype uint16, depth int) result {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return r.externalName(qname, svc, qtype, depth)
	}
	if qtype == dns.TypeSRV {
		return r.srv(qname, svc, "", "")
	}
	var addrs []netip.Addr
	if headless(svc) {
		for _, ep := range r.store.endpoints(svc) {
			addrs = append(addrs, ep.addrs...)
		}
	} else {
		addrs = clusterIPs(svc)
	}
	return result{answer: addressRecords(qname, addrs, qtype)}
}

// externalName answers an ExternalName Service's name with a CNAME, and
// follows the target when it is inside the domain (nothing outside is
// resolved, see the package documentation).
func (r *resolver) externalName(qname string, svc *corev1.Service, qtype uint16, depth int) result {
	target := dns.Fqdn(strings.ToLower(svc.Spec.ExternalName))
	if _, ok := dns.IsDomainName(target); !ok || svc.Spec.ExternalName == "" {
		return nodata
	}
	res := result{answer: []dns.RR{&dns.CNAME{Hdr: header(qname, dns.TypeCNAME), Target: target}}}
	if qtype == dns.TypeCNAME || !r.inDomain(target) || depth >= maxCNAMEChain {
		return res
	}
	next := r.resolve(target, qtype, depth+1)
	res.rcode = next.rcode
	res.answer = append(res.answer, next.answer...)
	res.extra = next.extra
	return res
}

// endpointName answers <label>.<svc>.<ns>.svc.<domain> of a headless
// Service.
func (r *resolver) endpointName(qname string, svc *corev1.Service, label string, qtype uint16) result {
	if !headless(svc) {
		return nxdomain
	}
	for _, ep := range r.store.endpoints(svc) {
		if ep.label == label {
			return result{answer: addressRecords(qname, ep.addrs, qtype)}
		}
	}
	return nxdomain
}

// srvName answers _<port>._<proto>.<svc>.<ns>.svc.<domain>.
func (r *resolver) srvName(qname string, svc *corev1.Service, port, proto string, qtype uint16) result {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || !r.hasPort(svc, port, proto) {
		return nxdomain
	}
	if qtype != dns.TypeSRV {
		return nodata
	}
	return r.srv(qname, svc, port, proto)
}

// srv returns the SRV records of svc's named ports matching port and proto
// (empty: any), with the targets' addresses as additional records.
func (r *resolver) srv(qname string, svc *corev1.Service, port, proto string) result {
	svcName := svc.Name + "." + svc.Namespace + ".svc." + r.domain
	var res result
	matches := func(key string) bool {
		name, p, _ := strings.Cut(key, "/")
		return (port == "" || port == name) && (proto == "" || proto == p)
	}
	if headless(svc) {
		for _, ep := range r.store.endpoints(svc) {
			target := ep.label + "." + svcName
			found := false
			for _, sp := range svc.Spec.Ports {
				key := portKey(sp.Name, sp.Protocol)
				num, ok := ep.ports[key]
				if sp.Name == "" || !ok || !matches(key) {
					continue
				}
				res.answer = append(res.answer, srvRecord(qname, target, num))
				found = true
			}
			if found {
				res.extra = append(res.extra, addressRecords(target, ep.addrs, dns.TypeANY)...)
			}
		}
		return res
	}
	for _, sp := range svc.Spec.Ports {
		if sp.Name == "" || !matches(portKey(sp.Name, sp.Protocol)) {
			continue
		}
		res.answer = append(res.answer, srvRecord(qname, svcName, sp.Port))
	}
	if len(res.answer) > 0 {
		res.extra = addressRecords(svcName, clusterIPs(svc), dns.TypeANY)
	}
	return res
}

// hasPort reports whether svc has a named port with that name (empty: any)
// and protocol.
func (r *resolver) hasPort(svc *corev1.Service, name, proto string) bool {
	for _, sp := range svc.Spec.Ports {
		if sp.Name == "" {
			continue
		}
		n, p, _ := strings.Cut(portKey(sp.Name, sp.Protocol), "/")
		if (name == "" || name == n) && p == proto {
			return true
		}
	}
	return false
}

// resolvePod answers names below pod.<domain>; labels are those before
// "pod".
func (r *resolver) resolvePod(qname string, labels []string, qtype uint16) result {
	switch len(labels) {
	case 0, 1: // pod.<domain>, <ns>.pod.<domain>: only names below them exist
		return nodata
	case 2:
		if ip, ok := undashed(labels[0]); ok {
			return result{answer: addressRecords(qname, []netip.Addr{ip}, qtype)}
		}
	}
	return nxdomain
}

func (r *resolver) soa(owner string) dns.RR {
	return &dns.SOA{
		Hdr:     header(owner, dns.TypeSOA),
		Ns:      "ns.dns." + r.domain,
		Mbox:    "hostmaster." + r.domain,
		Serial:  1,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  TTL, // the negative-caching TTL (RFC 2308)
	}
}

func headless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// clusterIPs returns the Service's ClusterIPs (both families when dual-stack).
func clusterIPs(svc *corev1.Service) []netip.Addr {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	var addrs []netip.Addr
	for _, s := range ips {
		if ip, err := netip.ParseAddr(s); err == nil {
			addrs = append(addrs, ip)
		}
	}
	return addrs
}

// addressRecords returns A records for the IPv4 addresses (qtype A), AAAA
// records for the IPv6 ones (qtype AAAA), or both (qtype ANY); any other
// qtype has none (NODATA).
func addressRecords(owner string, addrs []netip.Addr, qtype uint16) []dns.RR {
	var rrs []dns.RR
	for _, ip := range addrs {
		switch {
		case ip.Is4() && (qtype == dns.TypeA || qtype == dns.TypeANY):
			rrs = append(rrs, &dns.A{Hdr: header(owner, dns.TypeA), A: ip.AsSlice()})
		case ip.Is6() && (qtype == dns.TypeAAAA || qtype == dns.TypeANY):
			rrs = append(rrs, &dns.AAAA{Hdr: header(owner, dns.TypeAAAA), AAAA: ip.AsSlice()})
		}
	}
	return rrs
}

func srvRecord(owner, target string, port int32) dns.RR {
	// Equal priority and weight for all (the Kubernetes DNS specification
	// leaves them to the implementation; CoreDNS spreads the weight, which
	// clients treat alike).
	return &dns.SRV{Hdr: header(owner, dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(port), Target: target}
}

func header(owner string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: owner, Rrtype: rrtype, Class: dns.ClassINET, Ttl: TTL}
}
