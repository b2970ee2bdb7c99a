// Package podnet is the host networking layer of the local cluster: it gives
// Pods that run as local processes their own network namespace and pod IP,
// gives the host addresses that pods and the host can both reach (LoadBalancer
// IPs, Service ClusterIPs), makes the Service CIDR unreachable on the host, and
// removes all of it again, also after a crash, from what it wrote down.
//
// # Use
//
//	n, err := podnet.Open(podnet.Config{ID: podnet.NewID()})
//	defer podnet.Cleanup("", n.ID()) // what cluster-down does
//	p, err := n.AddPod("default/echo-1") // netns ew-<id>-1, eth0 with p.IP
//	err = p.Start(exec.Command(echoBinary)) // the child runs inside p's namespace
//	lb, err := n.AllocateHostAddress()  // a LoadBalancer address from the pod block
//	err = n.AddHostAddress(clusterIP)   // a ClusterIP from n.ServiceCIDR()
//	err = n.RemovePod("default/echo-1") // the caller stops p's processes first
//
// Open is also how a restarted node re-attaches: the same ID finds the same
// state, pods and IP allocations.
//
// # What one Network creates (everything carries the ID)
//
//   - A Linux bridge ewbr-<id> holding the gateway address, the first usable
//     address of the network's pod block (198.18.0.1/20 for the first network on
//     a host): the node's own address on the pod network and every pod's default
//     gateway. Its MAC is fixed (derived from the ID) so pods' ARP entries for the
//     gateway never go stale when ports come and go.
//   - Per pod: a network namespace ew-<id>-<n> (/run/netns/ew-<id>-<n>) with lo
//     up and eth0 holding the pod IP, and the host end of the veth pair, also named
//     ew-<id>-<n>, enslaved to the bridge.
//   - An unreachable route for the Service CIDR in the host's main table
//     (protocol 238, metric derived from the ID so that it is found and removed by
//     the ID alone), so that host traffic to a Service IP nobody serves fails at
//     once with EHOSTUNREACH instead of following the host's default route off the
//     machine.
//   - The state directory <StateRoot>/<id>/ (default /run/edgeway-cluster/<id>/):
//     network.json with the pod block, Service CIDR, pods, IP allocations and host
//     addresses. Every object is written there before it is created.
//
// # Addresses
//
// All pod networks live in 198.18.0.0/15 (RFC 2544, routed nowhere): each
// Network takes one free /20 block of it (4093 pods and host addresses), so up to
// 32 networks (clusters, parallel tests) coexist on one host. Open refuses to
// start if anything other than an ewbr-* bridge routes an address of
// 198.18.0.0/15 on the host. The Service CIDR is Config.ServiceCIDR, or else the
// first of 10.96.0.0/16 ... 10.127.0.0/16 that nothing on the host routes; two
// networks never share one, because their ClusterIPs would collide on the host.
//
// Pod IPs are handed out round-robin after the last one given (an IP freed by a
// removed pod is not reused until the block wraps, so stale EndpointSlices do not
// point at a new pod), skipping the block's network, gateway and broadcast
// addresses and every address in use.
//
// Host addresses (AddHostAddress, AllocateHostAddress) are /32 addresses on the
// bridge, not on lo: they die with the bridge, so nothing can be left on a link
// podnet does not own; the host delivers them locally; pods reach those in the pod
// block by ARP on the bridge (the host answers because the address is on the
// receiving interface, which holds even with arp_ignore=1 or 2), and those in the
// Service CIDR through a /32 route via the gateway that podnet adds in every pod.
// Only addresses of the pod block or the Service CIDR are accepted, so podnet
// never claims an address that belongs to someone else.
//
// # What a pod can reach
//
// A pod's routes are: its pod block on eth0 (other pods, the gateway, host
// addresses of the block), a /32 via the gateway for every host address in the
// Service CIDR, "unreachable <Service CIDR>" (so an unassigned ClusterIP fails at
// once inside the pod, with no ICMP from the host and thus no ICMP rate limit),
// and a default route via the gateway, kept because software looks for it to find
// its own address. Anything else a pod sends reaches the host and is dropped there
// unless it is a local address of the host: IPv4 forwarding is switched off on
// the bridge itself (net.ipv4.conf.ewbr-<id>.forwarding=0, whatever the host's
// global ip_forward is), so the host never routes a pod's packet anywhere, and
// pods of different networks cannot reach each other. podnet adds no default
// route, no NAT and no firewall rule on the host, and changes no global sysctl:
// the only sysctls it writes are per-interface ones of its own links (forwarding
// off and IPv6 off on the bridge, IPv6 off on the host veth ends), which vanish
// with the links.
//
// Pod-to-pod traffic is switched by the bridge, not routed. If the host loads
// br_netfilter with net.bridge.bridge-nf-call-iptables=1 and a firewall whose
// FORWARD chain drops (Docker sets that up), that bridged traffic is dropped
// too; podnet does not change the host firewall.
//
// # Processes
//
// Pod.Start starts a command with its network namespace set to the pod's, on a
// locked OS thread that is switched back to the host namespace afterwards and
// returned to the Go runtime. Do not rely on SysProcAttr.Pdeathsig with it: the
// signal fires when the starting thread exits, and a pooled thread may later
// run a locked goroutine (Pod.Do's) and be discarded with it, killing the
// child. conformance/node therefore starts its containers from one thread it
// keeps locked for the process's lifetime. Pod.Do runs a function on a thread inside the pod's
// namespace (sockets it creates belong to the pod). RemovePod kills nothing: the
// caller owns the processes. Cleanup, which runs after the owner is gone, sends
// SIGKILL to every process still inside one of the network's namespaces, because
// they would otherwise run forever and keep the namespace alive.
//
// # Cleanup
//
// Cleanup(root, id) removes every process, namespace, link, route and address of
// one network, from its state directory and also by name (every /run/netns/ew-<id>-*,
// every link ew-<id>-* and ewbr-<id>, every route with podnet's protocol and the
// ID's metric), so a half-written state after a crash loses nothing. It is
// idempotent and touches nothing whose name lacks the prefix. CleanupAll(root) does
// that for every ID under a state root.
//
// Everything here needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN).
package podnet
