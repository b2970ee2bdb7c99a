package gatewayapi

// Mixed TLS modes: protocol TLS listeners in Passthrough mode and in
// Terminate mode on the same port, the extended feature TLSRouteModeMixed
// (claimed, features.go). They share one socket like any TLS listeners of
// one or several Gateways: both are Accepted, and the client's SNI picks
// the chain, "passthrough/<sni>" (the raw stream to the backend) or
// "tls/<sni>" (terminated with the listener's certificate), next to the
// "https/<hostname>" chains of HTTPS listeners on the port. Only the same
// hostname on two of them is a conflict (HostnameConflict, listener.go and
// socket.go), whatever their modes.
//
// What the modes must not do is serve each other's clients: the most
// specific listener hostname owns an SNI, and a listener with nothing to
// serve for it (no route, a more specific route, a route without backends)
// gets a refusing chain for its hostname (refuseChains, build.go), so that
// a wildcard chain of the other mode does not pick its clients up.
