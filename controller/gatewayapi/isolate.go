package gatewayapi

import (
	"net"
	"strconv"
)

// Gateway isolation (Snapshot.IsolateGateways, Kubernetes mode): each
// Gateway is served by its own data plane Pods behind its own Service, so
//   - a socket belongs to one Gateway: its name carries the Gateway key, and
//     listeners of two Gateways on the same port never meet (no cross-Gateway
//     ProtocolConflict/HostnameConflict);
//   - every socket binds 0.0.0.0 in the Pod; an IP in spec.addresses is the
//     Service's address, assigned by the infrastructure provisioner, and
//     status.addresses come from that infrastructure, not from here;
//   - clusters are still shared in the one IR; the client certificate a
//     cluster presents (spec.tls.backend) is recorded per Gateway and
//     resolved by ir.SplitByGateway.

// socketName is the name of the socket a listener of g on port binds.
func (t *translator) socketName(g *gatewayCtx, port uint32, kind socketKind) string {
	name := net.JoinHostPort(g.address, strconv.Itoa(int(port)))
	if kind == socketUDP {
		name += "/udp" // a UDP socket beside a TCP one on the same port
	}
	if t.snap.IsolateGateways {
		name = g.key + "/" + name
	}
	return name
}

// bindAddress is the address g's listeners bind, given the address
// spec.addresses asked for.
func (t *translator) bindAddress(requested string) string {
	if t.snap.IsolateGateways {
		return defaultAddress
	}
	return requested
}

// reportsSpecAddress: without isolation the bound address is the one
// clients use, so it is the Gateway's status address.
func (t *translator) reportsSpecAddress() bool { return !t.snap.IsolateGateways }

// clientCertificates picks the backend client certificate of a cluster used
// by the Gateways users: the oldest such Gateway's when Gateways share data
// planes, else one per Gateway (byGateway).
func (t *translator) clientCertificates(users []string) (shared string, byGateway map[string]string) {
	for _, g := range t.gateways {
		if g.backendClientCert == "" || !contains(users, g.key) {
			continue
		}
		if !t.snap.IsolateGateways {
			return g.backendClientCert, nil
		}
		if byGateway == nil {
			byGateway = map[string]string{}
		}
		byGateway[g.key] = g.backendClientCert
	}
	return "", byGateway
}
