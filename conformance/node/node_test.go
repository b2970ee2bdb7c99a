package node

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/conformance/kubebin"
	"github.com/edgeway/edgeway/conformance/podnet"
)

const (
	testImage  = "edgeway.test/report"
	shellImage = "edgeway.test/sh"
)

// clusterDNS is written into pods' resolv.conf; nothing is sent to it.
var clusterDNS = netip.MustParseAddr("10.0.0.10")

// env is one node on one real API server and one pod network, shared by the
// subtests (each start costs seconds of 2 shared cores).
type env struct {
	s      *apiserver.Server
	c      kubernetes.Interface
	net    *podnet.Network
	node   *Node
	images Images
}

func TestNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver and creates network namespaces")
	}
	s := apiserver.Start(t)
	n, err := podnet.Open(podnet.Config{ID: podnet.NewID(), StateRoot: testRoot})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := podnet.Cleanup(testRoot, n.ID()); err != nil {
			t.Errorf("podnet cleanup: %v", err)
		}
	})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	images := Images{
		testImage:  Command(self, envRole+"=report"),
		shellImage: Shell(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	node, err := Start(ctx, Config{REST: s.Config, Network: n, Images: images, ClusterDNS: []netip.Addr{clusterDNS}, Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		node.Stop(stopCtx)
	})
	c, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{s: s, c: c, net: n, node: node, images: images}

	t.Run("node is registered and ready", func(t *testing.T) { testNodeReady(ctx, t, e) })
	t.Run("pod runs with env, volumes, probe and logs", func(t *testing.T) { testPodRuns(ctx, t, e) })
	t.Run("unmapped image stays pending", func(t *testing.T) { testUnmappedImage(ctx, t, e) })
	t.Run("restart policies", func(t *testing.T) { testRestarts(ctx, t, e) })
	t.Run("deployment behind a service", func(t *testing.T) { testDeployment(ctx, t, e) })
}

// testWriter sends the node's log to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func testNodeReady(ctx context.Context, t *testing.T, e *env) {
	nd, err := e.c.CoreV1().Nodes().Get(ctx, DefaultName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ready := false
	for _, c := range nd.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	if !ready {
		t.Errorf("Node conditions %+v: want Ready=True", nd.Status.Conditions)
	}
	if len(nd.Status.Addresses) != 1 || nd.Status.Addresses[0].Type != corev1.NodeInternalIP || nd.Status.Addresses[0].Address != e.net.Gateway().String() {
		t.Errorf("Node addresses %+v: want only InternalIP %s (the pod network's gateway)", nd.Status.Addresses, e.net.Gateway())
	}
	for _, taint := range nd.Spec.Taints {
		t.Errorf("Node has taint %v: want none (no scheduler or node lifecycle controller lifts it)", taint)
	}
	if _, err := e.c.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, DefaultName, metav1.GetOptions{}); err != nil {
		t.Errorf("node Lease: %v", err)
	}
}

