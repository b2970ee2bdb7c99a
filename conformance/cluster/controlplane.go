package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgeway/edgeway/conformance/kubebin"
)

// APIServerPort is kube-apiserver's port on the pod network's gateway.
const APIServerPort = 6443

// Controllers are the kube-controller-manager controllers the cluster runs:
// those that turn workloads into Pods and Services into EndpointSlices,
// give every namespace its service account and root CA, and clean up after
// deletions, plus a few that cost nothing while idle (daemonset, job,
// statefulset, cronjob, ttl-after-finished, disruption for
// PodDisruptionBudget status, clusterrole-aggregation that fills the
// admin/edit/view roles, endpoints for consumers of the legacy API,
// service-cidr for the ServiceCIDR objects' lifecycle).
// node-lifecycle-controller is left out on purpose: it taints a node NotReady
// whose kubelet heartbeat it misses, and evicts its pods; conformance/node
// heartbeats, but a paused or busy test process must not lose its pods.
// node-ipam is not needed (podnet assigns pod IPs), nor are the volume,
// certificate-signing and resource-quota controllers.
var Controllers = []string{
	"clusterrole-aggregation-controller",
	"cronjob-controller",
	"daemonset-controller",
	"deployment-controller",
	"disruption-controller",
	"endpoints-controller",
	"endpointslice-controller",
	"endpointslice-mirroring-controller",
	"garbage-collector-controller",
	"job-controller",
	"namespace-controller",
	"replicaset-controller",
	"root-ca-certificate-publisher-controller",
	"service-cidr-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"statefulset-controller",
	"ttl-after-finished-controller",
}

// healthTimeout bounds each component's wait for health: generous, the
// machines have 2 shared cores and kube-apiserver alone needs seconds.
const healthTimeout = 2 * time.Minute

// portAttempts bounds the retries of a component that lost one of its free
// ports to another process between freePorts and its bind.
const portAttempts = 3

// lostPortRace reports whether a start failed because a port was taken.
func lostPortRace(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}

// startEtcd runs etcd on loopback with free ports and its data in dir/etcd.
func startEtcd(ctx context.Context, dir string, log *slog.Logger) (*process, string, error) {
	for attempt := 1; ; attempt++ {
		p, url, err := tryEtcd(ctx, dir, log)
		if attempt == portAttempts || !lostPortRace(err) {
			return p, url, err
		}
		log.Warn("etcd lost a port to another process; retrying with other ports", "attempt", attempt)
		// Its member data names the old peer address.
		if err := os.RemoveAll(filepath.Join(dir, "etcd")); err != nil {
			return nil, "", fmt.Errorf("cluster: %w", err)
		}
	}
}

