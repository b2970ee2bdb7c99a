package infra_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/ca"
	"github.com/edgeway/edgeway/controller/infra"
	"github.com/edgeway/edgeway/controller/kubecontroller"
	"github.com/edgeway/edgeway/controller/source/kube"
	"github.com/edgeway/edgeway/controller/xds"
)

const (
	controllerName = "edgeway.dev/gateway-controller"
	controllerNS   = "edgeway-system"
	caSecret       = "edgeway-xds-ca"
)

func testLog() *slog.Logger {
	if os.Getenv("INFRA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// startController runs one controller replica (kubecontroller, as `edgeway
// controller` does) with secure xDS and provisioning installed.
func startController(t *testing.T, s *apiserver.Server, leafValidity time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := kubecontroller.New(ctx, kubecontroller.Config{
		RestConfig: s.Config, ControllerName: controllerName, XDSListener: lis,
		Debounce: 20 * time.Millisecond, Log: testLog(),
		Hooks: []func(*kubecontroller.Controller) error{func(c *kubecontroller.Controller) error {
			_, _, err := infra.Install(ctx, c, infra.InstallOptions{
				Options: infra.Options{
					ControllerName: controllerName, Image: "ghcr.io/edgeway/edgeway:test",
					XDSAddress: "edgeway-xds.edgeway-system.svc:18000", LeafValidity: leafValidity,
				},
				Namespace: controllerNS, CASecretName: caSecret,
				XDSDNSNames: ca.ServiceDNSNames("edgeway-xds", controllerNS, "cluster.local"),
				Log:         testLog(),
			})
			return err
		}},
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	})
}

func newClient(t *testing.T, s *apiserver.Server) client.Client {
	t.Helper()
	c, err := client.New(s.Config, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func create(ctx context.Context, t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ns(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// gatewayCondition returns the Gateway's condition of type typ.
func gatewayCondition(gw *gwv1.Gateway, typ gwv1.GatewayConditionType) *metav1.Condition {
	for i := range gw.Status.Conditions {
		if gw.Status.Conditions[i].Type == string(typ) {
			return &gw.Status.Conditions[i]
		}
	}
	return nil
}

// TestInfrastructure runs against one real kube-apiserver (and the
// garbage collector of a real kube-controller-manager) for the whole flow
// of a Gateway's infrastructure.
func TestInfrastructure(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, kube-apiserver and kube-controller-manager")
	}
	s := apiserver.Start(t)
	// The Deployment's Pods (unscheduled: no kubelet here) and the
	// disruption controller's view of them, for the budget's subtest.
	s.StartControllerManager(t, "garbage-collector-controller", "deployment-controller", "replicaset-controller", "disruption-controller")
	ctx := context.Background()
	c := newClient(t, s)

	replicas := int32(2)
	create(ctx, t, c, ns(controllerNS), ns("infra"), ns("team-a"),
		&schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "edge-critical"}, Value: 1000000},
		&v1alpha1.EdgewayConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "small"},
			Spec: v1alpha1.EdgewayConfigSpec{Replicas: &replicas, Service: &v1alpha1.ServiceConfig{
				Annotations: map[string]string{"lb.example.com/scheme": "internet-facing"}},
				Scheduling: &v1alpha1.SchedulingConfig{
					NodeSelector: map[string]string{"node-role.example.com/edge": "true"},
					Tolerations: []corev1.Toleration{{Key: "node-role.example.com/edge", Operator: corev1.TolerationOpExists,
						Effect: corev1.TaintEffectNoSchedule}},
					PriorityClassName: "edge-critical"}}},
		&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "edgeway"}, Spec: gwv1.GatewayClassSpec{
			ControllerName: controllerName,
			ParametersRef: &gwv1.ParametersReference{Group: "gateway.edgeway.dev", Kind: "EdgewayConfig",
				Namespace: ptr(gwv1.Namespace("infra")), Name: "small"}}},
	)
	startController(t, s, 0)

	gw := &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "edge"},
		Spec: gwv1.GatewaySpec{
			GatewayClassName: "edgeway",
			Infrastructure: &gwv1.GatewayInfrastructure{
				Labels:      map[gwv1.LabelKey]gwv1.LabelValue{"team": "a"},
				Annotations: map[gwv1.AnnotationKey]gwv1.AnnotationValue{"owner": "team-a@example.com"},
			},
			Listeners: []gwv1.Listener{
				{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80},
				{Name: "dns", Protocol: gwv1.UDPProtocolType, Port: 5353},
			},
		},
	}
	create(ctx, t, c, gw)
	key := func(name string) types.NamespacedName { return types.NamespacedName{Namespace: "team-a", Name: name} }

	var dep appsv1.Deployment
	var svc corev1.Service
	var sa corev1.ServiceAccount
	var sec corev1.Secret
	var pdb policyv1.PodDisruptionBudget
	objects := []struct {
		obj  client.Object
		name string
	}{{&dep, "edge-edgeway"}, {&svc, "edge-edgeway"}, {&sa, "edge-edgeway"}, {&sec, "edge-edgeway-xds"}, {&pdb, "edge-edgeway"}}

	t.Run("objects owned by the Gateway", func(t *testing.T) {
		for _, o := range objects {
			eventually(t, fmt.Sprintf("%T %s", o.obj, o.name), func() error { return c.Get(ctx, key(o.name), o.obj) })
			refs := o.obj.GetOwnerReferences()
			if len(refs) != 1 || refs[0].UID != gw.UID || refs[0].Kind != "Gateway" || refs[0].APIVersion != "gateway.networking.k8s.io/v1" ||
				refs[0].Controller == nil || !*refs[0].Controller || refs[0].BlockOwnerDeletion == nil || !*refs[0].BlockOwnerDeletion {
				t.Errorf("%T %s: owner references %+v, want the Gateway (uid %s) as controller, blocking deletion", o.obj, o.name, refs, gw.UID)
			}
			if l := o.obj.GetLabels(); l["team"] != "a" || l[infra.LabelGateway] != "edge" || l[infra.LabelManagedBy] != "edgeway" {
				t.Errorf("%T %s: labels %v", o.obj, o.name, l)
			}
			if a := o.obj.GetAnnotations(); a["owner"] != "team-a@example.com" {
				t.Errorf("%T %s: annotations %v", o.obj, o.name, a)
			}
			if !managedBy(o.obj, infra.FieldManager) {
				t.Errorf("%T %s: no server-side apply by field manager %q: %+v", o.obj, o.name, infra.FieldManager, o.obj.GetManagedFields())
			}
		}
		if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
			t.Errorf("replicas %v, want 2 from the EdgewayConfig", dep.Spec.Replicas)
		}
		if args := strings.Join(dep.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--node-id team-a/edge") ||
			!strings.Contains(args, "--xds-server edgeway-xds.edgeway-system.svc:18000") {
			t.Errorf("data plane args: %s", args)
		}
		if dep.Spec.Template.Labels["team"] != "a" || dep.Spec.Template.Annotations["owner"] == "" {
			t.Errorf("Pod template metadata: %+v", dep.Spec.Template.ObjectMeta)
		}
		var ports []string
		for _, p := range svc.Spec.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d/%s", p.Name, p.Port, p.Protocol))
		}
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || strings.Join(ports, ",") != "tcp-80:80/TCP,udp-5353:5353/UDP" {
			t.Errorf("Service %s %v", svc.Spec.Type, ports)
		}
		if svc.Annotations["lb.example.com/scheme"] != "internet-facing" {
			t.Errorf("Service annotations %v: the EdgewayConfig's are missing", svc.Annotations)
		}
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			t.Error("the data plane's ServiceAccount mounts a token")
		}
		if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || !sel.Matches(labels.Set(dep.Spec.Template.Labels)) ||
			pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.String() != "1" || pdb.Spec.MinAvailable != nil {
			t.Errorf("PodDisruptionBudget spec %+v: want maxUnavailable 1 over the Deployment's Pods (%v)", pdb.Spec, dep.Spec.Template.Labels)
		}
		pod := dep.Spec.Template.Spec
		if a := pod.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 ||
			a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey != corev1.LabelHostname {
			t.Errorf("Pod affinity %+v: want the Pods spread over nodes (preferred)", a)
		}
		if pod.NodeSelector["node-role.example.com/edge"] != "true" || len(pod.Tolerations) != 1 ||
			pod.Tolerations[0].Key != "node-role.example.com/edge" || pod.PriorityClassName != "edge-critical" {
			t.Errorf("Pod scheduling: nodeSelector %v, tolerations %+v, priorityClassName %q: want the EdgewayConfig's spec.scheduling",
				pod.NodeSelector, pod.Tolerations, pod.PriorityClassName)
		}
	})

	t.Run("xDS client certificate", func(t *testing.T) {
		var caSec corev1.Secret
		if err := c.Get(ctx, types.NamespacedName{Namespace: controllerNS, Name: caSecret}, &caSec); err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(caSec.Data[ca.KeyBundle]) || string(sec.Data["ca.crt"]) != string(caSec.Data[ca.KeyBundle]) {
			t.Fatal("the Gateway's ca.crt is not the CA's trust bundle")
		}
		leaf, err := ca.ParseCertificate(sec.Data["tls.crt"])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Fatal(err)
		}
		if id, err := xds.NodeIDFromCertificate(leaf); err != nil || id != "team-a/edge" {
			t.Fatalf("certificate identity %q, %v", id, err)
		}
	})

	t.Run("user edits of other fields survive, ours are restored", func(t *testing.T) {
		patch := []byte(`{"metadata":{"labels":{"user":"kept"}},"spec":{"replicas":5}}`)
		if err := c.Patch(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "edge-edgeway"}},
			client.RawPatch(types.MergePatchType, patch), client.FieldOwner("someone")); err != nil {
			t.Fatal(err)
		}
		eventually(t, "replicas back to 2, the user's label kept", func() error {
			if err := c.Get(ctx, key("edge-edgeway"), &dep); err != nil {
				return err
			}
			if *dep.Spec.Replicas != 2 || dep.Labels["user"] != "kept" {
				return fmt.Errorf("replicas %d, labels %v", *dep.Spec.Replicas, dep.Labels)
			}
			return nil
		})
	})

	t.Run("status.addresses from the load balancer", func(t *testing.T) {
		eventually(t, "Programmed=False AddressNotAssigned while the Service has no ingress", func() error {
			var g gwv1.Gateway
			if err := c.Get(ctx, key("edge"), &g); err != nil {
				return err
			}
			if p := gatewayCondition(&g, gwv1.GatewayConditionProgrammed); p == nil || p.Reason != string(gwv1.GatewayReasonAddressNotAssigned) ||
				!strings.Contains(p.Message, "team-a/edge-edgeway") {
				return fmt.Errorf("Programmed %+v", p)
			}
			return nil
		})
		// No cloud here: play the load balancer controller.
		patch := []byte(`{"status":{"loadBalancer":{"ingress":[{"ip":"198.18.0.10"},{"hostname":"lb.example.com"}]}}}`)
		if err := c.Status().Patch(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "edge-edgeway"}},
			client.RawPatch(types.MergePatchType, patch)); err != nil {
			t.Fatal(err)
		}
		eventually(t, "status.addresses", func() error {
			var g gwv1.Gateway
			if err := c.Get(ctx, key("edge"), &g); err != nil {
				return err
			}
			var got []string
			for _, a := range g.Status.Addresses {
				got = append(got, fmt.Sprintf("%s=%s", *a.Type, a.Value))
			}
			if strings.Join(got, ",") != "IPAddress=198.18.0.10,Hostname=lb.example.com" {
				return fmt.Errorf("addresses %v", got)
			}
			// No data plane ACKed: Programmed waits for it now, not for an address.
			if p := gatewayCondition(&g, gwv1.GatewayConditionProgrammed); p == nil || p.Reason == string(gwv1.GatewayReasonAddressNotAssigned) {
				return fmt.Errorf("Programmed %+v", p)
			}
			return nil
		})
	})

	t.Run("spec.infrastructure changes propagate", func(t *testing.T) {
		var g gwv1.Gateway
		if err := c.Get(ctx, key("edge"), &g); err != nil {
			t.Fatal(err)
		}
		g.Spec.Infrastructure.Labels["team"] = "b"
		if err := c.Update(ctx, &g); err != nil {
			t.Fatal(err)
		}
		for _, o := range objects {
			eventually(t, fmt.Sprintf("label team=b on %T", o.obj), func() error {
				if err := c.Get(ctx, key(o.name), o.obj); err != nil {
					return err
				}
				if o.obj.GetLabels()["team"] != "b" {
					return fmt.Errorf("labels %v", o.obj.GetLabels())
				}
				return nil
			})
		}
	})

	t.Run("an object of our name that is not ours is left alone", func(t *testing.T) {
		create(ctx, t, c, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "squat-edgeway"},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 1}}},
		}, &gwv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "squat"},
			Spec: gwv1.GatewaySpec{GatewayClassName: "edgeway",
				Listeners: []gwv1.Listener{{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 8080}}},
		})
		eventually(t, "Programmed=False NoResources", func() error {
			var g gwv1.Gateway
			if err := c.Get(ctx, key("squat"), &g); err != nil {
				return err
			}
			p := gatewayCondition(&g, gwv1.GatewayConditionProgrammed)
			if p == nil || p.Reason != string(gwv1.GatewayReasonNoResources) ||
				!strings.Contains(p.Message, "Service team-a/squat-edgeway exists but is not owned by this Gateway") {
				return fmt.Errorf("Programmed %+v", p)
			}
			return nil
		})
		var squat corev1.Service
		if err := c.Get(ctx, key("squat-edgeway"), &squat); err != nil {
			t.Fatal(err)
		}
		if len(squat.OwnerReferences) != 0 || len(squat.Spec.Ports) != 1 || squat.Spec.Ports[0].Port != 1 {
			t.Fatalf("the user's Service was changed: %+v", squat)
		}
		if err := c.Get(ctx, key("squat-edgeway"), &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
			t.Fatalf("a Deployment was created next to a Service that is not ours: %v", err)
		}
	})

	t.Run("ListenerSet ports join the Gateway's Service and the ListenerSet gets a status", func(t *testing.T) {
		same := gwv1.NamespacesFromSame
		shared := &gwv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "shared"},
			Spec: gwv1.GatewaySpec{
				GatewayClassName: "edgeway",
				AllowedListeners: &gwv1.AllowedListeners{Namespaces: &gwv1.ListenerNamespaces{From: &same}},
				Listeners:        []gwv1.Listener{{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80}},
			},
		}
		entry := func(name string, port gwv1.PortNumber) gwv1.ListenerEntry {
			return gwv1.ListenerEntry{Name: gwv1.SectionName(name), Protocol: gwv1.TCPProtocolType, Port: port}
		}
		set := func(namespace, name string, port gwv1.PortNumber) *gwv1.ListenerSet {
			return &gwv1.ListenerSet{
				ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
				Spec: gwv1.ListenerSetSpec{
					ParentRef: gwv1.ParentGatewayReference{Name: "shared", Namespace: ptr(gwv1.Namespace("team-a"))},
					Listeners: []gwv1.ListenerEntry{entry("db", port)},
				},
			}
		}
		// team-a's is allowed (from: Same), infra's is not: its port stays off the Service.
		create(ctx, t, c, shared, set("team-a", "db", 5432), set("infra", "cache", 6379))
		eventually(t, "the ListenerSet's port on the Service", func() error {
			var svc corev1.Service
			if err := c.Get(ctx, key("shared-edgeway"), &svc); err != nil {
				return err
			}
			var ports []string
			for _, p := range svc.Spec.Ports {
				ports = append(ports, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
			}
			if got := strings.Join(ports, ","); got != "80/TCP,5432/TCP" {
				return fmt.Errorf("Service ports %s, want 80/TCP,5432/TCP", got)
			}
			return nil
		})
		listenerSetAccepted := func(namespace, name string, want metav1.ConditionStatus, reason string) {
			eventually(t, fmt.Sprintf("ListenerSet %s/%s Accepted=%s %s", namespace, name, want, reason), func() error {
				var ls gwv1.ListenerSet
				if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &ls); err != nil {
					return err
				}
				for _, cd := range ls.Status.Conditions {
					if cd.Type == string(gwv1.ListenerSetConditionAccepted) && cd.Status == want && cd.Reason == reason && cd.ObservedGeneration == ls.Generation {
						return nil
					}
				}
				return fmt.Errorf("conditions %+v", ls.Status.Conditions)
			})
		}
		listenerSetAccepted("team-a", "db", metav1.ConditionTrue, string(gwv1.ListenerSetReasonAccepted))
		listenerSetAccepted("infra", "cache", metav1.ConditionFalse, string(gwv1.ListenerSetReasonNotAllowed))
		eventually(t, "the Gateway's attachedListenerSets", func() error {
			var g gwv1.Gateway
			if err := c.Get(ctx, key("shared"), &g); err != nil {
				return err
			}
			if g.Status.AttachedListenerSets == nil || *g.Status.AttachedListenerSets != 1 {
				return fmt.Errorf("attachedListenerSets %v, want 1", g.Status.AttachedListenerSets)
			}
			return nil
		})
	})

	t.Run("a listener on the data plane's admin port is refused and left off the Service", func(t *testing.T) {
		admin := gwv1.PortNumber(infra.ReservedPorts()[0].Port)
		create(ctx, t, c, &gwv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "squatter"},
			Spec: gwv1.GatewaySpec{GatewayClassName: "edgeway", Listeners: []gwv1.Listener{
				{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 8080},
				{Name: "metrics", Protocol: gwv1.HTTPProtocolType, Port: admin},
				{Name: "dns", Protocol: gwv1.UDPProtocolType, Port: admin},
			}},
		})
		eventually(t, "the metrics listener PortUnavailable, the others Accepted", func() error {
			var g gwv1.Gateway
			if err := c.Get(ctx, key("squatter"), &g); err != nil {
				return err
			}
			got := map[string]string{}
			for _, l := range g.Status.Listeners {
				if a := meta.FindStatusCondition(l.Conditions, string(gwv1.ListenerConditionAccepted)); a != nil && a.ObservedGeneration == g.Generation {
					got[string(l.Name)] = a.Reason + ": " + a.Message
				}
			}
			want := map[string]string{
				"http":    string(gwv1.ListenerReasonAccepted),
				"metrics": fmt.Sprintf("%s: spec.listeners[1].port: %d is taken by the data plane's admin server (/healthz, /ready, /metrics) in every Gateway Pod; use another port", gwv1.ListenerReasonPortUnavailable, admin),
				"dns":     string(gwv1.ListenerReasonAccepted),
			}
			for name, w := range want {
				if !strings.HasPrefix(got[name], w) {
					return fmt.Errorf("listener %s: Accepted %q, want it to start with %q", name, got[name], w)
				}
			}
			return nil
		})
		eventually(t, "the Service without the admin port's TCP", func() error {
			var svc corev1.Service
			var dep appsv1.Deployment
			if err := c.Get(ctx, key("squatter-edgeway"), &svc); err != nil {
				return err
			}
			if err := c.Get(ctx, key("squatter-edgeway"), &dep); err != nil {
				return err
			}
			var ports []string
			for _, p := range svc.Spec.Ports {
				ports = append(ports, fmt.Sprintf("%d/%s->%s", p.Port, p.Protocol, p.TargetPort.String()))
			}
			want := fmt.Sprintf("8080/TCP->8080,%d/UDP->%d", admin, admin)
			if got := strings.Join(ports, ","); got != want {
				return fmt.Errorf("Service ports %s, want %s", got, want)
			}
			var container []string
			for _, p := range dep.Spec.Template.Spec.Containers[0].Ports {
				container = append(container, fmt.Sprintf("%s=%d/%s", p.Name, p.ContainerPort, p.Protocol))
			}
			if got, want := strings.Join(container, ","), fmt.Sprintf("admin=%d/TCP,tcp-8080=8080/TCP,udp-%d=%d/UDP", admin, admin, admin); got != want {
				return fmt.Errorf("container ports %s, want %s", got, want)
			}
			return nil
		})
	})

	t.Run("NetworkPolicy follows the option and the routes", func(t *testing.T) {
		enabled := true
		cfg := &v1alpha1.EdgewayConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "locked"},
			Spec: v1alpha1.EdgewayConfigSpec{NetworkPolicy: &v1alpha1.NetworkPolicyConfig{Enabled: &enabled}}}
		locked := &gwv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "locked"},
			Spec: gwv1.GatewaySpec{GatewayClassName: "edgeway",
				Infrastructure: &gwv1.GatewayInfrastructure{ParametersRef: &gwv1.LocalParametersReference{
					Group: "gateway.edgeway.dev", Kind: "EdgewayConfig", Name: "locked"}},
				Listeners: []gwv1.Listener{{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 8081}}},
		}
		shop := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "shop"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "shop"},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
		create(ctx, t, c, cfg, shop, locked)

		// egress describes the egress rules: "<peer>:<ports>" each.
		egress := func(np *networkingv1.NetworkPolicy) string {
			var rules []string
			for _, r := range np.Spec.Egress {
				var peers, ports []string
				for _, p := range r.To {
					switch {
					case p.PodSelector != nil:
						peers = append(peers, metav1.FormatLabelSelector(p.PodSelector))
					case p.NamespaceSelector != nil:
						peers = append(peers, "ns "+metav1.FormatLabelSelector(p.NamespaceSelector))
					}
				}
				for _, p := range r.Ports {
					ports = append(ports, fmt.Sprintf("%s/%s", p.Port, *p.Protocol))
				}
				rules = append(rules, strings.Join(peers, "+")+":"+strings.Join(ports, "+"))
			}
			return strings.Join(rules, " ")
		}
		var np networkingv1.NetworkPolicy
		eventually(t, "the NetworkPolicy: listener port in, xDS and DNS out", func() error {
			if err := c.Get(ctx, key("locked-edgeway"), &np); err != nil {
				return err
			}
			if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].Ports) != 1 || np.Spec.Ingress[0].Ports[0].Port.IntVal != 8081 {
				return fmt.Errorf("ingress %+v", np.Spec.Ingress)
			}
			if got, want := egress(&np), "ns kubernetes.io/metadata.name=edgeway-system:18000/TCP k8s-app=kube-dns:53/UDP+53/TCP"; got != want {
				return fmt.Errorf("egress %s, want %s", got, want)
			}
			return nil
		})
		if refs := np.OwnerReferences; len(refs) != 1 || refs[0].UID != locked.UID || !managedBy(&np, infra.FieldManager) {
			t.Errorf("owner references %+v, managed fields %+v", refs, np.ManagedFields)
		}
		// Deleted by someone: the provisioner owns (watches) it and puts it back.
		if err := c.Delete(ctx, np.DeepCopy()); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the deleted NetworkPolicy recreated", func() error {
			var again networkingv1.NetworkPolicy
			if err := c.Get(ctx, key("locked-edgeway"), &again); err != nil {
				return err
			}
			if again.UID == np.UID {
				return fmt.Errorf("not deleted yet")
			}
			return nil
		})

		// The controller's xDS Service appears (the chart installs it): the
		// xDS rule narrows to its Pods and target port.
		create(ctx, t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: "edgeway-xds"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app.kubernetes.io/name": "edgeway"},
				Ports: []corev1.ServicePort{{Name: "xds", Port: 18000, TargetPort: intstr.FromString("xds")}}}})
		eventually(t, "the xDS rule on the xDS Service's Pods", func() error {
			if err := c.Get(ctx, key("locked-edgeway"), &np); err != nil {
				return err
			}
			if got := egress(&np); !strings.HasPrefix(got, "app.kubernetes.io/name=edgeway:xds/TCP ") {
				return fmt.Errorf("egress %s", got)
			}
			return nil
		})

		create(ctx, t, c, &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "shop"},
			Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "locked"}}},
				Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{
					BackendObjectReference: gwv1.BackendObjectReference{Name: "shop", Port: ptr(gwv1.PortNumber(80))}}}}}}}})
		eventually(t, "the route's backend in the NetworkPolicy", func() error {
			if err := c.Get(ctx, key("locked-edgeway"), &np); err != nil {
				return err
			}
			if got := egress(&np); !strings.HasSuffix(got, " app=shop:8080/TCP") {
				return fmt.Errorf("egress %s, want the shop Pods on 8080 last", got)
			}
			return nil
		})

		if err := c.Get(ctx, types.NamespacedName{Namespace: "team-a", Name: "locked"}, cfg); err != nil {
			t.Fatal(err)
		}
		*cfg.Spec.NetworkPolicy.Enabled = false
		if err := c.Update(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the NetworkPolicy deleted once the option is off", func() error {
			err := c.Get(ctx, key("locked-edgeway"), &networkingv1.NetworkPolicy{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("still there (%v)", err)
		})
		if err := c.Get(ctx, key("locked-edgeway"), &appsv1.Deployment{}); err != nil {
			t.Errorf("the Deployment should stay: %v", err)
		}
	})

	t.Run("a drain evicts the data plane Pods one at a time, and unready ones at once", func(t *testing.T) {
		// No kubelet here: the test plays it, marking the Deployment's Pods
		// running and ready, or not ready.
		podsOf := func() ([]corev1.Pod, error) {
			var list corev1.PodList
			if err := c.List(ctx, &list, client.InNamespace("team-a"), client.MatchingLabels(dep.Spec.Selector.MatchLabels)); err != nil {
				return nil, err
			}
			var live []corev1.Pod
			for _, p := range list.Items {
				if p.DeletionTimestamp.IsZero() {
					live = append(live, p)
				}
			}
			return live, nil
		}
		markReady := func(p *corev1.Pod, ready corev1.ConditionStatus) error {
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, LastTransitionTime: metav1.Now()}}
			return c.Status().Update(ctx, p)
		}
		podReady := func(p *corev1.Pod) bool {
			for _, cd := range p.Status.Conditions {
				if cd.Type == corev1.PodReady {
					return cd.Status == corev1.ConditionTrue
				}
			}
			return false
		}
		budget := func(what string, want func(policyv1.PodDisruptionBudgetStatus) bool) {
			t.Helper()
			eventually(t, what, func() error {
				var b policyv1.PodDisruptionBudget
				if err := c.Get(ctx, key("edge-edgeway"), &b); err != nil {
					return err
				}
				if b.Status.ObservedGeneration != b.Generation || !want(b.Status) {
					return fmt.Errorf("status %+v", b.Status)
				}
				return nil
			})
		}
		evict := func(p corev1.Pod) error {
			return c.SubResource("eviction").Create(ctx, &p, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name}})
		}

		// Ready as they come: the earlier subtests changed the Pod template,
		// and the rollout waits for each new Pod to be ready.
		var pods []corev1.Pod
		eventually(t, "the Deployment's 2 Pods, ready", func() (err error) {
			if pods, err = podsOf(); err != nil {
				return err
			}
			ready := 0
			for i := range pods {
				if podReady(&pods[i]) {
					ready++
				} else if err := markReady(&pods[i], corev1.ConditionTrue); err != nil {
					return err
				}
			}
			if len(pods) != 2 || ready != 2 {
				return fmt.Errorf("%d Pods, %d ready", len(pods), ready)
			}
			return nil
		})
		// The priority class was resolved by the API server's admission.
		if p := pods[0].Spec.Priority; p == nil || *p != 1000000 {
			t.Errorf("Pod priority %v, want 1000000 from PriorityClass edge-critical", p)
		}
		budget("the budget counting 2 healthy Pods, 1 disruption allowed", func(s policyv1.PodDisruptionBudgetStatus) bool {
			return s.ExpectedPods == 2 && s.CurrentHealthy == 2 && s.DesiredHealthy == 1 && s.DisruptionsAllowed == 1
		})
		if err := evict(pods[0]); err != nil {
			t.Fatalf("evicting the first Pod: %v", err)
		}
		err := evict(pods[1])
		if !apierrors.IsTooManyRequests(err) || !strings.Contains(err.Error(), "disruption budget") {
			t.Fatalf("evicting the second Pod while the first is gone: %v, want 429 for the disruption budget", err)
		}

		// The second Pod stops being ready (the first's replacement is not
		// ready either): a Pod that serves nothing must not hold a drain.
		if err := c.Get(ctx, client.ObjectKeyFromObject(&pods[1]), &pods[1]); err != nil {
			t.Fatal(err)
		}
		if err := markReady(&pods[1], corev1.ConditionFalse); err != nil {
			t.Fatal(err)
		}
		budget("the budget counting no healthy Pod", func(s policyv1.PodDisruptionBudgetStatus) bool {
			return s.CurrentHealthy == 0 && s.DisruptionsAllowed == 0
		})
		if err := evict(pods[1]); err != nil {
			t.Errorf("evicting an unready Pod: %v, want it allowed (unhealthyPodEvictionPolicy AlwaysAllow)", err)
		}
	})

	t.Run("garbage-collected with the Gateway", func(t *testing.T) {
		if err := c.Delete(ctx, &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "edge"}}); err != nil {
			t.Fatal(err)
		}
		for _, o := range objects {
			eventually(t, fmt.Sprintf("%T %s deleted", o.obj, o.name), func() error {
				err := c.Get(ctx, key(o.name), o.obj)
				if apierrors.IsNotFound(err) {
					return nil
				}
				return fmt.Errorf("still there (%v)", err)
			})
		}
	})
}

