// Package securexds tests the xDS connection between the controller and a
// data plane as it runs in Kubernetes: the controller's CA (controller/ca),
// the xDS server with mutual TLS and node identity (controller/xds) and the
// data plane's xDS client reading its credentials from files
// (dataplane/xdsclient), over real gRPC on loopback, with the real proxy
// serving real TCP traffic.
package securexds

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/test/testport"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/edgeway/edgeway/controller/ca"
	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/xds"
	"github.com/edgeway/edgeway/dataplane/config"
	"github.com/edgeway/edgeway/dataplane/proxy"
	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

// serverName is the name in the xDS serving certificate and the one the
// clients verify (in a cluster: the controller Service's DNS names).
const serverName = "edgeway-xds.edgeway-system.svc"

func quietLog() *slog.Logger {
	if os.Getenv("SECUREXDS_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newCA(t *testing.T) *ca.State {
	t.Helper()
	st, err := ca.NewState(time.Now(), ca.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// controller is one controller replica's xDS server, serving with TLS from
// a CA state.
type controller struct {
	xds  *xds.Server
	addr string
	stop func()

	mu sync.Mutex
	// serials are the client certificate serials of the streams opened, in order.
	serials []string
}

// startController serves xDS on addr ("127.0.0.1:0" for any port) with a
// serving certificate from state().
func startController(t *testing.T, addr string, state func() *ca.State, cb *responses) *controller {
	t.Helper()
	var opts []xds.Option
	if cb != nil {
		opts = append(opts, xds.WithCallbacks(cb.funcs()))
	}
	c := &controller{xds: xds.NewServer(quietLog(), opts...)}
	var lis net.Listener
	var err error
	// A restarted replica reuses the port; the old socket may linger briefly.
	for i := 0; i < 50; i++ {
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.addr = lis.Addr().String()
	src := ca.NewServingSource(state, []string{serverName}, 0)
	recordPeer := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if p, ok := peer.FromContext(ss.Context()); ok {
			if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.PeerCertificates) > 0 {
				c.mu.Lock()
				c.serials = append(c.serials, ti.State.PeerCertificates[0].SerialNumber.String())
				c.mu.Unlock()
			}
		}
		return h(srv, ss)
	}
	g := grpc.NewServer(append(xds.SecureServerOptions(src), grpc.ChainStreamInterceptor(recordPeer))...)
	c.xds.Register(g)
	done := make(chan struct{})
	go func() { _ = g.Serve(lis); close(done) }()
	var once sync.Once
	c.stop = func() { once.Do(func() { g.Stop(); <-done }) }
	t.Cleanup(c.stop)
	return c
}

func (c *controller) sawSerial(serial string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.serials {
		if s == serial {
			return true
		}
	}
	return false
}

// responses counts the xDS responses the server sent, by node id.
type responses struct {
	mu     sync.Mutex
	byNode map[string]int
}

func (r *responses) funcs() server.CallbackFuncs {
	return server.CallbackFuncs{
		StreamResponseFunc: func(_ context.Context, _ int64, req *discoveryv3.DiscoveryRequest, _ *discoveryv3.DiscoveryResponse) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.byNode == nil {
				r.byNode = map[string]int{}
			}
			r.byNode[req.GetNode().GetId()]++
		},
	}
}

func (r *responses) to(node string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byNode[node]
}

// credsDir holds a data plane's mounted xDS Secret: tls.crt, tls.key, ca.crt.
type credsDir struct{ dir string }

func (d credsDir) files() xdsclient.TLSFiles {
	return xdsclient.TLSFiles{
		CertFile: filepath.Join(d.dir, "tls.crt"), KeyFile: filepath.Join(d.dir, "tls.key"),
		CAFile: filepath.Join(d.dir, "ca.crt"), ServerName: serverName,
	}
}

// issueTo writes a client certificate for Gateway ns/name issued by st's
// Active CA, and st's bundle, replacing each file atomically (as the
// kubelet swaps a Secret volume). It returns the certificate's serial.
func issueTo(t *testing.T, d credsDir, st *ca.State, ns, name string, validity time.Duration) string {
	t.Helper()
	leaf, err := st.Active.Issue(ca.LeafRequest{CommonName: ns + "/" + name, URIs: []*url.URL{xds.GatewayIdentity(ns, name)}}, time.Now(), validity)
	if err != nil {
		t.Fatal(err)
	}
	for file, data := range map[string][]byte{"tls.crt": leaf.CertPEM, "tls.key": leaf.KeyPEM, "ca.crt": st.BundlePEM()} {
		tmp := filepath.Join(d.dir, "."+file+".tmp")
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(d.dir, file)); err != nil {
			t.Fatal(err)
		}
	}
	return leaf.Cert.SerialNumber.String()
}

// dataplane is the real proxy behind the real xDS client, recording the
// listener names of every configuration it accepted.
type dataplane struct {
	proxy  *proxy.Proxy
	client *xdsclient.Client

	mu        sync.Mutex
	listeners map[string]bool
}

func (d *dataplane) Apply(typeURL string, c *config.Resources) error {
	if err := d.proxy.Apply(typeURL, c); err != nil {
		return err
	}
	d.mu.Lock()
	for name := range c.Listeners {
		d.listeners[name] = true
	}
	d.mu.Unlock()
	return nil
}

func (d *dataplane) sawListener(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.listeners[name]
}

func startDataplane(t *testing.T, addr, nodeID string, files xdsclient.TLSFiles, opts ...xdsclient.Option) *dataplane {
	t.Helper()
	d := &dataplane{proxy: proxy.New(quietLog()), listeners: map[string]bool{}}
	creds, err := xdsclient.WithTLSFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]xdsclient.Option{creds, xdsclient.WithBackoff(50*time.Millisecond, 300*time.Millisecond)}, opts...)
	d.client = xdsclient.New(addr, nodeID, d, quietLog(), opts...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.client.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = d.proxy.Shutdown(sctx)
	})
	return d
}

// tcpIR is one Gateway's config: a TCP listener on 127.0.0.1:port proxying
// to backend.
func tcpIR(gateway string, port int, backend string) *ir.IR {
	host, p, _ := net.SplitHostPort(backend)
	var bport uint32
	fmt.Sscan(p, &bport)
	cluster := "service/" + strings.ReplaceAll(gateway, "/", "-") + "/" + p
	return &ir.IR{
		Listeners: []*ir.Listener{{
			Name: fmt.Sprintf("127.0.0.1:%d", port), Address: "127.0.0.1", Port: uint32(port),
			Gateways: []string{gateway},
			TCP:      &ir.TCPChain{Backends: []ir.WeightedCluster{{Cluster: cluster, Weight: 1}}},
		}},
		Clusters: []*ir.Cluster{{Name: cluster, Discovery: ir.DiscoveryEDS,
			Endpoints: []ir.Endpoint{{Address: host, Port: bport}}}},
	}
}

// echoBackend answers each line with "<name>: <line>".
func echoBackend(t *testing.T, name string) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					fmt.Fprintf(c, "%s: %s", name, line)
				}
			}()
		}
	}()
	return lis.Addr().String()
}

// roundTrip sends one line through addr and returns the answer ("" on any
// failure, so callers can poll).
func roundTrip(addr, line string) string {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintln(c, line); err != nil {
		return ""
	}
	s, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(s)
}

// freePort is a loopback port to name before its listener starts, one the
// kernel gives to no port-0 bind (testport).
func freePort(t *testing.T) int {
	t.Helper()
	p, err := testport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func eventually(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func itoa(n int) string { return fmt.Sprint(n) }

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
