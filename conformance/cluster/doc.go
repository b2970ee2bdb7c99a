// Package cluster assembles the local cluster: a real Kubernetes control
// plane (etcd, kube-apiserver, kube-controller-manager built from the Go
// module proxy by conformance/kubebin) and, in the calling process, the
// node that runs Pods as local processes (conformance/node), the Service
// proxy and LoadBalancer (conformance/serviceproxy) and the cluster DNS
// (conformance/clusterdns), on a podnet network. Tests use it in-process;
// developers through `make cluster-up` / `make cluster-down`
// (conformance/cmd/edgeway-cluster).
//
// # Use
//
//	c := cluster.StartForTest(t) // stops and cleans up when the test ends
//	client := kubernetes.NewForConfigOrDie(c.REST)
//	exec.Command(kubectl, "--kubeconfig", c.Kubeconfig, "get", "pods", "-A")
//
// # What Start runs
//
//   - The PKI (fresh per Start, in Dir/pki): a cluster CA; kube-apiserver's
//     serving certificate for the gateway address, the kubernetes Service's
//     ClusterIP, kubernetes[.default[.svc[.cluster.local]]], localhost and
//     127.0.0.1; the service account signing key; client certificates for
//     the admin (O=system:masters, embedded in Dir/kubeconfig) and for
//     kube-controller-manager (system:kube-controller-manager).
//   - etcd on 127.0.0.1 with free ports, data in Dir/etcd.
//   - kube-apiserver bound to the podnet gateway, <gateway>:6443 (a host
//     address on podnet's bridge: reachable from this host and its pods
//     only), advertising it, so the lease endpoint reconciler gives the
//     kubernetes Service an EndpointSlice that the service proxy serves on
//     its ClusterIP (the first address of the Service CIDR). Service
//     accounts: issuer and audience https://kubernetes.default.svc.cluster.local;
//     authorization Node,RBAC; the default admission plugins (ServiceAccount
//     gives Pods their kube-api-access volume).
//   - kube-controller-manager with the controllers in Controllers (not
//     node-lifecycle), a service account per controller, the root CA
//     published as kube-root-ca.crt in every namespace.
//   - The service proxy, the cluster DNS on <gateway>:53 (pods' nameserver)
//     and the Service kube-system/kube-dns (the tenth address of the Service
//     CIDR) with a manual EndpointSlice to <gateway>:53, for software that
//     looks the cluster DNS up there.
//   - The node, with the default images (images.go: echo-basic, coredns and
//     edgeway built from this checkout, busybox as the host's programs) and
//     Config.Images over them.
//
// Start returns when the Node is Ready, the default service accounts and
// the kube-root-ca.crt ConfigMap exist and the kubernetes Service answers on
// its ClusterIP: 5 to 12 s on a 2-core machine with warm caches (etcd under
// 1 s, kube-apiserver 2-3 s, kube-controller-manager's controllers 1-2 s;
// `go build` of the images, which runs meanwhile, 3-7 s even when nothing
// changed). Idle, kube-apiserver holds about 280 MB, kube-controller-manager
// 90 MB, etcd 40 MB, and the node, proxy and DNS about 30 MB in the calling
// process.
//
// # Files and processes
//
// Dir (default <podnet state dir>/cluster) holds pki/, etcd/, kubeconfig,
// node/ (pod volumes and container logs), <process>.log for each control
// plane process, cluster.log for the in-process components (unless
// Config.Log is given) and pids/<process>.pid. The podnet state directory
// records Dir in cluster.json, so Down finds the pid records from the state
// root and ID alone. Every control-plane process is forked from one locked
// thread with Pdeathsig SIGKILL: when the process running the cluster dies,
// so do they (and the node's containers, which the node starts the same
// way); Down is the second line: it stops what the pid records name
// (checking each one's start time, so a reused pid is never signalled) and
// runs podnet.Cleanup.
//
// # Stop
//
// Stop stops kube-controller-manager, the DNS, the proxy (which removes its
// host addresses), the node (pods get their grace period), kube-apiserver
// and etcd, clears Dir except the logs, and runs podnet.Cleanup: no
// process, namespace, link, route or address of the cluster is left.
//
// Everything here needs root.
package cluster