// TestClientCertificateRenewal: with a short lifetime the provisioner
// renews a Gateway's certificate after two thirds of it, in place.
func TestClientCertificateRenewal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	s := apiserver.Start(t)
	ctx := context.Background()
	c := newClient(t, s)
	create(ctx, t, c, ns(controllerNS), ns("team-a"),
		&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "edgeway"}, Spec: gwv1.GatewayClassSpec{ControllerName: controllerName}},
		&gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "edge"}, Spec: gwv1.GatewaySpec{GatewayClassName: "edgeway",
			Listeners: []gwv1.Listener{{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 8080}}}})
	startController(t, s, 6*time.Second)

	serials := map[string]bool{}
	eventually(t, "three certificates in turn", func() error {
		var sec corev1.Secret
		if err := c.Get(ctx, types.NamespacedName{Namespace: "team-a", Name: "edge-edgeway-xds"}, &sec); err != nil {
			return err
		}
		leaf, err := ca.ParseCertificate(sec.Data["tls.crt"])
		if err != nil {
			return err
		}
		if time.Now().After(leaf.NotAfter) {
			t.Fatalf("the Secret holds an expired certificate (not after %s)", leaf.NotAfter)
		}
		serials[leaf.SerialNumber.String()] = true
		if len(serials) < 3 {
			return fmt.Errorf("%d certificates seen", len(serials))
		}
		return nil
	})
}

func managedBy(obj client.Object, manager string) bool {
	return slices.ContainsFunc(obj.GetManagedFields(), func(m metav1.ManagedFieldsEntry) bool {
		return m.Manager == manager && m.Operation == metav1.ManagedFieldsOperationApply
	})
}

func ptr[T any](v T) *T { return &v }
