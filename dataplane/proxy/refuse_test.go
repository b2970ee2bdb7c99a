package proxy

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	directresponsev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/direct_response/v3"
)

// TestRefusingChainClosesBeforeTheWildcard: a wildcard passthrough chain
// and a refusing chain for one name under it. Clients of the wildcard reach
// the passthrough backend; a client with the refused name gets no
// handshake, and the passthrough backend never sees its connection.
func TestRefusingChainClosesBeforeTheWildcard(t *testing.T) {
	var conns atomic.Int32
	passthru := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "passthrough backend")
	}))
	passthru.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	passthru.StartTLS()
	t.Cleanup(passthru.Close)

	p := newProxy(t)
	res := newResources()
	addCluster(res, "pass", backendAddr(passthru))
	res.Listeners["tls"] = listener(t, "tls", 0, true,
		chain("passthrough/*.example.com", []string{"*.example.com"}, nil, tcpFilter(t, map[string]uint32{"pass": 1})),
		chain("refuse/idle.example.com", []string{"idle.example.com"}, nil, &listenerv3.Filter{Name: "envoy.filters.network.direct_response",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, &directresponsev3.Config{})}}),
	)
	applyAll(t, p, res)
	addr := p.ListenerAddr("tls").String()

	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: "x.example.com", InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("sni x.example.com: %v", err)
	}
	if !c.ConnectionState().PeerCertificates[0].Equal(passthru.Certificate()) {
		t.Errorf("sni x.example.com: not the passthrough backend's certificate")
	}
	c.Close()
	before := conns.Load()

	for _, sni := range []string{"idle.example.com", "IDLE.example.com"} {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			t.Errorf("sni %s: handshake succeeded (certificate %q), want the connection refused", sni, c.ConnectionState().PeerCertificates[0].Subject)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("sni %s: %v, want the connection closed, not left open", sni, err)
		}
	}
	if got := conns.Load(); got != before {
		t.Errorf("the passthrough backend got %d connections for the refused name", got-before)
	}
}
