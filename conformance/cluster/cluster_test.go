package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/edgeway/edgeway/conformance/kubebin"
	"github.com/edgeway/edgeway/conformance/node"
)

// probeImage runs this test binary as the probe role (main_test.go).
const probeImage = "edgeway.test/cluster-probe"

// TestCluster drives a real workload through the cluster: a Deployment of
// echo-basic made into Pods by kube-controller-manager and run by the node,
// served on a ClusterIP and a LoadBalancer address by the service proxy,
// found by name through the cluster DNS; a Pod that is an in-cluster client
// of the API server through the kubernetes Service; kubectl logs through the
// API server and the node. Then Stop leaves nothing behind.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole local cluster")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c := startForTest(t, Config{Images: node.Images{
		probeImage: node.Command(self, envRole+"=probe", "GODEBUG=netdns=go"),
	}})
	t.Logf("cluster %s started in %s (gateway %s, Service CIDR %s)", c.Network.ID(), time.Since(start).Round(time.Millisecond), c.Network.Gateway(), c.Network.ServiceCIDR())
	logMemory(t, "the idle cluster, just started", c.PIDs(), "test process (node, service proxy, DNS, test)", os.Getpid())
	// edgeway's images are built as make build builds them: with the
	// readiness-order poller (hack/netpollfifo), which their version says.
	for _, bin := range []string{"edgeway", "edgeway-dataplane"} {
		out, err := exec.Command(filepath.Join(c.ImagesDir, bin), "version").CombinedOutput()
		if err != nil {
			t.Fatalf("%s version: %v\n%s", bin, err, out)
		}
		if got := strings.Contains(string(out), "netpoll in readiness order"); got != netpollFIFO() {
			t.Errorf("%s version = %q; want the readiness-order poller: %v (NETPOLL_FIFO=%q)", bin, out, netpollFIFO(), os.Getenv("NETPOLL_FIFO"))
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(c.REST)
	ns := "echo-test"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createEcho(ctx, t, client, ns)

	// kube-controller-manager: Deployment -> ReplicaSet -> Pod; the node
	// runs it; readiness probe; Available.
	waitUntil(ctx, t, "Deployment echo Available", func() error {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, "echo", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range d.Status.Conditions {
			if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue && d.Status.ReadyReplicas == 1 {
				return nil
			}
		}
		return fmt.Errorf("status %+v", d.Status)
	})
	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("echo pods: %v (%d)", err, len(pods.Items))
	}
	pod := pods.Items[0]
	if len(pod.OwnerReferences) != 1 || pod.OwnerReferences[0].Kind != "ReplicaSet" {
		t.Errorf("echo pod's owner = %+v, want its ReplicaSet", pod.OwnerReferences)
	}
	// endpointslice-controller: the Service's EndpointSlice holds the pod.
	waitUntil(ctx, t, "EndpointSlice of Service echo with the pod ready", func() error {
		slices, err := client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=echo"})
		if err != nil {
			return err
		}
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if len(e.Addresses) > 0 && e.Addresses[0] == pod.Status.PodIP && e.Conditions.Ready != nil && *e.Conditions.Ready {
					return nil
				}
			}
		}
		return fmt.Errorf("no ready endpoint %s yet", pod.Status.PodIP)
	})

	// The LoadBalancer address, from the host.
	var lbIP string
	waitUntil(ctx, t, "LoadBalancer address of echo-lb", func() error {
		s, err := client.CoreV1().Services(ns).Get(ctx, "echo-lb", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(s.Status.LoadBalancer.Ingress) == 0 || s.Status.LoadBalancer.Ingress[0].IP == "" {
			return fmt.Errorf("no ingress yet")
		}
		lbIP = s.Status.LoadBalancer.Ingress[0].IP
		return nil
	})
	if ip := netip.MustParseAddr(lbIP); !c.Network.PodCIDR().Contains(ip) {
		t.Errorf("LoadBalancer address %s is not in the pod network %s", ip, c.Network.PodCIDR())
	}
	lbURL := "http://" + net.JoinHostPort(lbIP, "8080") + "/from-host"
	var got struct {
		Pod, Namespace, Path string
	}
	waitUntil(ctx, t, "GET "+lbURL, func() error {
		resp, err := http.Get(lbURL)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", resp.Status, b)
		}
		return json.Unmarshal(b, &got)
	})
	if got.Pod != pod.Name || got.Namespace != ns || got.Path != "/from-host" {
		t.Errorf("echo via the LoadBalancer answered %+v, want pod %s in %s, path /from-host", got, pod.Name, ns)
	}

	// A Pod: a Service by DNS name, the kubernetes Service with the
	// mounted token and CA, an in-cluster client.
	runProbe(ctx, t, client, ns, pod.Name)

	// kubectl logs through the API server and the node's kubelet API.
	kubectl, err := kubebin.Path("kubectl")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", c.Kubeconfig, "logs", "-n", ns, pod.Name).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl logs: %v\n%s", err, out)
	}
	for _, want := range []string{"Starting server, listening on port 3000 (http)", "Echoing back request made to /from-host"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kubectl logs %s lacks %q:\n%s", pod.Name, want, out)
		}
	}

	logMemory(t, "the cluster after the workload (2 pods, 3 Services)", c.PIDs(), "test process (node, service proxy, DNS, test)", os.Getpid())
	left := leftovers(c)
	stopStart := time.Now()
	if err := c.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("cluster stopped in %s", time.Since(stopStart).Round(time.Millisecond))
	left.assertGone(t)
}

