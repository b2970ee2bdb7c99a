package apiserver

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/kubebin"
	edgewayv1alpha1 "github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

// One server for the whole package: each start costs seconds of the 2
// shared cores.
func TestAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver (and may build them)")
	}
	s := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("version", func(t *testing.T) {
		dc, err := discovery.NewDiscoveryClientForConfig(s.Config)
		if err != nil {
			t.Fatal(err)
		}
		v, err := dc.ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		if v.GitVersion != "v1.37.1" {
			t.Errorf("server version %q, want v1.37.1", v.GitVersion)
		}
	})
	t.Run("kubeconfig", func(t *testing.T) {
		kubectl, err := kubebin.Path("kubectl")
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", s.Kubeconfig,
			"get", "crd", "gateways.gateway.networking.k8s.io", "-o", "name").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "customresourcedefinition.apiextensions.k8s.io/gateways.gateway.networking.k8s.io" {
			t.Errorf("kubectl get crd with %s: %v\n%s", s.Kubeconfig, err, out)
		}
	})
	t.Run("gateway defaults", func(t *testing.T) { testGatewayDefaults(ctx, t, s.Client) })
	t.Run("httproute defaults", func(t *testing.T) { testHTTPRouteDefaults(ctx, t, s.Client) })
	t.Run("serviceentry", func(t *testing.T) { testServiceEntry(ctx, t, s.Client) })
	t.Run("gateway CEL", func(t *testing.T) { testGatewayCEL(ctx, t, s.Client) })
	t.Run("edgewayconfig", func(t *testing.T) { testEdgewayConfig(ctx, t, s.Client) })
	t.Run("controller manager", func(t *testing.T) { testControllerManager(ctx, t, s) })
	t.Run("loopback only", func(t *testing.T) {
		if !strings.HasPrefix(s.Config.Host, "https://127.0.0.1:") {
			t.Errorf("server at %s, want https://127.0.0.1:<port>", s.Config.Host)
		}
		if _, err := os.Stat(s.Kubeconfig); err != nil {
			t.Error(err)
		}
	})
}

func testGatewayDefaults(ctx context.Context, t *testing.T, c client.Client) {
	gw := &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gw"},
		Spec: gatewayv1.GatewaySpec{
			GatewayClassName: "edgeway",
			Listeners:        []gatewayv1.Listener{{Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType}},
		},
	}
	if err := c.Create(ctx, gw); err != nil {
		t.Fatal(err)
	}
	got := &gatewayv1.Gateway{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(gw), got); err != nil {
		t.Fatal(err)
	}
	// The CRD's status default: a new Gateway says Pending until a
	// controller writes its own conditions.
	conds := map[string]string{}
	for _, c := range got.Status.Conditions {
		conds[c.Type] = string(c.Status) + "/" + c.Reason
	}
	for _, typ := range []string{"Accepted", "Programmed"} {
		if conds[typ] != "Unknown/Pending" {
			t.Errorf("new Gateway condition %s = %q, want Unknown/Pending (CRD default); all: %v", typ, conds[typ], conds)
		}
	}
	if got.Spec.Listeners[0].AllowedRoutes == nil || got.Spec.Listeners[0].AllowedRoutes.Namespaces == nil ||
		*got.Spec.Listeners[0].AllowedRoutes.Namespaces.From != gatewayv1.NamespacesFromSame {
		t.Errorf("listener allowedRoutes = %+v, want the CRD default namespaces.from Same", got.Spec.Listeners[0].AllowedRoutes)
	}
}

func testHTTPRouteDefaults(ctx context.Context, t *testing.T, c client.Client) {
	port := gatewayv1.PortNumber(8080)
	rt := &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "rt"},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "gw"}}},
			Rules: []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{{
				BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "svc", Port: &port}},
			}}}},
		},
	}
	if err := c.Create(ctx, rt); err != nil {
		t.Fatal(err)
	}
	got := &gatewayv1.HTTPRoute{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(rt), got); err != nil {
		t.Fatal(err)
	}
	pr := got.Spec.ParentRefs[0]
	if pr.Group == nil || *pr.Group != gatewayv1.GroupName || pr.Kind == nil || *pr.Kind != "Gateway" {
		t.Errorf("parentRef = %+v, want defaulted group %s kind Gateway", pr, gatewayv1.GroupName)
	}
	r := got.Spec.Rules[0]
	if len(r.Matches) != 1 || r.Matches[0].Path == nil || *r.Matches[0].Path.Type != gatewayv1.PathMatchPathPrefix || *r.Matches[0].Path.Value != "/" {
		t.Errorf("rule matches = %+v, want the CRD default PathPrefix /", r.Matches)
	}
	if b := r.BackendRefs[0]; b.Weight == nil || *b.Weight != 1 || b.Kind == nil || *b.Kind != "Service" {
		t.Errorf("backendRef = %+v, want defaulted weight 1 kind Service", b.BackendRef)
	}
}

