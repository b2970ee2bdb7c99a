package status

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestPassDoesNotWriteTheSnapshot: the Kubernetes source hands an object
// unchanged since the previous build to every later Snapshot as the same
// object (controller/source/kube copies.go), so the status writer, which
// reads each translation's Snapshot (Gateways for their infrastructure,
// routes and BackendTLSPolicies for stale entries of ours), must write
// nothing into it: it writes fresh objects it reads from the API server.
// One pass against a real kube-apiserver that writes a Gateway's status and
// removes our stale entries from a route and a policy no Gateway of ours
// uses any more, over a Snapshot of the objects as the API server returns
// them, compared with a second read of the same objects.
func TestPassDoesNotWriteTheSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver; not in -short")
	}
	api := apiserver.Start(t)
	c := api.Client
	ctx := context.Background()
	const ns, controller = "readonly", "edgeway.dev/test-status-readonly"
	ours := []gwv1.RouteParentStatus{{
		ParentRef: gwv1.ParentReference{Name: "web"}, ControllerName: controller,
		Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", LastTransitionTime: metav1.Now()}},
	}}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": "edge"}}},
		&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "readonly"}, Spec: gwv1.GatewayClassSpec{ControllerName: controller}},
		&gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", Labels: map[string]string{"app": "web"}},
			Spec: gwv1.GatewaySpec{GatewayClassName: "readonly", Listeners: []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}}}},
		&gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "attached"},
			Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "web"}}}, Hostnames: []gwv1.Hostname{"a.example.com"}}},
		// Once attached to web (our status entry stays), now to another
		// controller's Gateway: the pass removes our entry.
		&gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stale"},
			Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "elsewhere"}}}}},
		&gwv1.BackendTLSPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stale"},
			Spec: gwv1.BackendTLSPolicySpec{
				TargetRefs: []gwv1.LocalPolicyTargetReferenceWithSectionName{{LocalPolicyTargetReference: gwv1.LocalPolicyTargetReference{Kind: "Service", Name: "unused"}}},
				Validation: gwv1.BackendTLSPolicyValidation{Hostname: "unused.example.com", WellKnownCACertificates: ptrTo(gwv1.WellKnownCACertificatesSystem)},
			}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	stale := objs[4].(*gwv1.HTTPRoute)
	stale.Status.Parents = ours
	if err := c.Status().Update(ctx, stale); err != nil {
		t.Fatal(err)
	}
	policy := objs[5].(*gwv1.BackendTLSPolicy)
	policy.Status.Ancestors = []gwv1.PolicyAncestorStatus{{AncestorRef: ours[0].ParentRef, ControllerName: controller, Conditions: ours[0].Conditions}}
	if err := c.Status().Update(ctx, policy); err != nil {
		t.Fatal(err)
	}

	read := func() *snapshot.Snapshot {
		t.Helper()
		get := func(o client.Object) {
			t.Helper()
			if err := c.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
				t.Fatal(err)
			}
		}
		s := &snapshot.Snapshot{ControllerName: controller, IsolateGateways: true,
			Namespaces:         []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: ns}}},
			GatewayClasses:     []*gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "readonly"}}},
			Gateways:           []*gwv1.Gateway{{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}},
			HTTPRoutes:         []*gwv1.HTTPRoute{{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "attached"}}, {ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stale"}}},
			BackendTLSPolicies: []*gwv1.BackendTLSPolicy{{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stale"}}},
		}
		get(s.Namespaces[0])
		get(s.GatewayClasses[0])
		get(s.Gateways[0])
		get(s.HTTPRoutes[0])
		get(s.HTTPRoutes[1])
		get(s.BackendTLSPolicies[0])
		s.Sort()
		return s
	}
	snap, pristine := read(), read()
	if !reflect.DeepEqual(snap, pristine) {
		t.Fatal("two reads of the same objects differ; the comparison below would mean nothing")
	}
	_, statuses := gatewayapi.Translate(snap)
	w := NewWriter(Options{ControllerName: controller, Client: c, APIReader: c, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if err := w.pass(ctx, &Input{Snapshot: snap, Statuses: statuses}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(snap, pristine) {
		t.Fatal("the status pass changed the Snapshot")
	}
	// The pass did write: our stale entries are gone, web has a status.
	after := read()
	if len(after.HTTPRoutes[1].Status.Parents) != 0 || len(after.BackendTLSPolicies[0].Status.Ancestors) != 0 {
		t.Errorf("our stale entries were not removed: route %+v, policy %+v", after.HTTPRoutes[1].Status.Parents, after.BackendTLSPolicies[0].Status.Ancestors)
	}
	if len(after.Gateways[0].Status.Conditions) == 0 || len(after.HTTPRoutes[0].Status.Parents) == 0 {
		t.Errorf("the pass wrote no status on the Gateway or the attached route (%d writes)", w.Writes())
	}
}

func ptrTo[T any](v T) *T { return &v }
