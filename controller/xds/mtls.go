package xds

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// TLSSource is where the xDS server gets its certificate and the CAs it
// trusts for client certificates; both may change while it runs
// (controller/ca.ServingSource follows the CA Secret).
type TLSSource interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	ClientCAs() *x509.CertPool
}

// SecureServerOptions are the gRPC options of an xDS server that only talks
// to data planes holding a client certificate from src's CAs, and only
// serves each the node its certificate names (see GatewayIdentity).
func SecureServerOptions(src TLSSource) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.Creds(ServerCredentials(src)),
		grpc.ChainStreamInterceptor(NodeIdentityInterceptor),
		grpc.ChainUnaryInterceptor(rejectUnary),
	}
}

// ServerCredentials is TLS 1.3 with a required, verified client
// certificate. The configuration is built per handshake so that a new
// serving certificate or CA bundle applies to the next connection.
func ServerCredentials(src TLSSource) credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return &tls.Config{
				MinVersion:     tls.VersionTLS13,
				ClientAuth:     tls.RequireAndVerifyClientCert,
				ClientCAs:      src.ClientCAs(),
				GetCertificate: src.GetCertificate,
				NextProtos:     []string{"h2"},
			}, nil
		},
	})
}

// NodeIdentityInterceptor is the stream interceptor that ties a stream to
// the Gateway of the client certificate:
//   - the first request must carry a node whose id is that Gateway's node
//     id, and every later request that carries a node must too; otherwise
//     the stream ends with PermissionDenied and nothing of the requested
//     node was sent;
//   - the stream ends with Unauthenticated when the certificate expires, so
//     a long-lived stream cannot outlive its credentials; the data plane
//     reconnects with its renewed certificate.
func NodeIdentityInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	leaf, err := verifiedPeer(ss)
	if err != nil {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	id, err := NodeIDFromCertificate(leaf)
	if err != nil {
		return status.Error(codes.PermissionDenied, err.Error())
	}
	g := &guardedStream{ServerStream: ss, identity: id, failed: make(chan struct{})}
	expiry := time.AfterFunc(time.Until(leaf.NotAfter), func() {
		g.fail(status.Errorf(codes.Unauthenticated, "client certificate of %s expired at %s; reconnect with the renewed one",
			id, leaf.NotAfter.UTC().Format(time.RFC3339)))
	})
	defer expiry.Stop()
	herr := handler(srv, g)
	if f := g.failure(); f != nil {
		return f
	}
	return herr
}

// rejectUnary: every xDS call is a stream; a unary method would bypass the
// node identity check, so none is served.
func rejectUnary(_ context.Context, _ any, info *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
	return nil, status.Errorf(codes.Unimplemented, "%s: the xDS server serves streams only", info.FullMethod)
}

func verifiedPeer(ss grpc.ServerStream) (*x509.Certificate, error) {
	p, ok := peer.FromContext(ss.Context())
	if !ok {
		return nil, fmt.Errorf("no peer information")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil, fmt.Errorf("a verified client certificate is required")
	}
	return info.State.VerifiedChains[0][0], nil
}

// guardedStream checks every request's node against identity and can be
// failed from outside (expiry), which unblocks a pending RecvMsg: the ADS
// handler then sees its input end and returns.
type guardedStream struct {
	grpc.ServerStream
	identity string

	mu       sync.Mutex
	seenNode bool
	err      error
	failed   chan struct{}
}

func (g *guardedStream) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err == nil {
		g.err = err
		close(g.failed)
	}
}

func (g *guardedStream) failure() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// RecvMsg receives in a goroutine so that fail can interrupt it. The
// handler never calls RecvMsg again after an error, so at most one receive
// on the real stream is pending at any time; an abandoned one ends when the
// handler returns and gRPC closes the stream.
func (g *guardedStream) RecvMsg(m any) error {
	if err := g.failure(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- g.ServerStream.RecvMsg(m) }()
	select {
	case err := <-done:
		if err != nil {
			return err
		}
		if err := g.check(m); err != nil {
			g.fail(err)
			return err
		}
		return nil
	case <-g.failed:
		return g.failure()
	}
}

// check enforces the node id of one request.
func (g *guardedStream) check(m any) error {
	var nodeID string
	var hasNode bool
	switch r := m.(type) {
	case *discoveryv3.DiscoveryRequest:
		hasNode, nodeID = r.GetNode() != nil, r.GetNode().GetId()
	case *discoveryv3.DeltaDiscoveryRequest:
		hasNode, nodeID = r.GetNode() != nil, r.GetNode().GetId()
	default:
		return status.Errorf(codes.PermissionDenied, "unexpected message %T on an xDS stream", m)
	}
	g.mu.Lock()
	first := !g.seenNode
	g.seenNode = g.seenNode || hasNode
	g.mu.Unlock()
	switch {
	case first && !hasNode:
		return status.Errorf(codes.PermissionDenied, "the first xDS request must carry node id %q (the Gateway of the client certificate)", g.identity)
	case hasNode && nodeID != g.identity:
		return status.Errorf(codes.PermissionDenied, "node id %q does not match the client certificate, which is for %q", nodeID, g.identity)
	}
	return nil
}