func tryEtcd(ctx context.Context, dir string, log *slog.Logger) (*process, string, error) {
	bin, err := kubebin.Path("etcd")
	if err != nil {
		return nil, "", err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, "", err
	}
	client := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	p, err := startProcess(dir, "etcd", bin, []string{
		"--name=edgeway-cluster",
		"--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=edgeway-cluster=" + peer,
		// The data lives as long as the cluster: durability across a power
		// cut buys nothing, and fsync costs the tests time.
		"--unsafe-no-fsync",
		"--log-level=warn",
	}, log)
	if err != nil {
		return nil, "", err
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	err = waitFor(ctx, p, client+"/health", func() error {
		resp, err := hc.Get(client + "/health")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"health":"true"`) {
			return fmt.Errorf("%s: %s", resp.Status, b)
		}
		return nil
	})
	if err != nil {
		p.stop(context.Background())
		return nil, "", err
	}
	return p, client, nil
}

// apiServerArgs are kube-apiserver's flags. It binds only the gateway
// address, which podnet put on its bridge: a host address reachable from
// this host and from the pods (forwarding is off on the bridge), never from
// another machine; pods reach it as the node's address and through the
// kubernetes Service. Advertising that address (not loopback, which the
// endpoint reconciler refuses) lets the lease reconciler give the kubernetes
// Service a real EndpointSlice, which the service proxy serves.
func apiServerArgs(etcd string, gateway netip.Addr, serviceCIDR netip.Prefix, p *pki) []string {
	return []string{
		"--etcd-servers=" + etcd,
		"--bind-address=" + gateway.String(),
		"--secure-port=" + strconv.Itoa(APIServerPort),
		"--advertise-address=" + gateway.String(),
		"--endpoint-reconciler-type=lease",
		"--service-cluster-ip-range=" + serviceCIDR.String(),
		"--tls-cert-file=" + p.apiserverCert,
		"--tls-private-key-file=" + p.apiserverKey,
		"--client-ca-file=" + p.caCert,
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-account-key-file=" + p.saPub,
		"--service-account-signing-key-file=" + p.saKey,
		"--api-audiences=" + serviceAccountIssuer,
		"--authorization-mode=Node,RBAC",
		// Charts and test manifests may ask for privileged containers; the
		// node does not enforce securityContext anyway.
		"--allow-privileged=true",
		"--profiling=false",
	}
}

// startAPIServer runs kube-apiserver and waits for /readyz.
func startAPIServer(ctx context.Context, dir, etcd string, gateway netip.Addr, serviceCIDR netip.Prefix, p *pki, log *slog.Logger) (*process, error) {
	bin, err := kubebin.Path("kube-apiserver")
	if err != nil {
		return nil, err
	}
	proc, err := startProcess(dir, "kube-apiserver", bin, apiServerArgs(etcd, gateway, serviceCIDR, p), log)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.caPEM)
	cert, err := tls.X509KeyPair(p.adminCertPEM, p.adminKey)
	if err != nil {
		proc.stop(context.Background())
		return nil, fmt.Errorf("cluster: admin key pair: %w", err)
	}
	hc := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}},
	}
	url := "https://" + net.JoinHostPort(gateway.String(), strconv.Itoa(APIServerPort)) + "/readyz"
	err = waitFor(ctx, proc, url, func() error { return getOK(hc, url) })
	hc.CloseIdleConnections()
	if err != nil {
		proc.stop(context.Background())
		return nil, err
	}
	return proc, nil
}

// startControllerManager runs kube-controller-manager as
// system:kube-controller-manager with a service account per controller (as
// kubeadm does) and waits for its /healthz.
func startControllerManager(ctx context.Context, dir, kubeconfig string, p *pki, log *slog.Logger) (*process, error) {
	for attempt := 1; ; attempt++ {
		proc, err := tryControllerManager(ctx, dir, kubeconfig, p, log)
		if attempt == portAttempts || !lostPortRace(err) {
			return proc, err
		}
		log.Warn("kube-controller-manager lost its port to another process; retrying with another", "attempt", attempt)
	}
}

func tryControllerManager(ctx context.Context, dir, kubeconfig string, p *pki, log *slog.Logger) (*process, error) {
	bin, err := kubebin.Path("kube-controller-manager")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	proc, err := startProcess(dir, "kube-controller-manager", bin, []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + strings.Join(Controllers, ","),
		"--use-service-account-credentials=true",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(ports[0]),
		"--cert-dir=" + filepath.Join(dir, "kube-controller-manager"),
		// The key kube-apiserver verifies service account tokens with.
		"--service-account-private-key-file=" + p.saKey,
		// Published as every namespace's kube-root-ca.crt ConfigMap, which
		// pods' kube-api-access volumes carry as ca.crt.
		"--root-ca-file=" + p.caCert,
		"--profiling=false",
	}, log)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{
		Timeout: 2 * time.Second,
		// Its serving certificate is self-signed at start; the address is
		// loopback and the port the one just given to it.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", ports[0])
	err = waitFor(ctx, proc, url, func() error { return getOK(hc, url) })
	hc.CloseIdleConnections()
	if err != nil {
		proc.stop(context.Background())
		return nil, err
	}
	return proc, nil
}

func getOK(hc *http.Client, url string) error {
	resp, err := hc.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	return nil
}

// waitFor polls check until it succeeds, the process exits, ctx ends or
// healthTimeout passes.
func waitFor(ctx context.Context, p *process, what string, check func() error) error {
	deadline := time.Now().Add(healthTimeout)
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("cluster: %s never became healthy: %w", p.name, p.exitError())
		case <-ctx.Done():
			return fmt.Errorf("cluster: waiting for %s (%s): %w", p.name, what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster: %s not healthy after %s (%s: %v); the end of %s:\n%s",
				p.name, healthTimeout, what, last, p.logPath, tail(p.logPath, 20))
		}
	}
}

// freePorts asks the kernel for n unused loopback ports. Another process
// may take one before the component binds it; then the component exits
// with "address already in use" and Start fails saying so.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cluster: find a free loopback port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