// createEcho creates a Deployment of echo-basic as the conformance suite
// deploys it (POD_NAME and NAMESPACE from the downward API), a ClusterIP
// Service echo (port 80) and a LoadBalancer Service echo-lb (port 8080).
func createEcho(ctx context.Context, t *testing.T, client kubernetes.Interface, ns string) {
	t.Helper()
	labels := map[string]string{"app": "echo"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name:  "echo",
						Image: "registry.k8s.io/gateway-api/echo-basic:v1.5.1",
						Env: []corev1.EnvVar{
							{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
							{Name: "NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
						},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(3000)}},
							PeriodSeconds: 1,
						},
					}},
				},
			},
		},
	}
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*corev1.Service{
		{
			ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: ns},
			Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromInt32(3000)},
			}},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "echo-lb", Namespace: ns},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: labels, Ports: []corev1.ServicePort{
				{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(3000)},
			}},
		},
	} {
		if _, err := client.CoreV1().Services(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// runProbe runs the probe role in a Pod (this test binary, mapped as
// probeImage) and checks what it printed.
func runProbe(ctx context.Context, t *testing.T, client kubernetes.Interface, ns, echoPod string) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name:  "probe",
				Image: probeImage,
				Env:   []corev1.EnvVar{{Name: "ECHO_HOST", Value: "echo." + ns + ".svc.cluster.local"}},
			}},
		},
	}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var phase corev1.PodPhase
	waitUntil(ctx, t, "probe pod finished", func() error {
		got, err := client.CoreV1().Pods(ns).Get(ctx, "probe", metav1.GetOptions{})
		if err != nil {
			return err
		}
		phase = got.Status.Phase
		if phase != corev1.PodSucceeded && phase != corev1.PodFailed {
			return fmt.Errorf("phase %s", phase)
		}
		return nil
	})
	logs, err := client.CoreV1().Pods(ns).GetLogs("probe", &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("probe logs: %v", err)
	}
	t.Logf("probe pod (%s):\n%s", phase, logs)
	for _, want := range []string{
		"ECHO " + echoPod + "\n",
		"VERSION v1.37.1",
		"WHOAMI system:serviceaccount:" + ns + ":default\n",
	} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("probe output lacks %q", want)
		}
	}
	if phase != corev1.PodSucceeded {
		t.Errorf("probe pod %s", phase)
	}
}

// waitUntil polls check every 200 ms until it succeeds or ctx ends.
func waitUntil(ctx context.Context, t *testing.T, what string, check func() error) {
	t.Helper()
	var last error
	for {
		if last = check(); last == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not reached (last: %v)", what, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// logMemory logs the resident memory of each process.
func logMemory(t *testing.T, when string, pids map[string]int, self string, selfPID int) {
	t.Helper()
	all := map[string]int{self: selfPID}
	for k, v := range pids {
		all[k] = v
	}
	names := make([]string, 0, len(all))
	for name := range all {
		names = append(names, name)
	}
	sort.Strings(names)
	var total int
	var lines []string
	for _, name := range names {
		pid := all[name]
		kb, err := rssKB(pid)
		if err != nil {
			t.Errorf("RSS of %s: %v", name, err)
			continue
		}
		total += kb
		lines = append(lines, fmt.Sprintf("  %-64s %4d MB", name, kb/1024))
	}
	t.Logf("memory (RSS) of %s, %d MB in all:\n%s", when, total/1024, strings.Join(lines, "\n"))
}

func rssKB(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// leftover is what a cluster created on the host, recorded while it runs,
// to check that none of it remains after Stop or Down.
type leftover struct {
	id, bridge, stateDir string
	podCIDR, serviceCIDR netip.Prefix
	pids                 map[string]int
}

func leftovers(c *Cluster) leftover {
	return leftover{
		id:          c.Network.ID(),
		bridge:      c.Network.Bridge(),
		stateDir:    c.Network.StateDir(),
		podCIDR:     c.Network.PodCIDR(),
		serviceCIDR: c.Network.ServiceCIDR(),
		pids:        c.PIDs(),
	}
}

func (l leftover) assertGone(t *testing.T) {
	t.Helper()
	if _, err := net.InterfaceByName(l.bridge); err == nil {
		t.Errorf("bridge %s still exists", l.bridge)
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifaces {
		if strings.HasPrefix(i.Name, "ew-"+l.id+"-") {
			t.Errorf("link %s still exists", i.Name)
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err == nil && (l.podCIDR.Contains(p.Addr()) || l.serviceCIDR.Contains(p.Addr())) {
				t.Errorf("host address %s of the cluster still on %s", p, i.Name)
			}
		}
	}
	if m, _ := filepath.Glob("/run/netns/ew-" + l.id + "-*"); len(m) > 0 {
		t.Errorf("network namespaces still exist: %v", m)
	}
	for name, pid := range l.pids {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(b), ") Z ") {
			t.Errorf("%s (pid %d) still runs", name, pid)
		}
	}
	if _, err := os.Stat(l.stateDir); !os.IsNotExist(err) {
		t.Errorf("podnet state directory %s still exists (%v)", l.stateDir, err)
	}
	out, err := exec.Command("ip", "-4", "route", "show", "table", "all").CombinedOutput()
	if err != nil {
		t.Fatalf("ip route: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, l.serviceCIDR.String()) || strings.Contains(line, l.bridge) {
			t.Errorf("route of the cluster still there: %s", line)
		}
	}
}
