package infra_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

// TestStaticAddresses walks the steps of the conformance test
// GatewayStaticAddresses against a real kube-apiserver, playing the load
// balancer that reads the EdgewayConfig's address annotation: an
// unsupported address type refuses the Gateway; an IP the load balancer
// does not give keeps it from being Programmed (AddressNotUsable); once
// spec.addresses names only what the load balancer gave, that is the
// Gateway's address. The addresses are only written into objects: 192.0.2.10
// is TEST-NET-1 (RFC 5737), 198.18.15.254 the benchmarking range.
func TestStaticAddresses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	const annotation = "lb.example.com/load-balancer-ips"
	const unusable, usable = "192.0.2.10", "198.18.15.254"
	s := apiserver.Start(t)
	ctx := context.Background()
	c := newClient(t, s)
	create(ctx, t, c, ns(controllerNS), ns("infra"), ns("team-a"),
		&v1alpha1.EdgewayConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "lb"},
			Spec: v1alpha1.EdgewayConfigSpec{Service: &v1alpha1.ServiceConfig{AddressAnnotation: annotation}}},
		&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "edgeway"}, Spec: gwv1.GatewayClassSpec{
			ControllerName: controllerName,
			ParametersRef: &gwv1.ParametersReference{Group: "gateway.edgeway.dev", Kind: "EdgewayConfig",
				Namespace: ptr(gwv1.Namespace("infra")), Name: "lb"}}},
	)
	startController(t, s, 0)

	fake, ipType := gwv1.AddressType("test/fake-invalid-type"), gwv1.IPAddressType
	gwKey := types.NamespacedName{Namespace: "team-a", Name: "static"}
	svcKey := types.NamespacedName{Namespace: "team-a", Name: "static-edgeway"}
	create(ctx, t, c, &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: gwKey.Namespace, Name: gwKey.Name},
		Spec: gwv1.GatewaySpec{GatewayClassName: "edgeway",
			Addresses: []gwv1.GatewaySpecAddress{{Type: &fake, Value: "fake address"}, {Value: unusable}, {Type: &ipType, Value: usable}},
			Listeners: []gwv1.Listener{{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 8080}}},
	})
	setAddresses := func(t *testing.T, values ...string) {
		t.Helper()
		var g gwv1.Gateway
		if err := c.Get(ctx, gwKey, &g); err != nil {
			t.Fatal(err)
		}
		orig := g.DeepCopy()
		g.Spec.Addresses = nil
		for _, v := range values {
			g.Spec.Addresses = append(g.Spec.Addresses, gwv1.GatewaySpecAddress{Type: &ipType, Value: v})
		}
		if err := c.Patch(ctx, &g, client.MergeFrom(orig)); err != nil {
			t.Fatal(err)
		}
	}
	// condition waits for the Gateway's current generation to have the
	// condition with the reason and a message containing substr.
	condition := func(t *testing.T, typ gwv1.GatewayConditionType, status metav1.ConditionStatus, reason gwv1.GatewayConditionReason, substr string) {
		t.Helper()
		eventually(t, fmt.Sprintf("%s=%s %s", typ, status, reason), func() error {
			var g gwv1.Gateway
			if err := c.Get(ctx, gwKey, &g); err != nil {
				return err
			}
			cond := gatewayCondition(&g, typ)
			if cond == nil || cond.ObservedGeneration != g.Generation || cond.Status != status || cond.Reason != string(reason) ||
				!strings.Contains(cond.Message, substr) {
				return fmt.Errorf("generation %d: %s %+v", g.Generation, typ, cond)
			}
			return nil
		})
	}
	serviceAsks := func(t *testing.T, want string) {
		t.Helper()
		eventually(t, "the Service asks the load balancer for "+want, func() error {
			var svc corev1.Service
			if err := c.Get(ctx, svcKey, &svc); err != nil {
				return err
			}
			if got := svc.Annotations[annotation]; got != want {
				return fmt.Errorf("annotation %s = %q", annotation, got)
			}
			return nil
		})
	}

	t.Run("an unsupported address type refuses the Gateway", func(t *testing.T) {
		condition(t, gwv1.GatewayConditionAccepted, metav1.ConditionFalse, gwv1.GatewayReasonUnsupportedAddress, `"test/fake-invalid-type" is not supported`)
	})

	t.Run("an IP the load balancer does not give is AddressNotUsable", func(t *testing.T) {
		setAddresses(t, unusable, usable)
		condition(t, gwv1.GatewayConditionAccepted, metav1.ConditionTrue, gwv1.GatewayReasonAccepted, "")
		serviceAsks(t, unusable+","+usable)
		condition(t, gwv1.GatewayConditionProgrammed, metav1.ConditionFalse, gwv1.GatewayReasonAddressNotAssigned,
			"the load balancer has given the Service team-a/static-edgeway none of "+unusable+", "+usable)
		// The load balancer gives the one it can.
		patch := []byte(`{"status":{"loadBalancer":{"ingress":[{"ip":"` + usable + `"}]}}}`)
		if err := c.Status().Patch(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: svcKey.Namespace, Name: svcKey.Name}},
			client.RawPatch(types.MergePatchType, patch)); err != nil {
			t.Fatal(err)
		}
		condition(t, gwv1.GatewayConditionProgrammed, metav1.ConditionFalse, gwv1.GatewayReasonAddressNotUsable, "did not get "+unusable)
	})

	t.Run("the usable address alone is the Gateway's address", func(t *testing.T) {
		setAddresses(t, usable)
		serviceAsks(t, usable)
		eventually(t, "status.addresses is the usable address and Programmed no longer waits for an address", func() error {
			var g gwv1.Gateway
			if err := c.Get(ctx, gwKey, &g); err != nil {
				return err
			}
			if len(g.Status.Addresses) != 1 || g.Status.Addresses[0].Value != usable || g.Status.Addresses[0].Type == nil || *g.Status.Addresses[0].Type != ipType {
				return fmt.Errorf("status.addresses %+v", g.Status.Addresses)
			}
			// No data plane runs here: Programmed waits for its ACK now.
			p := gatewayCondition(&g, gwv1.GatewayConditionProgrammed)
			if p == nil || p.ObservedGeneration != g.Generation || p.Reason != string(gwv1.GatewayReasonPending) {
				return fmt.Errorf("Programmed %+v", p)
			}
			return nil
		})
	})
}
