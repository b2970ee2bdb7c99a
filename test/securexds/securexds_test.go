package securexds

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/edgeway/edgeway/controller/ca"
)

const (
	nodeA = "team-a/gw-a"
	nodeB = "team-b/gw-b"
)

// TestOwnConfigOnly: a data plane holding Gateway A's certificate gets A's
// configuration and serves it; asking for B with the same certificate is
// refused before anything of B is sent.
func TestOwnConfigOnly(t *testing.T) {
	st := newCA(t)
	sent := &responses{}
	ctl := startController(t, "127.0.0.1:0", func() *ca.State { return st }, sent)
	portA, portB := freePort(t), freePort(t)
	if err := ctl.xds.Update(nodeA, tcpIR(nodeA, portA, echoBackend(t, "backend-a"))); err != nil {
		t.Fatal(err)
	}
	if err := ctl.xds.Update(nodeB, tcpIR(nodeB, portB, echoBackend(t, "backend-b"))); err != nil {
		t.Fatal(err)
	}

	dirA := credsDir{t.TempDir()}
	issueTo(t, dirA, st, "team-a", "gw-a", time.Hour)
	a := startDataplane(t, ctl.addr, nodeA, dirA.files())
	addrA := "127.0.0.1:" + itoa(portA)
	eventually(t, "A's listener serves A's backend", 10*time.Second, func() bool {
		return roundTrip(addrA, "hello") == "backend-a: hello"
	})

	// Same certificate, B's node id.
	dirThief := credsDir{t.TempDir()}
	issueTo(t, dirThief, st, "team-a", "gw-a", time.Hour)
	thief := startDataplane(t, ctl.addr, nodeB, dirThief.files())
	eventually(t, "the stream for B is refused", 10*time.Second, func() bool {
		s := thief.client.Stats()
		return s.Reconnects >= 1 && strings.Contains(s.LastError, "PermissionDenied") &&
			strings.Contains(s.LastError, `node id "team-b/gw-b" does not match the client certificate, which is for "team-a/gw-a"`)
	})
	if s := thief.client.Stats(); s.Accepted != 0 {
		t.Fatalf("the data plane with A's certificate accepted %d responses for B", s.Accepted)
	}
	if n := sent.to(nodeB); n != 0 {
		t.Fatalf("the server sent %d responses to node B", n)
	}
	if thief.sawListener("127.0.0.1:" + itoa(portB)) {
		t.Fatal("B's listener reached the data plane with A's certificate")
	}
	if a.sawListener("127.0.0.1:" + itoa(portB)) {
		t.Fatal("B's listener reached A's data plane")
	}
	if got := roundTrip("127.0.0.1:"+itoa(portB), "x"); got != "" {
		t.Fatalf("B's port answered %q: nobody may serve it", got)
	}
}

// TestUntrustedClientsRefused: no client certificate, or one from another
// CA, gets no stream at all.
func TestUntrustedClientsRefused(t *testing.T) {
	st := newCA(t)
	ctl := startController(t, "127.0.0.1:0", func() *ca.State { return st }, nil)
	if err := ctl.xds.Update(nodeA, tcpIR(nodeA, freePort(t), "127.0.0.1:9")); err != nil {
		t.Fatal(err)
	}

	// Another CA's certificate for the right Gateway.
	other := newCA(t)
	dir := credsDir{t.TempDir()}
	issueTo(t, dir, other, "team-a", "gw-a", time.Hour)
	// The client must still trust the real server to get as far as sending
	// its certificate: give it the real bundle.
	writeFile(t, dir.files().CAFile, st.BundlePEM())
	dp := startDataplane(t, ctl.addr, nodeA, dir.files())
	eventually(t, "a foreign CA's certificate is refused", 10*time.Second, func() bool {
		s := dp.client.Stats()
		return strings.Contains(s.LastError, "tls: unknown certificate authority")
	})
	if s := dp.client.Stats(); s.Accepted != 0 {
		t.Fatalf("accepted %d responses with a foreign CA's certificate", s.Accepted)
	}

	// No certificate at all: a raw TLS client that trusts the server.
	conn, err := grpc.NewClient("passthrough:///"+ctl.addr, grpc.WithTransportCredentials(
		credentials.NewTLS(&tls.Config{RootCAs: st.Pool(), ServerName: serverName, MinVersion: tls.VersionTLS13})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	n := 0
	if err == nil {
		_ = stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: nodeA}, TypeUrl: "type.googleapis.com/envoy.config.listener.v3.Listener"})
		n, err = recvUntilError(stream)
	}
	// TLS 1.3 finishes the client's side of the handshake before the server
	// checks the client certificate, so the client sees the refusal as the
	// connection failing (an alert or a broken pipe): Unavailable, with
	// nothing received.
	if status.Code(err) != codes.Unavailable || n != 0 {
		t.Fatalf("a client without certificate: %d responses, then %v; want the connection refused", n, err)
	}
}

