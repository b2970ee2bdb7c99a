// Package serviceproxy is the local cluster's Service implementation: what
// kube-proxy does on a node, plus the LoadBalancer controller a cloud
// provider would run, as a userspace proxy in the host's network namespace.
//
// # Use
//
//	p, err := serviceproxy.Start(ctx, serviceproxy.Config{REST: admin, Network: n, Log: log})
//	defer p.Stop()
//
// Start returns once its informers are synced and every existing Service is
// served; Stop closes every listener and connection and removes every host
// address the proxy added. The podnet Network's ServiceCIDR must be
// kube-apiserver's --service-cluster-ip-range (a ClusterIP outside it is
// reported and not served).
//
// # What it serves
//
// For every Service with a ClusterIP (not headless, not ExternalName) the
// ClusterIP becomes a host address (podnet's AddHostAddress: a /32 on the
// pod network's bridge, which the host reaches locally and every pod
// through the /32 route podnet gives it) and the proxy listens on
// ClusterIP:port for each TCP and UDP port. SCTP ports are not served: a
// Warning event (reason ProtocolNotServed) and a log line say so.
//
// Every Service of type LoadBalancer without spec.loadBalancerClass gets an
// address of its own from the pod block (podnet's AllocateHostAddress), so
// every Gateway has its own address, reachable from the host and from the
// pods; status.loadBalancer.ingress becomes [{ip, ipMode: VIP}] through the
// status subresource, and the proxy listens on that address for each port
// as well. Services with a loadBalancerClass belong to another
// implementation and are left alone. A restarted proxy takes back the
// address the status names when it is in the pod block and free (Services
// that have one are served first at Start, so no other Service is given it
// meanwhile); Stop therefore keeps the status. Changing the type away from
// LoadBalancer, or deleting the Service, gives the address back and clears
// the status.
//
// # Requested addresses
//
// A Service asks for its load balancer address as it would ask MetalLB:
// the annotation serviceproxy.edgeway.dev/load-balancer-ips
// (LoadBalancerIPsAnnotation), a comma-separated list, or, without it, the
// deprecated spec.loadBalancerIP. The Service gets the first address of the
// list that is a free IPv4 address of the pod block (not the gateway, the
// network or broadcast address, a pod's IP or another Service's load
// balancer address), made a host address like any other; it keeps it while
// the request names it and gives it back when the request changes. Every
// other address of the list is left out with a Warning event (reason
// LoadBalancerIPNotUsable) saying why: outside the pod block (podnet never
// takes over an address it did not create), taken, or beyond the one
// address a Service gets. When none can be given, the Service has no
// address and no status (reason LoadBalancerIPNotAssigned): a load balancer
// does not hand out another address than the one asked for. An address a
// Service gives back goes to a Service that asks for it; one a pod has is
// looked at again at the Service's next change. edgeway's EdgewayConfig
// spec.service.addressAnnotation names the annotation in the local cluster
// (conformance/deploy), so a Gateway's spec.addresses reach the load
// balancer.
//
// Every change applies while the proxy runs: endpoints to the next
// connection (and the next UDP session), an added or removed port opens or
// closes its listeners, a deleted Service loses its listeners and
// addresses. A listener owns its connections: closing it (port removed,
// Service deleted, Stop) resets them. Connections to an endpoint that is
// removed while the Service stays are left alone, as kube-proxy leaves
// established flows; UDP sessions move to another endpoint at their next
// datagram. Each Service programmed or removed is a log line.
//
// # Endpoints
//
// The endpoints of a Service port come from the Service's EndpointSlices
// (label kubernetes.io/service-name), IPv4 only, the first address of each
// endpoint, as kube-proxy takes them: the ready endpoints (conditions.ready
// true or unset), or, when none is ready, those that are serving while
// terminating. The target port is the port of the EndpointSlice port whose
// name equals the Service port's name (that is how a named targetPort
// resolves to a different number in each Pod). Only addresses of the pod
// block are used (pods, and the gateway for hostNetwork pods): the proxy
// never sends a packet to an address podnet did not create, whatever an
// EndpointSlice says; others are reported (reason EndpointNotServed).
//
// TCP: round-robin over the endpoints; each dial is bounded by
// dialTimeout, a failed one (refused, or no pod behind the address) moves on
// to the next endpoint; with no endpoint, or none answering, the client
// connection is reset at once instead of being left waiting. Bytes are
// copied both ways (spliced by the kernel); an EOF in one direction is
// passed on as a half-close (CloseWrite), an error resets both sides.
//
// UDP: a session per client address (IP and port), with its own socket
// connected to the endpoint chosen for it; the endpoint's replies are sent
// to the client from the listener's socket, so they come from the Service
// address the client sent to. A session ends after udpIdleTimeout (30 s,
// the kernel's nf_conntrack_udp_timeout, which bounds the same flow under
// kube-proxy) without a datagram either way, when its endpoint refuses
// (ICMP port unreachable) or leaves the Service. A datagram for a Service
// port without endpoints is dropped (kube-proxy rejects it with ICMP; a
// userspace socket cannot send ICMP).
//
// sessionAffinity: ClientIP is honoured: a client IP goes to the endpoint it
// last used, within sessionAffinityConfig.clientIP.timeoutSeconds (default
// 10800 s), as long as that still is an endpoint.
//
// # What the endpoint sees
//
// The proxy connects from the host's pod-network address, the gateway
// (Network.Gateway(), the Node's InternalIP): every connection arrives
// from it, not from the client. That is what kube-proxy's userspace mode
// did, and what a NodePort with externalTrafficPolicy: Cluster shows a
// backend after SNAT. The client's address is not passed on.
//
// # Why userspace
//
// podnet changes no firewall and adds no NAT: the local cluster must leave
// the host as it found it, also after a crash, and must not depend on
// iptables or nftables being present and owned by nobody else (Docker and
// firewalld rewrite those tables). A userspace proxy needs only sockets on
// host addresses that podnet already manages and removes with its bridge;
// a crashed proxy leaves nothing that podnet's Cleanup does not remove. The
// price is a copy through the proxy and the lost client address, which the
// conformance tests do not need.
//
// # Not implemented, and why
//
//   - NodePort listeners: the local cluster's only node address is the
//     gateway, and every Service is reachable on its ClusterIP and (for
//     LoadBalancer) its own address already; nothing here reaches Services
//     through node ports.
//   - spec.externalIPs: they name addresses podnet does not own; serving
//     them would mean claiming someone else's address on the host.
//   - internalTrafficPolicy, externalTrafficPolicy: Local and topology
//     hints: there is one node, so every endpoint is local and in the same
//     zone; the policies would select the same endpoints.
//   - IPv6 and dual-stack ClusterIPs: podnet networks are IPv4 only.
//   - SCTP: not offered by Go's net package; reported instead.
package serviceproxy
