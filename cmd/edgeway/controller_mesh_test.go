package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/certs/mesh"
	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

// TestControllerMeshIdentity runs `edgeway controller` (mesh identities
// on, no infrastructure) against a real kube-apiserver: a Gateway whose
// class's EdgewayConfig names the mesh's cacerts Secret gets its workload
// certificate (MeshIdentityReady=True naming its SPIFFE ID) and its route
// to a Service of an injection-labelled namespace resolves; a Gateway
// without mesh identity gets MeshIdentityNotConfigured on its route; a
// broken cacerts Secret is reported on the Gateway (the source watches it).
func TestControllerMeshIdentity(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver; not in -short")
	}
	api := apiserver.Start(t)
	ctx := context.Background()
	c := api.Client
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "edgeway-system"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "edge"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"istio-injection": "enabled"}}},
	} {
		must(c.Create(ctx, ns))
	}
	cacerts, err := mesh.GenerateCACerts("controller test mesh", time.Now(), time.Hour)
	must(err)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "cacerts"}, Data: cacerts}
	must(c.Create(ctx, secret))
	must(c.Create(ctx, &v1alpha1.EdgewayConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "mesh"},
		Spec: v1alpha1.EdgewayConfigSpec{Mesh: &v1alpha1.MeshConfig{CASecretRef: &v1alpha1.MeshSecretRef{Name: "cacerts"}}}}))
	controllerName := "edgeway.dev/mesh-test"
	istioNS := gwv1.Namespace("istio-system")
	must(c.Create(ctx, &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "mesh"}, Spec: gwv1.GatewayClassSpec{ControllerName: gwv1.GatewayController(controllerName),
		ParametersRef: &gwv1.ParametersReference{Group: v1alpha1.GroupName, Kind: v1alpha1.KindEdgewayConfig, Name: "mesh", Namespace: &istioNS}}}))
	must(c.Create(ctx, &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "plain"}, Spec: gwv1.GatewayClassSpec{ControllerName: gwv1.GatewayController(controllerName)}}))
	all := gwv1.NamespacesFromAll
	for _, g := range []struct{ name, class string }{{"gw", "mesh"}, {"nomesh", "plain"}} {
		must(c.Create(ctx, &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "edge", Name: g.name}, Spec: gwv1.GatewaySpec{GatewayClassName: gwv1.ObjectName(g.class),
			Listeners: []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType, AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &all}}}}}}))
	}
	must(c.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "reviews"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 9080}}}}))
	portName, port := "http", int32(9080)
	must(c.Create(ctx, &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "reviews-1", Labels: map[string]string{"kubernetes.io/service-name": "reviews"}},
		AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"198.18.0.10"}}}}))
	for _, gw := range []string{"gw", "nomesh"} {
		edge := gwv1.Namespace("edge")
		p := gwv1.PortNumber(9080)
		must(c.Create(ctx, &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "via-" + gw}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: gwv1.ObjectName(gw), Namespace: &edge}}},
			Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "reviews", Port: &p}}}}}}}}))
	}

	prev := meshF.enabled
	meshF.enabled = true
	t.Cleanup(func() { meshF.enabled = prev })
	f := &controllerFlags{kubeconfig: api.Kubeconfig, controllerName: controllerName, xdsAddress: freeAddr(t), adminAddress: freeAddr(t),
		leaderElect: true, leaderElectionNamespace: "edgeway-system"}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- controller(cctx, f, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	})

	gatewayCondition := func(name, typ string) (metav1.Condition, error) {
		var gw gwv1.Gateway
		if err := c.Get(ctx, client.ObjectKey{Namespace: "edge", Name: name}, &gw); err != nil {
			return metav1.Condition{}, err
		}
		for _, cd := range gw.Status.Conditions {
			if cd.Type == typ {
				return cd, nil
			}
		}
		return metav1.Condition{}, fmt.Errorf("no %s condition in %+v", typ, gw.Status.Conditions)
	}
	routeResolvedRefs := func(name string) (metav1.Condition, error) {
		var r gwv1.HTTPRoute
		if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: name}, &r); err != nil {
			return metav1.Condition{}, err
		}
		for _, p := range r.Status.Parents {
			for _, cd := range p.Conditions {
				if cd.Type == string(gwv1.RouteConditionResolvedRefs) {
					return cd, nil
				}
			}
		}
		return metav1.Condition{}, fmt.Errorf("no ResolvedRefs in %+v", r.Status.Parents)
	}
	waitFor(t, "MeshIdentityReady=True on edge/gw", func() error {
		cd, err := gatewayCondition("gw", "gateway.edgeway.dev/MeshIdentityReady")
		if err != nil {
			return err
		}
		if cd.Status != metav1.ConditionTrue || !strings.Contains(cd.Message, "spiffe://cluster.local/ns/edge/sa/gw-edgeway") {
			return fmt.Errorf("%+v", cd)
		}
		return nil
	})
	waitFor(t, "route via gw resolved", func() error {
		cd, err := routeResolvedRefs("via-gw")
		if err == nil && cd.Status != metav1.ConditionTrue {
			err = fmt.Errorf("%+v", cd)
		}
		return err
	})
	waitFor(t, "route via nomesh refused", func() error {
		cd, err := routeResolvedRefs("via-nomesh")
		if err == nil && (cd.Status != metav1.ConditionFalse || cd.Reason != "MeshIdentityNotConfigured") {
			err = fmt.Errorf("%+v", cd)
		}
		return err
	})

	// A broken cacerts Secret: the source watches it and the Gateway says so.
	must(c.Get(ctx, client.ObjectKeyFromObject(secret), secret))
	delete(secret.Data, mesh.KeyCAKey)
	must(c.Update(ctx, secret))
	waitFor(t, "InvalidCASecret on edge/gw", func() error {
		cd, err := gatewayCondition("gw", "gateway.edgeway.dev/MeshIdentityReady")
		if err == nil && (cd.Status != metav1.ConditionFalse || cd.Reason != "InvalidCASecret" || !strings.Contains(cd.Message, "key ca-key.pem is missing")) {
			err = fmt.Errorf("%+v", cd)
		}
		return err
	})
}
