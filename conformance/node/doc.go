// Package node is the local cluster's kubelet stand-in: a Node that runs
// Pods as local processes, each in its own network namespace (podnet) with
// its own pod IP, mapping the images Pods name to local binaries.
//
// # Use
//
//	n, _ := podnet.Open(podnet.Config{ID: podnet.NewID()})
//	node, err := node.Start(ctx, node.Config{
//		REST:    restConfig, // admin
//		Network: n,
//		Images: node.Images{
//			"gcr.io/k8s-staging-gateway-api/echo-basic": node.Command(echoBasicBinary),
//			"busybox": node.Shell(),
//		},
//	})
//	defer node.Stop(ctx)
//
// # What the node does
//
//   - Registers Node Config.Name (DefaultName "edgeway-node") with one
//     address, InternalIP = the pod network's gateway (198.18.x.1; the API
//     server refuses to proxy logs to loopback), capacity, Ready=True, and
//     removes the node.kubernetes.io/not-ready taint admission adds. It
//     re-posts its status and renews its Lease in kube-node-lease every 10 s.
//   - Binds every Pod with an empty spec.nodeName and the default scheduler
//     to itself (pods/binding), so no kube-scheduler is needed; a Pod whose
//     nodeSelector the Node's labels do not satisfy gets a FailedScheduling
//     event instead.
//   - Runs the Pods bound to it: podnet.AddPod gives the pod its namespace
//     and IP; volumes are materialized; init containers run to completion in
//     order (restartPolicy Always init containers run as sidecars); then
//     every container starts. Status (phase, conditions, podIP(s), hostIP(s),
//     container states, restart counts) is written with a JSON merge patch.
//   - Restarts containers per restartPolicy with a back-off of 1 s doubling
//     to 30 s (CrashLoopBackOff); with Never/OnFailure the pod ends Succeeded
//     or Failed, and its network is freed (logs stay until deletion).
//   - On deletion: SIGTERM to each container's process group, SIGKILL after
//     the grace period, SIGKILL to anything left in the pod's network
//     namespace, podnet.RemovePod, the pod directory removed, and the final
//     delete with grace period 0 that lets the API server drop the object.
//
// # Images
//
// Images maps image reference prefixes to Image functions that return the
// exec.Cmd of a container (Command: a fixed binary given the container's
// args; Shell: the container's command run with the host's programs). A
// container whose image no key matches leaves the Pod Pending, the
// container waiting with reason ErrImagePull, and a Warning event that names
// the image and lists the known ones.
//
// # Containers
//
// Each container process starts in the pod's network namespace, its own
// process group, new mount and UTS namespaces (hostname = the pod's), with
// the environment Kubernetes would give it: env values with $(VAR)
// expansion, valueFrom fieldRef (metadata.name, .namespace, .uid,
// .labels['k'], .annotations['k'], spec.nodeName, spec.serviceAccountName,
// status.podIP(s), status.hostIP(s)), resourceFieldRef, secretKeyRef,
// configMapKeyRef and envFrom; command and args are expanded too. Service
// link variables come first, as the kubelet sets them: KUBERNETES_SERVICE_HOST
// and _PORT (and the docker-link style rest) of the kubernetes Service always,
// those of every Service of the pod's namespace unless enableServiceLinks is
// false.
//
// Volumes: secret, configMap, downwardAPI and projected (secret, configMap,
// downwardAPI, serviceAccountToken from the TokenRequest API, refreshed at 80%
// of its lifetime) are written under Config.Dir like the kubelet's atomic
// writer does and rewritten every 30 s from the API; emptyDir is a
// directory; hostPath is the host path. They appear at their mountPaths
// (read-only for the API-backed kinds), subPath included, and the pod's own
// /etc/hosts (and /etc/resolv.conf when Config.ClusterDNS is set) is mounted
// over the host's. How the mounts are made, and why nothing is created on
// the host, is described in mount_linux.go: in short, a mountPath missing on
// the host is created inside a tmpfs that covers its nearest existing
// ancestor inside the container's mount namespace only, mirroring that
// directory's entries, so the host filesystem is never changed and the
// mounts vanish with the container's last process. A mountPath whose first
// component is missing on the host (/data) cannot be provided.
//
// The container's binary runs as root, sees the host's filesystem (plus
// those mounts) and shares its PID namespace; securityContext, resource
// limits, ports and hostNetwork are not enforced.
//
// Readiness: a container is ready while its process runs; with an httpGet or
// tcpSocket readinessProbe, once the probe (run from the host against the
// pod IP) succeeds. exec and grpc probes are not run (a ProbeNotRun event
// says so); liveness and startup probes are not run.
//
// # Logs and the kubelet API
//
// stdout and stderr go to one file per container instance in the CRI log
// format (a timestamp per line). The kubelet API serves them on
// InternalIP:KubeletPort (10250) over TLS with a self-signed certificate:
// GET /containerLogs/{ns}/{pod}/{container} with follow, previous,
// timestamps, tailLines, limitBytes, sinceSeconds and sinceTime, so
// `kubectl logs` works through the API server; plus GET /pods and /healthz.
// It answers connections from the host only (not from pods). kube-apiserver
// needs no extra flags for this: without --kubelet-certificate-authority it
// does not verify the kubelet's certificate, and without
// --kubelet-client-certificate it presents none, which the node does not ask
// for. exec, attach and port-forward are not served.
//
// # Restarts of the node process
//
// A node process cannot adopt processes an earlier one started. Start
// removes every pod network left in Config.Network (killing what runs
// there); the Pods bound to the node are then started again.
//
// Everything here needs root (network namespaces and mounts).
package node
