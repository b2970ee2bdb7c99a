package meshegresscluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/cluster"
	"github.com/edgeway/edgeway/conformance/kubebin"
)

// env is the running cluster and its clients, shared by the scenarios.
type env struct {
	c       *cluster.Cluster
	kube    kubernetes.Interface
	gw      client.Client // Gateway API objects
	dyn     dynamic.Interface
	kubectl string
}

func newEnv(t *testing.T, c *cluster.Cluster) *env {
	t.Helper()
	kubectl, err := kubebin.Path("kubectl")
	if err != nil {
		t.Fatal(err)
	}
	cfg := *c.REST
	cfg.QPS, cfg.Burst = 50, 100 // the test polls several objects at once
	scheme := runtime.NewScheme()
	if err := gwv1.Install(scheme); err != nil {
		t.Fatal(err)
	}
	gw, err := client.New(&cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &env{c: c, kube: kubernetes.NewForConfigOrDie(&cfg), gw: gw, dyn: dynamic.NewForConfigOrDie(&cfg), kubectl: kubectl}
}

// apply server-side applies YAML documents, as a user does with kubectl.
func (e *env) apply(t *testing.T, yaml string) {
	t.Helper()
	cmd := exec.Command(e.kubectl, "--kubeconfig", e.c.Kubeconfig, "apply", "--server-side", "--field-manager", "meshegresscluster", "-f", "-")
	cmd.Stdin = strings.NewReader(yaml)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s\n--- the manifests:\n%s", err, out.String(), yaml)
	}
}

// secret creates a Secret (binary data is easier here than in YAML).
func (e *env) secret(t *testing.T, ns, name string, typ corev1.SecretType, data map[string][]byte) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: typ, Data: data}
	if _, err := e.kube.CoreV1().Secrets(ns).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Secret %s/%s: %v", ns, name, err)
	}
}

// eventually retries fn until it returns nil or timeout passes (the
// controller, the node and the data planes converge asynchronously). The
// timeouts only turn a stuck cluster into a failure: on a loaded CI
// machine (make test runs packages in parallel) convergence may take far
// longer than the seconds it takes alone.
func eventually(t *testing.T, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so within %s: %v", what, timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// readyPodIP waits for the one Pod of ns matching selector to be Ready
// and returns its IP (in the cluster's pod network).
func (e *env) readyPodIP(t *testing.T, ns, selector string) string {
	t.Helper()
	_, ip := e.readyPod(t, ns, selector)
	return ip
}

// readyPod is readyPodIP with the Pod's name.
func (e *env) readyPod(t *testing.T, ns, selector string) (name, ip string) {
	t.Helper()
	eventually(t, 3*time.Minute, fmt.Sprintf("a Ready Pod %s in %s", selector, ns), func() error {
		pods, err := e.kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.PodIP != "" && podReady(&p) {
				name, ip = p.Name, p.Status.PodIP
				return nil
			}
		}
		return fmt.Errorf("%d Pods, none Ready with an IP", len(pods.Items))
	})
	return name, ip
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// gatewayAddress waits for the Gateway to be Programmed with an address
// (its LoadBalancer address, handed out by the cluster's service proxy).
func (e *env) gatewayAddress(t *testing.T, ns, name string) string {
	t.Helper()
	var addr string
	eventually(t, 3*time.Minute, fmt.Sprintf("Gateway %s/%s Programmed with an address", ns, name), func() error {
		g := &gwv1.Gateway{}
		if err := e.gw.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, g); err != nil {
			return err
		}
		c := meta.FindStatusCondition(g.Status.Conditions, string(gwv1.GatewayConditionProgrammed))
		if c == nil || c.Status != metav1.ConditionTrue || len(g.Status.Addresses) == 0 {
			return fmt.Errorf("conditions %v, addresses %v", g.Status.Conditions, g.Status.Addresses)
		}
		addr = g.Status.Addresses[0].Value
		return nil
	})
	return addr
}

var serviceEntries = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "serviceentries"}

// serviceEntryCondition returns the condition of type typ of a
// ServiceEntry's status, nil if it has none.
func (e *env) serviceEntryCondition(ns, name, typ string) (map[string]any, error) {
	u, err := e.dyn.Resource(serviceEntries).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			return m, nil
		}
	}
	return nil, nil
}

// response is what a request through a gateway got.
type response struct {
	status int
	header http.Header
	body   string
}

// httpClient never reuses a connection: each request sees the routing the
// data plane has now.
var httpClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get sends GET url with the Host header host.
func get(url, host string) (*response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Host = host
	res, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &response{status: res.StatusCode, header: res.Header, body: string(b)}, nil
}