// TestClientCertificateRotationWhileConnected: the data plane's certificate
// is replaced on disk while its stream is up; when the old one expires the
// server ends the stream, and the data plane reconnects with the new one,
// serving traffic all along.
func TestClientCertificateRotationWhileConnected(t *testing.T) {
	st := newCA(t)
	ctl := startController(t, "127.0.0.1:0", func() *ca.State { return st }, nil)
	port := freePort(t)
	if err := ctl.xds.Update(nodeA, tcpIR(nodeA, port, echoBackend(t, "backend-a"))); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + itoa(port)
	dir := credsDir{t.TempDir()}
	first := issueTo(t, dir, st, "team-a", "gw-a", 3*time.Second)
	dp := startDataplane(t, ctl.addr, nodeA, dir.files())
	eventually(t, "served with the first certificate", 10*time.Second, func() bool {
		return roundTrip(addr, "one") == "backend-a: one"
	})
	if !ctl.sawSerial(first) {
		t.Fatal("the server never saw the first certificate")
	}

	second := issueTo(t, dir, st, "team-a", "gw-a", time.Hour)
	eventually(t, "a stream with the renewed certificate", 15*time.Second, func() bool { return ctl.sawSerial(second) })
	s := dp.client.Stats()
	if s.Reconnects < 1 || !strings.Contains(s.LastError, "expired") {
		t.Fatalf("want a reconnect after the server ended the stream for the expired certificate; stats %+v", s)
	}
	if got := roundTrip(addr, "two"); got != "backend-a: two" {
		t.Fatalf("after the rotation: %q", got)
	}
	eventually(t, "connected again", 5*time.Second, func() bool { return dp.client.Stats().Connected })
}

// TestControllerDownAndBack: the data plane keeps serving while no
// controller replica is up, and takes the new configuration of a replica
// that comes back (a new process: new xDS server, same CA from the Secret).
func TestControllerDownAndBack(t *testing.T) {
	st := newCA(t)
	ctl := startController(t, "127.0.0.1:0", func() *ca.State { return st }, nil)
	port := freePort(t)
	if err := ctl.xds.Update(nodeA, tcpIR(nodeA, port, echoBackend(t, "v1"))); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + itoa(port)
	dir := credsDir{t.TempDir()}
	issueTo(t, dir, st, "team-a", "gw-a", time.Hour)
	dp := startDataplane(t, ctl.addr, nodeA, dir.files())
	eventually(t, "served by v1", 10*time.Second, func() bool { return roundTrip(addr, "a") == "v1: a" })

	ctl.stop()
	eventually(t, "the data plane notices", 5*time.Second, func() bool { return !dp.client.Stats().Connected })
	for i := 0; i < 5; i++ {
		if got := roundTrip(addr, "b"); got != "v1: b" {
			t.Fatalf("while the controller is down: %q", got)
		}
		time.Sleep(100 * time.Millisecond)
	}

	back := startController(t, ctl.addr, func() *ca.State { return st }, nil)
	if err := back.xds.Update(nodeA, tcpIR(nodeA, port, echoBackend(t, "v2"))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "resynced to v2", 10*time.Second, func() bool { return roundTrip(addr, "c") == "v2: c" })
}

// TestCARotation: during a CA rotation a data plane still holding a
// certificate of the old CA connects to a replica that already serves with
// the new one: the old CA stays trusted (Previous) and the data plane's
// bundle got the new CA while it was Next.
func TestCARotation(t *testing.T) {
	p := ca.Policy{CAValidity: time.Hour, Propagation: time.Minute}
	// The old CA was made 50 minutes ago: it is past two thirds of its life.
	old, err := ca.NewState(time.Now().Add(-50*time.Minute), p)
	if err != nil {
		t.Fatal(err)
	}
	rotating, changed, err := old.Step(time.Now(), p)
	if err != nil || !changed || rotating.Next == nil {
		t.Fatalf("rotation did not start: changed=%v next=%v err=%v", changed, rotating.Next != nil, err)
	}
	// The data plane's Secret was written during the rotation: a leaf of
	// the old Active CA, the bundle with both CAs.
	dir := credsDir{t.TempDir()}
	issueTo(t, dir, rotating, "team-a", "gw-a", time.Hour)

	promoted, changed, err := rotating.Step(time.Now().Add(p.Propagation), p)
	if err != nil || !changed || !promoted.Active.Cert.Equal(rotating.Next.Cert) {
		t.Fatalf("rotation did not promote the new CA: changed=%v err=%v", changed, err)
	}
	ctl := startController(t, "127.0.0.1:0", func() *ca.State { return promoted }, nil)
	port := freePort(t)
	if err := ctl.xds.Update(nodeA, tcpIR(nodeA, port, echoBackend(t, "backend-a"))); err != nil {
		t.Fatal(err)
	}
	startDataplane(t, ctl.addr, nodeA, dir.files())
	eventually(t, "served across the CA rotation", 10*time.Second, func() bool {
		return roundTrip("127.0.0.1:"+itoa(port), "x") == "backend-a: x"
	})
}