func testPodRuns(ctx context.Context, t *testing.T, e *env) {
	ns := "runs"
	createNamespace(ctx, t, e.c, ns)
	if _, err := e.c.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		Data:       map[string][]byte{"password": []byte("s3cret"), "token": []byte("tok-1")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings"},
		Data:       map[string]string{"mode": "fast", "level": "3"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Service link variables: the kubernetes Service's, and those of the
	// pod's namespace.
	kubeSvc, err := e.c.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	linked, err := e.c.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "linked"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "web", Port: 8000}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitServiceCached(t, e.node, linked)
	// No serviceaccount-controller runs here.
	if _, err := e.c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reporter"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Paths that do not exist on the host: the node must show them inside
	// the pod only.
	const secretDir = "/var/run/secrets/edgeway-node-test"
	const configDir = "/etc/edgeway-node-test/config"
	for _, p := range []string{secretDir, "/etc/edgeway-node-test"} {
		if _, err := os.Lstat(p); err == nil {
			t.Fatalf("%s exists on the host before the test: remove it", p)
		}
	}
	tokenPath := "/var/run/secrets/kubernetes.io/serviceaccount"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "reporter", Namespace: ns,
			Labels:      map[string]string{"app": "reporter"},
			Annotations: map[string]string{"note": "hello"},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName:            "reporter",
			TerminationGracePeriodSeconds: ptr.To[int64](5),
			Containers: []corev1.Container{{
				Name:  "main",
				Image: testImage + ":v1",
				Args:  []string{secretDir + "/password", configDir + "/mode", tokenPath + "/namespace", tokenPath + "/token", "/etc/hosts", "/etc/resolv.conf", "$(T_LITERAL)"},
				Env: []corev1.EnvVar{
					{Name: "T_LITERAL", Value: "/literal"},
					{Name: "T_EXPANDED", Value: "x-$(T_LITERAL)-$$(T_LITERAL)"},
					{Name: "T_POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "T_POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
					{Name: "T_POD_UID", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}}},
					{Name: "T_APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
					{Name: "T_NOTE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['note']"}}},
					{Name: "T_NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
					{Name: "T_SA", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.serviceAccountName"}}},
					{Name: "T_POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
					{Name: "T_HOST_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
					{Name: "T_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}},
					{Name: "T_MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "mode"}}},
					{Name: "T_MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
				},
				EnvFrom: []corev1.EnvFromSource{
					{Prefix: "T_CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}},
					{Prefix: "T_SEC_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
				},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "creds", MountPath: secretDir},
					{Name: "settings", MountPath: configDir},
					{Name: "token", MountPath: tokenPath},
				},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}}},
			}},
			Volumes: []corev1.Volume{
				{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
				{Name: "settings", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
				{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3600)}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
				}}}},
			},
		},
	}
	created, err := e.c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	running := waitPod(ctx, t, e.c, ns, pod.Name, "Running and Ready", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && podReady(p)
	})
	if running.Spec.NodeName != DefaultName {
		t.Errorf("pod bound to %q, want %q", running.Spec.NodeName, DefaultName)
	}
	ip, err := netip.ParseAddr(running.Status.PodIP)
	if err != nil || !podnet.PodRange.Contains(ip) || !e.net.PodCIDR().Contains(ip) {
		t.Errorf("podIP %q: want an address of %s (inside %s)", running.Status.PodIP, e.net.PodCIDR(), podnet.PodRange)
	}
	if len(running.Status.PodIPs) != 1 || running.Status.PodIPs[0].IP != running.Status.PodIP {
		t.Errorf("podIPs %v, want [%s]", running.Status.PodIPs, running.Status.PodIP)
	}
	if running.Status.HostIP != e.net.Gateway().String() {
		t.Errorf("hostIP %q, want %s", running.Status.HostIP, e.net.Gateway())
	}

	// The log through the API server and the kubelet API, as the
	// conformance suite reads it (sinceTime) and as kubectl does.
	out := waitLog(ctx, t, e.c, ns, pod.Name, "main", &metav1.Time{Time: start.Add(-time.Second)}, "READY")
	want := []string{
		"HOSTNAME reporter",
		"ENV T_LITERAL=/literal",
		"ENV T_EXPANDED=x-/literal-$(T_LITERAL)",
		"ENV T_POD_NAME=reporter",
		"ENV T_POD_NAMESPACE=" + ns,
		"ENV T_POD_UID=" + string(created.UID),
		"ENV T_APP=reporter",
		"ENV T_NOTE=hello",
		"ENV T_NODE=" + DefaultName,
		"ENV T_SA=reporter",
		"ENV T_POD_IP=" + running.Status.PodIP,
		"ENV T_HOST_IP=" + e.net.Gateway().String(),
		"ENV T_PASSWORD=s3cret",
		"ENV T_MODE=fast",
		"ENV T_MEM=64",
		"ENV T_CM_mode=fast",
		"ENV T_CM_level=3",
		"ENV T_SEC_token=tok-1",
		`FILE ` + secretDir + `/password "s3cret"`,
		`FILE ` + configDir + `/mode "fast"`,
		`FILE ` + tokenPath + `/namespace "` + ns + `"`,
		`FILE ` + tokenPath + `/token "ey`, // a JWT from the TokenRequest API
		"FILE /literal error",
		`FILE /etc/resolv.conf "# edgeway local node\nnameserver 10.0.0.10\nsearch ` + ns + `.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"`,
		"ENV KUBERNETES_SERVICE_HOST=" + kubeSvc.Spec.ClusterIP,
		"ENV KUBERNETES_SERVICE_PORT=443",
		"ENV LINKED_SERVICE_HOST=" + linked.Spec.ClusterIP,
		"ENV LINKED_SERVICE_PORT_WEB=8000",
		"ENV LINKED_PORT_8000_TCP=tcp://" + linked.Spec.ClusterIP + ":8000",
	}
	for _, w := range want {
		if !hasLine(out, w) {
			t.Errorf("container output lacks %q; output:\n%s", w, out)
		}
	}
	if !strings.Contains(out, running.Status.PodIP+`\treporter`) {
		t.Errorf("container's /etc/hosts does not map its hostname to its pod IP; output:\n%s", out)
	}
	kubectl, err := kubebin.Path("kubectl")
	if err != nil {
		t.Fatal(err)
	}
	kout, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", e.s.Kubeconfig, "-n", ns, "logs", pod.Name, "--tail=1").CombinedOutput()
	if err != nil || strings.TrimSpace(string(kout)) != "READY" {
		t.Errorf("kubectl logs --tail=1: %v: %q, want READY", err, kout)
	}

	// Inside the pod only: the host has none of those paths.
	for _, p := range []string{secretDir, "/run/secrets", "/etc/edgeway-node-test"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists on the host: the node must create mount points inside the pod's mount namespace only", p)
		}
	}
	pid := 0
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "PID "); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid == 0 {
		t.Fatalf("no PID line in output:\n%s", out)
	}
	pn, err := e.net.Pod(ns + "/reporter/" + string(created.UID))
	if err != nil || pn == nil {
		t.Fatalf("podnet has no pod for %s/reporter: %v", ns, err)
	}

	testKubeletAPIHostOnly(t, e, pn, ns+"/reporter")

	// Deletion: SIGTERM (the process prints TERM and exits), then the pod
	// object goes, the process is gone and the network namespace freed.
	if err := e.c.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(ctx, t, e.c, ns, pod.Name)
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("process %d of the deleted pod still runs", pid)
	}
	if p, err := e.net.Pod(pn.Name); err != nil || p != nil {
		t.Errorf("podnet still has the deleted pod's network: %+v, %v", p, err)
	}
	if _, err := os.Lstat(pn.NetnsPath); err == nil {
		t.Errorf("network namespace %s still exists", pn.NetnsPath)
	}
}

