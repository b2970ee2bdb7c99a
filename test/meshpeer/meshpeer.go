// Package meshpeer is a stand-in for a workload behind an Istio sidecar in
// STRICT mode, for end-to-end tests of edgeway's mTLS into the mesh (no
// Istio needed). Like the sidecar's inbound listener it:
//
//   - presents the workload's own certificate, spiffe://<td>/ns/<ns>/sa/<sa>,
//     issued by the mesh CA (an Istio cacerts Secret's data);
//   - requires a client certificate that chains to the mesh root and carries
//     a SPIFFE ID of the trust domain (optionally one of an allow-list, as an
//     AuthorizationPolicy would);
//   - selects its filter chain by the ALPN the client offers: istio-http/1.0,
//     istio-http/1.1 or istio-h2 reach the HTTP chain (HTTP/1.1 or HTTP/2 by
//     the connection preface, as Envoy's AUTO codec), istio-peer-exchange or
//     istio alone the TCP chain; anything else is refused, as a STRICT
//     listener has no chain for it;
//   - negotiates no ALPN (the sidecar's server protocols do not overlap the
//     istio ones).
//
// The HTTP chain answers every request with headers describing the
// connection (X-Backend, X-Peer-Identity, X-Peer-SNI, X-Peer-ALPN,
// X-Peer-Serial, X-Peer-Proto); the TCP chain writes one such line and then
// echoes. Refused handshakes are recorded with their reason.
package meshpeer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgeway/edgeway/certs/mesh"
)

// ALPN values of Istio clients, by the chain they select.
var (
	httpALPN = []string{"istio-http/1.0", "istio-http/1.1", "istio-h2"}
	tcpALPN  = []string{"istio-peer-exchange", "istio"}
)

// Options of a Peer.
type Options struct {
	Name string // X-Backend
	// CACerts is the data of the mesh's cacerts Secret.
	CACerts                                map[string][]byte
	TrustDomain, Namespace, ServiceAccount string
	// AllowedCallers, if set, are the only SPIFFE IDs accepted.
	AllowedCallers []string
	// Addr to listen on; 127.0.0.1:0 by default.
	Addr string
}

// Conn describes one accepted connection.
type Conn struct {
	Identity string   // the client's SPIFFE ID
	Serial   string   // the client certificate's serial number
	SNI      string   // the server name the client sent
	ALPN     []string // the protocols the client offered
}

// Peer is a running mesh-like backend.
type Peer struct {
	Addr     string
	Port     int
	Identity string // its own SPIFFE ID

	opt    Options
	ln     net.Listener
	srv    *http.Server
	httpCh chan net.Conn

	offered sync.Map // raw net.Conn -> []string, from the ClientHello

	mu       sync.Mutex
	accepted []Conn
	refused  []string
}

// Start listens and serves until Close.
func Start(o Options) (*Peer, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	ca, err := mesh.ParseCACerts(o.CACerts)
	if err != nil {
		return nil, err
	}
	id := mesh.SPIFFEID(o.TrustDomain, o.Namespace, o.ServiceAccount)
	w, err := ca.Issue(id, time.Now(), 24*time.Hour)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(w.ChainPEM, w.KeyPEM)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca.RootPEM) {
		return nil, errors.New("meshpeer: no root certificate")
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, err
	}
	p := &Peer{Addr: ln.Addr().String(), Port: ln.Addr().(*net.TCPAddr).Port, Identity: id.String(), opt: o, ln: ln, httpCh: make(chan net.Conn)}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			p.offered.Store(hello.Conn, slices.Clone(hello.SupportedProtos))
			if !anyOf(hello.SupportedProtos, httpALPN) && !anyOf(hello.SupportedProtos, tcpALPN) {
				return nil, fmt.Errorf("no filter chain for ALPN %q (STRICT: an Istio client offers istio-http/1.1, istio-h2 or istio)", hello.SupportedProtos)
			}
			return nil, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no client certificate")
			}
			return p.checkCaller(cs.PeerCertificates[0])
		},
	}
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serveHTTP), Protocols: protos, ReadHeaderTimeout: 10 * time.Second,
		ConnContext: connContext}
	go func() { _ = p.srv.Serve(&chanListener{ch: p.httpCh, addr: ln.Addr(), done: make(chan struct{})}) }()
	go p.accept(cfg)
	return p, nil
}

