package securexds

import (
	"context"
	"crypto/tls"
	"net/url"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/edgeway/edgeway/controller/ca"
	"github.com/edgeway/edgeway/controller/xds"
	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

// rawStream opens an ADS stream with a client certificate for gateway
// (ns/name), driving the protocol by hand.
func rawStream(t *testing.T, st *ca.State, addr, ns, name string) discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient {
	t.Helper()
	leaf, err := st.Active.Issue(ca.LeafRequest{CommonName: ns + "/" + name, URIs: []*url.URL{xds.GatewayIdentity(ns, name)}}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := leaf.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithAuthority(serverName), grpc.WithTransportCredentials(credentials.NewTLS(
		&tls.Config{RootCAs: st.Pool(), Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS13})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// recvUntilError returns the first error of s and how many responses came before it.
func recvUntilError(s discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient) (int, error) {
	n := 0
	for {
		if _, err := s.Recv(); err != nil {
			return n, err
		}
		n++
	}
}

func wantDenied(t *testing.T, err error, msg string) {
	t.Helper()
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), msg) {
		t.Fatalf("got %v, want PermissionDenied containing %q", err, msg)
	}
}

// TestNodeIdentityOnTheWire: the first request must name the certificate's
// node; a later request may omit the node but must not name another one.
func TestNodeIdentityOnTheWire(t *testing.T) {
	st := newCA(t)
	ctl := startController(t, "127.0.0.1:0", func() *ca.State { return st }, nil)
	for _, n := range []string{nodeA, nodeB} {
		if err := ctl.xds.Update(n, tcpIR(n, freePort(t), "127.0.0.1:9")); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("first request without node", func(t *testing.T) {
		s := rawStream(t, st, ctl.addr, "team-a", "gw-a")
		if err := s.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.ListenerType}); err != nil {
			t.Fatal(err)
		}
		n, err := recvUntilError(s)
		wantDenied(t, err, `the first xDS request must carry node id "team-a/gw-a"`)
		if n != 0 {
			t.Fatalf("%d responses before the refusal", n)
		}
	})

	t.Run("own node, then another node", func(t *testing.T) {
		s := rawStream(t, st, ctl.addr, "team-a", "gw-a")
		if err := s.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: nodeA}, TypeUrl: resource.ListenerType}); err != nil {
			t.Fatal(err)
		}
		resp, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetResources()) != 1 {
			t.Fatalf("own listeners: %d resources", len(resp.GetResources()))
		}
		// A later request without a node is fine (the node is only required
		// first); one naming B ends the stream.
		if err := s.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.ClusterType}); err != nil {
			t.Fatal(err)
		}
		if err := s.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: nodeB}, TypeUrl: resource.RouteType}); err != nil {
			t.Fatal(err)
		}
		_, err = recvUntilError(s)
		wantDenied(t, err, `node id "team-b/gw-b" does not match the client certificate, which is for "team-a/gw-a"`)
	})

	t.Run("certificate without Gateway identity", func(t *testing.T) {
		leaf, err := st.Active.Issue(ca.LeafRequest{CommonName: "team-a/gw-a"}, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := leaf.TLSCertificate()
		conn, err := grpc.NewClient("passthrough:///"+ctl.addr, grpc.WithAuthority(serverName), grpc.WithTransportCredentials(credentials.NewTLS(
			&tls.Config{RootCAs: st.Pool(), Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS13})))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: nodeA}, TypeUrl: resource.ListenerType})
		_, err = recvUntilError(s)
		wantDenied(t, err, "no spiffe://edgeway/gateway/<namespace>/<name> URI SAN")
	})
}

// TestDeltaOwnConfigOnly: the same identity rule on Delta ADS.
func TestDeltaOwnConfigOnly(t *testing.T) {
	st := newCA(t)
	ctl := startController(t, "127.0.0.1:0", func() *ca.State { return st }, nil)
	port := freePort(t)
	if err := ctl.xds.Update(nodeA, tcpIR(nodeA, port, echoBackend(t, "backend-a"))); err != nil {
		t.Fatal(err)
	}
	if err := ctl.xds.Update(nodeB, tcpIR(nodeB, freePort(t), "127.0.0.1:9")); err != nil {
		t.Fatal(err)
	}
	dir := credsDir{t.TempDir()}
	issueTo(t, dir, st, "team-a", "gw-a", time.Hour)

	own := startDataplane(t, ctl.addr, nodeA, dir.files(), xdsclient.WithDelta())
	eventually(t, "served over delta", 10*time.Second, func() bool {
		return roundTrip("127.0.0.1:"+itoa(port), "d") == "backend-a: d"
	})
	_ = own
	thief := startDataplane(t, ctl.addr, nodeB, dir.files(), xdsclient.WithDelta())
	eventually(t, "refused over delta", 10*time.Second, func() bool {
		return strings.Contains(thief.client.Stats().LastError, "does not match the client certificate")
	})
	if n := thief.client.Stats().Accepted; n != 0 {
		t.Fatalf("accepted %d delta responses for another Gateway", n)
	}
}
