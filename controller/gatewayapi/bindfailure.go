package gatewayapi

import (
	"fmt"
	"net"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// bindFailureProblem refuses a listener whose socket the data plane tried
// and failed to bind (Snapshot.BindFailures): another process holds the
// port, the address is not on the host, or the port is privileged. The
// data plane binds a configuration's sockets all or none, so without this
// the one socket would keep every other change from being served. Only
// the very socket that failed is refused: another address on the same
// port may well bind.
func (t *translator) bindFailureProblem(address string, l *listenerCtx) problem {
	for _, f := range t.snap.BindFailures {
		if f.Port != l.port || f.UDP != (l.kind == socketUDP) || !sameIP(f.Address, address) {
			continue
		}
		return problem{string(gwv1.ListenerReasonPortUnavailable),
			fmt.Sprintf("%s.port: the data plane could not bind %s: %s; free the port or use another (edgeway tries the port again by itself, and at once on SIGHUP)",
				l.field, net.JoinHostPort(address, fmt.Sprint(l.port)), f.Error)}
	}
	return problem{}
}

// sameIP compares two textual IPs by value ("::0" is "::").
func sameIP(a, b string) bool {
	if a == b {
		return true
	}
	ia, ib := net.ParseIP(a), net.ParseIP(b)
	return ia != nil && ib != nil && ia.Equal(ib)
}