func testUnmappedImage(ctx context.Context, t *testing.T, e *env) {
	ns := "unmapped"
	createNamespace(ctx, t, e.c, ns)
	image := "registry.example/nothing-here:1.0"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stuck", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
	if _, err := e.c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var ev corev1.Event
	deadline := time.Now().Add(time.Minute)
	for {
		list, err := e.c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", pod.Name).String()})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, x := range list.Items {
			if x.Type == corev1.EventTypeWarning && strings.Contains(x.Message, image) {
				ev, found = x, true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Warning event naming image %s; events: %+v", image, list.Items)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, known := range []string{testImage, shellImage} {
		if !strings.Contains(ev.Message, known) {
			t.Errorf("event %q does not list known image %s", ev.Message, known)
		}
	}
	got := waitPod(ctx, t, e.c, ns, pod.Name, "waiting with ErrImagePull", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
			p.Status.ContainerStatuses[0].State.Waiting.Reason == "ErrImagePull"
	})
	if got.Status.Phase != corev1.PodPending {
		t.Errorf("phase %s, want Pending", got.Status.Phase)
	}
	if err := e.c.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(ctx, t, e.c, ns, pod.Name)
}

func testRestarts(ctx context.Context, t *testing.T, e *env) {
	ns := "restarts"
	createNamespace(ctx, t, e.c, ns)
	sh := func(name string, policy corev1.RestartPolicy, script string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.PodSpec{
				RestartPolicy:                 policy,
				TerminationGracePeriodSeconds: ptr.To[int64](1),
				Containers:                    []corev1.Container{{Name: "sh", Image: shellImage, Command: []string{"/bin/sh", "-c", script}}},
			},
		}
	}
	for _, p := range []*corev1.Pod{
		sh("fails", corev1.RestartPolicyNever, "echo failing; exit 3"),
		sh("succeeds", corev1.RestartPolicyOnFailure, "echo done"),
		sh("crashes", corev1.RestartPolicyAlways, "echo run; exit 1"),
	} {
		if _, err := e.c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	failed := waitPod(ctx, t, e.c, ns, "fails", "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if cs := failed.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode != 3 {
		t.Errorf("container statuses %+v: want terminated with exit code 3", cs)
	}
	waitPod(ctx, t, e.c, ns, "succeeds", "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	waitPod(ctx, t, e.c, ns, "crashes", "restarted", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	prev, err := e.c.CoreV1().Pods(ns).GetLogs("crashes", &corev1.PodLogOptions{Previous: true}).DoRaw(ctx)
	if err != nil || strings.TrimSpace(string(prev)) != "run" {
		t.Errorf("previous log of the crashing container: %v: %q, want \"run\"", err, prev)
	}
	for _, name := range []string{"fails", "succeeds", "crashes"} {
		if err := e.c.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"fails", "succeeds", "crashes"} {
		waitGone(ctx, t, e.c, ns, name)
	}
}

func createNamespace(ctx context.Context, t *testing.T, c kubernetes.Interface, ns string) {
	t.Helper()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// waitPod polls the pod until ok, failing the test after a minute.
func waitPod(ctx context.Context, t *testing.T, c kubernetes.Interface, ns, name, what string, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last *corev1.Pod
	for time.Now().Before(deadline) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ok(p) {
			return p
		}
		last = p
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("pod %s/%s not %s after a minute; status: %+v", ns, name, what, last.Status)
	return nil
}

func waitGone(ctx context.Context, t *testing.T, c kubernetes.Interface, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		_, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("pod %s/%s still exists a minute after deletion", ns, name)
}

// waitLog reads the container's log through the API server until it
// contains marker.
func waitLog(ctx context.Context, t *testing.T, c kubernetes.Interface, ns, pod, container string, since *metav1.Time, marker string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last string
	var lastErr error
	for time.Now().Before(deadline) {
		rc, err := c.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container, SinceTime: since}).Stream(ctx)
		if err == nil {
			b, rerr := io.ReadAll(rc)
			rc.Close()
			last, err = string(b), rerr
			if hasLine(last, marker) {
				return last
			}
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("log of %s/%s/%s has no %q line after a minute (last error %v); log:\n%s", ns, pod, container, marker, lastErr, last)
	return ""
}

func hasLine(out, prefix string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// testKubeletAPIHostOnly: the host reads the kubelet API; a pod is refused.
func testKubeletAPIHostOnly(t *testing.T, e *env, pn *podnet.Pod, podKey string) {
	addr := net.JoinHostPort(e.net.Gateway().String(), strconv.Itoa(DefaultKubeletPort))
	get := func(conn net.Conn) string {
		tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true}) // the node's self-signed certificate
		defer tc.Close()
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(tc, "GET /pods HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tc)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if resp := get(conn); !strings.HasPrefix(resp, "HTTP/1.1 200") || !strings.Contains(resp, `"name":"reporter"`) {
		t.Errorf("GET /pods from the host: %.300s", resp)
	}
	var podConn net.Conn
	if err := pn.Do(func() error {
		var err error
		podConn, err = net.Dial("tcp", addr) // a socket of the pod's namespace
		return err
	}); err != nil {
		t.Fatalf("dial the kubelet API from pod %s: %v", podKey, err)
	}
	if resp := get(podConn); !strings.HasPrefix(resp, "HTTP/1.1 403") {
		t.Errorf("GET /pods from pod %s: %.300s, want 403", podKey, resp)
	}
}

// testDeployment: with kube-controller-manager, a Deployment's Pods run
// here, become Ready, and their IPs land in the Service's EndpointSlice;
// they answer on those IPs; deleting the Deployment removes them and their
// networks.
func testDeployment(ctx context.Context, t *testing.T, e *env) {
	e.s.StartControllerManager(t)
	ns := "deploy"
	createNamespace(ctx, t, e.c, ns)
	labels := map[string]string{"app": "echo"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](5),
					Containers: []corev1.Container{{
						Name: "echo", Image: testImage + ":v1",
						Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}},
					}},
				},
			},
		},
	}
	if _, err := e.c.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: ns},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	if _, err := e.c.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var ips []string
	deadline := time.Now().Add(time.Minute)
	for {
		ips = nil
		slices, err := e.c.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=echo"})
		if err != nil {
			t.Fatal(err)
		}
		for _, sl := range slices.Items {
			for _, ep := range sl.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
					ips = append(ips, ep.Addresses...)
				}
			}
		}
		if len(ips) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Service echo has ready endpoints %v after a minute, want 2 pod IPs", ips)
		}
		time.Sleep(200 * time.Millisecond)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil || !e.net.PodCIDR().Contains(a) {
			t.Errorf("endpoint %q is not in the pod network %s", ip, e.net.PodCIDR())
			continue
		}
		resp, err := hc.Get("http://" + net.JoinHostPort(ip, "8080") + "/")
		if err != nil {
			t.Errorf("GET pod %s: %v", ip, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET pod %s: %s", ip, resp.Status)
		}
	}
	if err := e.c.AppsV1().Deployments(ns).Delete(ctx, "echo", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(time.Minute)
	for {
		pods, err := e.c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pods of the deleted Deployment remain after a minute", len(pods.Items))
		}
		time.Sleep(200 * time.Millisecond)
	}
	all, err := e.net.Pods()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if strings.HasPrefix(p.Name, ns+"/") {
			t.Errorf("pod network %s (%s) remains after its Pod was deleted", p.Name, p.IP)
		}
	}
}

// waitServiceCached waits until the node's informer has the Service (pods
// created earlier would start without its variables, as with a kubelet).
func waitServiceCached(t *testing.T, n *Node, svc *corev1.Service) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := n.services.Services(svc.Namespace).Get(svc.Name); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node's informer has no Service %s/%s after 30 s", svc.Namespace, svc.Name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
