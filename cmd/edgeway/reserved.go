package main

import (
	"net"
	"strconv"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// The addresses of standalone's own servers when no flag moves them; the
// offline translation (`edgeway translate`) reserves these.
const (
	defaultStandaloneXDS   = "127.0.0.1:18000"
	defaultStandaloneAdmin = "127.0.0.1:19000"
)

// standaloneReservedPorts are the ports standalone's own servers listen on,
// from their bound addresses ("ip:port"): translation refuses a listener on
// one (PortUnavailable) instead of handing the data plane a socket it
// cannot bind, which would refuse every Gateway's new configuration.
func standaloneReservedPorts(admin, xds string) []snapshot.ReservedPort {
	var out []snapshot.ReservedPort
	for _, s := range []struct{ addr, owner string }{
		{admin, "edgeway's admin server (--admin-address: /healthz, /ready, /metrics, /api/status)"},
		{xds, "edgeway's xDS server (--xds-address)"},
	} {
		host, p, err := net.SplitHostPort(s.addr)
		if err != nil {
			continue
		}
		port, err := strconv.ParseUint(p, 10, 16)
		if err != nil || port == 0 {
			continue
		}
		out = append(out, snapshot.ReservedPort{Address: host, Port: uint32(port), Owner: s.owner})
	}
	return out
}
