package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// portHandler answers the queries arriving on one port: the most specific
// zone the name is in answers, with its block's plugins.
type portHandler struct {
	zones []*zone
	out   *lockedWriter
}

func (h *portHandler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	start := time.Now()
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	z := match(h.zones, strings.ToLower(q.Name))
	if z == nil {
		// No zone of this port: CoreDNS refuses without running any plugin.
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeRefused)
		_ = w.WriteMsg(m)
		return
	}
	m, err := z.answer(w, req)
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), opt.Do())
	}
	if _, tcp := w.RemoteAddr().(*net.TCPAddr); !tcp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	if werr := w.WriteMsg(m); werr != nil && err == nil {
		err = werr
	}
	if z.errors && err != nil {
		h.out.printf("[ERROR] plugin/errors: %d %s %s: %v\n", m.Rcode, q.Name, dns.TypeToString[q.Qtype], err)
	}
	if z.log {
		h.out.printf("[INFO] %s\n", logLine(w, req, m, time.Since(start)))
	}
}

// answer runs the block's plugins in CoreDNS's order: forward (refusing,
// see forward.go), then whoami. With neither answering, the reply is
// SERVFAIL, as CoreDNS's when a chain ends without a plugin that answers.
func (pl *plugins) answer(w dns.ResponseWriter, req *dns.Msg) (*dns.Msg, error) {
	name := strings.ToLower(req.Question[0].Name)
	for _, r := range pl.forward {
		if r.forwards(name) {
			m := new(dns.Msg)
			m.SetRcode(req, dns.RcodeRefused)
			return m, nil
		}
	}
	if pl.whoami {
		return whoami(w, req), nil
	}
	m := new(dns.Msg)
	m.SetRcode(req, dns.RcodeServerFailure)
	return m, fmt.Errorf("no plugin of the block answers %s", name)
}

// whoami answers like CoreDNS's whoami plugin, whatever the query type: an
// authoritative reply with an empty answer section and, in the additional
// section, the client's address (A or AAAA) under the query name and an
// SRV record _<udp|tcp>.<query name> with the client's port, TTL 0.
func whoami(w dns.ResponseWriter, req *dns.Msg) *dns.Msg {
	q := req.Question[0]
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	client, _ := netip.ParseAddrPort(w.RemoteAddr().String())
	ip := client.Addr().Unmap()
	var addr dns.RR
	if ip.Is4() {
		addr = &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: q.Qclass}, A: ip.AsSlice()}
	} else {
		addr = &dns.AAAA{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeAAAA, Class: q.Qclass}, AAAA: ip.AsSlice()}
	}
	srvName := "_" + proto(w) + "." + q.Name
	if q.Name == "." {
		srvName = "_" + proto(w) + "."
	}
	srv := &dns.SRV{Hdr: dns.RR_Header{Name: srvName, Rrtype: dns.TypeSRV, Class: q.Qclass}, Port: client.Port(), Target: "."}
	m.Extra = []dns.RR{addr, srv}
	return m
}

func proto(w dns.ResponseWriter) string {
	if _, tcp := w.RemoteAddr().(*net.TCPAddr); tcp {
		return "tcp"
	}
	return "udp"
}

// logLine formats a query as CoreDNS's log plugin does by default:
//
//	{remote}:{port} - {id} "{type} {class} {name} {proto} {size} {do} {bufsize}" {rcode} {rflags} {rsize} {duration}
func logLine(w dns.ResponseWriter, req, resp *dns.Msg, took time.Duration) string {
	q := req.Question[0]
	do, bufsize := false, dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		do, bufsize = opt.Do(), int(opt.UDPSize())
	}
	return fmt.Sprintf("%s - %d \"%s %s %s %s %d %t %d\" %s %s %d %ss",
		w.RemoteAddr(), req.Id,
		dns.TypeToString[q.Qtype], dns.ClassToString[q.Qclass], q.Name, proto(w), req.Len(), do, bufsize,
		dns.RcodeToString[resp.Rcode], flags(resp), resp.Len(),
		strconv.FormatFloat(took.Seconds(), 'f', -1, 64))
}

func flags(m *dns.Msg) string {
	var f []string
	for _, b := range []struct {
		set  bool
		name string
	}{
		{m.Response, "qr"}, {m.Authoritative, "aa"}, {m.Truncated, "tc"}, {m.RecursionDesired, "rd"},
		{m.RecursionAvailable, "ra"}, {m.Zero, "z"}, {m.AuthenticatedData, "ad"}, {m.CheckingDisabled, "cd"},
	} {
		if b.set {
			f = append(f, b.name)
		}
	}
	return strings.Join(f, ",")
}

// serveDNS binds UDP and TCP on every port of cfg, on all addresses as
// CoreDNS does (inside a pod that is the pod's own network namespace), and
// serves until the returned stop is called.
func serveDNS(cfg *config, out *lockedWriter) (stop func(), err error) {
	var servers []*dns.Server
	started := make(chan struct{}, 2*len(cfg.ports))
	stop = func() {
		for _, s := range servers {
			_ = s.Shutdown()
		}
	}
	for _, port := range sortedPorts(cfg) {
		h := &portHandler{zones: cfg.ports[port], out: out}
		addr := ":" + strconv.Itoa(port)
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			stop()
			return nil, err
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			pc.Close()
			stop()
			return nil, err
		}
		for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
			s.NotifyStartedFunc = func() { started <- struct{}{} }
			servers = append(servers, s)
			go func() {
				if err := s.ActivateAndServe(); err != nil {
					out.printf("[ERROR] serving %s: %v\n", addr, err)
				}
			}()
		}
	}
	// Serving has begun before this returns: Shutdown refuses a server that
	// has not started yet, which would then never stop.
	for range servers {
		<-started
	}
	return stop, nil
}

func sortedPorts(cfg *config) []int {
	var ports []int
	for p := range cfg.ports {
		ports = append(ports, p)
	}
	sort.Ints(ports)
	return ports
}

// lockedWriter serializes log lines from the serving goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, a...)
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