func testServiceEntry(ctx context.Context, t *testing.T, c client.Client) {
	se := &istionetworkingv1.ServiceEntry{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "ext"},
	}
	se.Spec.Hosts = []string{"api.example.com"}
	se.Spec.Ports = []*networkingv1alpha3.ServicePort{{Number: 443, Name: "https", Protocol: "TLS"}}
	se.Spec.Resolution = networkingv1alpha3.ServiceEntry_DNS
	if err := c.Create(ctx, se); err != nil {
		t.Fatal(err)
	}
	got := &istionetworkingv1.ServiceEntry{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(se), got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Resolution != networkingv1alpha3.ServiceEntry_DNS || len(got.Spec.Ports) != 1 || got.Spec.Ports[0].Number != 443 {
		t.Errorf("ServiceEntry read back as %v", &got.Spec)
	}
	// The Istio CRD's CEL rule: an endpoint needs an address or a network.
	bad := &istionetworkingv1.ServiceEntry{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "bad"}}
	bad.Spec.Hosts = []string{"bad.example.com"}
	bad.Spec.Ports = []*networkingv1alpha3.ServicePort{{Number: 80, Name: "http", Protocol: "HTTP"}}
	bad.Spec.Resolution = networkingv1alpha3.ServiceEntry_STATIC
	bad.Spec.Endpoints = []*networkingv1alpha3.WorkloadEntry{{Ports: map[string]uint32{"http": 8080}}}
	err := c.Create(ctx, bad)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "Address is required") {
		t.Errorf("endpoint without address: err = %v, want Invalid with %q", err, "Address is required")
	}
}

// edgeway's own CRD comes from charts/edgeway/crds, and NewScheme knows it.
func testEdgewayConfig(ctx context.Context, t *testing.T, c client.Client) {
	replicas := int32(3)
	cfg := &edgewayv1alpha1.EdgewayConfig{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "cfg"},
		Spec:       edgewayv1alpha1.EdgewayConfigSpec{Replicas: &replicas, ImagePullPolicy: corev1.PullNever},
	}
	if err := c.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	got := &edgewayv1alpha1.EdgewayConfig{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(cfg), got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Replicas == nil || *got.Spec.Replicas != 3 || got.Spec.ImagePullPolicy != corev1.PullNever {
		t.Errorf("EdgewayConfig read back as %+v", got.Spec)
	}
	bad := &edgewayv1alpha1.EdgewayConfig{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "bad"},
		Spec:       edgewayv1alpha1.EdgewayConfigSpec{ImagePullPolicy: "Sometimes"},
	}
	if err := c.Create(ctx, bad); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.imagePullPolicy") {
		t.Errorf("imagePullPolicy Sometimes: err = %v, want Invalid naming spec.imagePullPolicy", err)
	}
}

func testGatewayCEL(ctx context.Context, t *testing.T, c client.Client) {
	host := gatewayv1.Hostname("tcp.example.com")
	gw := &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "invalid"},
		Spec: gatewayv1.GatewaySpec{
			GatewayClassName: "edgeway",
			Listeners: []gatewayv1.Listener{
				{Name: "a", Port: 80, Protocol: gatewayv1.HTTPProtocolType},
				{Name: "a", Port: 9000, Protocol: gatewayv1.TCPProtocolType, Hostname: &host},
			},
		},
	}
	err := c.Create(ctx, gw)
	if !apierrors.IsInvalid(err) {
		t.Fatalf("create invalid Gateway: err = %v, want Invalid", err)
	}
	for _, msg := range []string{
		"Listener name must be unique within the Gateway",
		"hostname must not be specified for protocols ['TCP', 'UDP']",
	} {
		if !strings.Contains(err.Error(), msg) {
			t.Errorf("error %q does not name the CEL rule %q", err, msg)
		}
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(gw), &gatewayv1.Gateway{}); !apierrors.IsNotFound(err) {
		t.Errorf("rejected Gateway was stored: get err = %v", err)
	}
}

// The controller manager turns a Deployment into a ReplicaSet and collects
// it once its owner (a Gateway, as the infrastructure part does) is deleted.
func testControllerManager(ctx context.Context, t *testing.T, s *Server) {
	s.StartControllerManager(t)
	c := s.Client
	owner := &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "owner"},
		Spec: gatewayv1.GatewaySpec{
			GatewayClassName: "edgeway",
			Listeners:        []gatewayv1.Listener{{Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType}},
		},
	}
	if err := c.Create(ctx, owner); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "owned"}
	yes := true
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "owned", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: gatewayv1.GroupVersion.String(), Kind: "Gateway", Name: owner.Name, UID: owner.UID,
			Controller: &yes, BlockOwnerDeletion: &yes,
		}}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.invalid/none"}}},
			},
		},
	}
	if err := c.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var rs appsv1.ReplicaSetList
		if err := c.List(ctx, &rs, client.InNamespace("default"), client.MatchingLabels(labels)); err != nil {
			return false, err
		}
		return len(rs.Items) == 1, nil
	})
	if err != nil {
		t.Fatalf("no ReplicaSet for the Deployment: %v", err)
	}
	if err := c.Delete(ctx, owner); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(dep), &appsv1.Deployment{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if err != nil {
		t.Fatalf("Deployment not garbage collected after its Gateway was deleted: %v", err)
	}
}
