package clusterdns

import (
	"log/slog"
	"net"
	"strings"

	"github.com/miekg/dns"
)

// advertisedUDPSize is the EDNS0 payload size the server offers: the size
// DNS Flag Day 2020 settled on, which avoids IP fragmentation.
const advertisedUDPSize = 1232

// handler answers one query at a time, from the store; it never sends a
// packet anywhere but back to the client.
type handler struct {
	resolver resolver
	refusals *refusalLog
	log      *slog.Logger
}

func (h *handler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := h.answer(req, w.RemoteAddr())
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	limit := dns.MaxMsgSize
	if !tcp {
		// What the client can receive: 512 bytes without EDNS0 (Truncate
		// raises smaller sizes to 512), else the size it advertised.
		limit = dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			limit = int(opt.UDPSize())
		}
	}
	// Sets TC when records had to be left out, so the client retries over
	// TCP.
	m.Truncate(limit)
	if err := w.WriteMsg(m); err != nil {
		h.log.Debug("writing DNS answer failed", "client", w.RemoteAddr(), "err", err)
	}
}

// answer builds the reply to req.
func (h *handler) answer(req *dns.Msg, client net.Addr) *dns.Msg {
	m := new(dns.Msg)
	if req.Opcode != dns.OpcodeQuery {
		m.SetRcode(req, dns.RcodeNotImplemented)
		return m
	}
	if len(req.Question) != 1 {
		m.SetRcode(req, dns.RcodeFormatError)
		return m
	}
	m.SetReply(req)
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(advertisedUDPSize, false)
	}
	q := req.Question[0]
	name := strings.ToLower(dns.Fqdn(q.Name))
	if !h.resolver.inDomain(name) {
		h.refusals.refused(q.Name, dns.TypeToString[q.Qtype], client)
		m.Rcode = dns.RcodeRefused
		return m
	}
	if q.Qclass != dns.ClassINET {
		// Cluster records exist in class IN only.
		m.Rcode = dns.RcodeRefused
		return m
	}
	m.Authoritative = true
	res := h.resolver.resolve(q.Name, q.Qtype, 0)
	m.Rcode = res.rcode
	m.Answer = res.answer
	m.Extra = append(res.extra, m.Extra...) // the OPT record, if any, stays last
	if len(m.Answer) == 0 || m.Rcode != dns.RcodeSuccess {
		// Negative answers carry the SOA so resolvers cache them for TTL
		// seconds only (RFC 2308).
		m.Ns = []dns.RR{h.resolver.soa(h.resolver.domain)}
	}
	return m
}