func anyOf(offered, chain []string) bool {
	for _, o := range offered {
		if slices.Contains(chain, o) {
			return true
		}
	}
	return false
}

func (p *Peer) checkCaller(leaf *x509.Certificate) error {
	var ids []string
	for _, u := range leaf.URIs {
		if u.Scheme == "spiffe" {
			ids = append(ids, u.String())
		}
	}
	if len(ids) != 1 {
		return fmt.Errorf("the client certificate has %d SPIFFE IDs, want 1", len(ids))
	}
	if !strings.HasPrefix(ids[0], "spiffe://"+p.opt.TrustDomain+"/") {
		return fmt.Errorf("caller %s is not in trust domain %s", ids[0], p.opt.TrustDomain)
	}
	if len(p.opt.AllowedCallers) > 0 && !slices.Contains(p.opt.AllowedCallers, ids[0]) {
		return fmt.Errorf("caller %s is not allowed", ids[0])
	}
	return nil
}

func (p *Peer) refuse(reason string) {
	p.mu.Lock()
	p.refused = append(p.refused, reason)
	p.mu.Unlock()
}

func (p *Peer) accept(cfg *tls.Config) {
	for {
		raw, err := p.ln.Accept()
		if err != nil {
			close(p.httpCh)
			return
		}
		go p.handshake(raw, cfg)
	}
}

func (p *Peer) handshake(raw net.Conn, cfg *tls.Config) {
	tc := tls.Server(raw, cfg)
	defer p.offered.Delete(raw)
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		p.refuse(err.Error())
		raw.Close()
		return
	}
	_ = tc.SetDeadline(time.Time{})
	cs := tc.ConnectionState()
	info := Conn{Identity: cs.PeerCertificates[0].URIs[0].String(), Serial: cs.PeerCertificates[0].SerialNumber.String(), SNI: cs.ServerName}
	if v, ok := p.offered.Load(raw); ok {
		info.ALPN = v.([]string)
	}
	p.mu.Lock()
	p.accepted = append(p.accepted, info)
	p.mu.Unlock()
	pc := &peerConn{Conn: tc, info: info}
	if anyOf(info.ALPN, httpALPN) {
		p.httpCh <- pc
		return
	}
	defer tc.Close()
	fmt.Fprintf(tc, "%s identity=%s sni=%s alpn=%s\n", p.opt.Name, info.Identity, info.SNI, strings.Join(info.ALPN, ","))
	_, _ = io.Copy(tc, tc)
}

// Accepted are the connections accepted so far.
func (p *Peer) Accepted() []Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.accepted)
}

// Refused are the reasons of the handshakes refused so far.
func (p *Peer) Refused() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.refused)
}

// Close stops listening and closes every connection.
func (p *Peer) Close() error {
	err := p.ln.Close()
	_ = p.srv.Close()
	return err
}

func (p *Peer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	info, _ := r.Context().Value(connKey{}).(Conn)
	h := w.Header()
	h.Set("X-Backend", p.opt.Name)
	h.Set("X-Peer-Identity", info.Identity)
	h.Set("X-Peer-Serial", info.Serial)
	h.Set("X-Peer-SNI", info.SNI)
	h.Set("X-Peer-ALPN", strings.Join(info.ALPN, ","))
	h.Set("X-Peer-Proto", r.Proto)
	fmt.Fprintf(w, "%s %s %s\n", p.opt.Name, r.Method, r.URL.RequestURI())
}

type connKey struct{}

func connContext(ctx context.Context, c net.Conn) context.Context {
	if pc, ok := c.(*peerConn); ok {
		return context.WithValue(ctx, connKey{}, pc.info)
	}
	return ctx
}

// peerConn hides the *tls.Conn from net/http, which then reads the
// decrypted stream as plain HTTP/1.1 or HTTP/2 with prior knowledge, as a
// sidecar's AUTO codec does after its own TLS.
type peerConn struct {
	net.Conn
	info Conn
}

// chanListener hands the HTTP chain's connections to an http.Server.
type chanListener struct {
	ch   chan net.Conn
	addr net.Addr
	once sync.Once
	done chan struct{}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c, ok := <-l.ch:
		if !ok {
			return nil, net.ErrClosed
		}
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
