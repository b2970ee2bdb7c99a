package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
)

// TestControllerInfrastructureFlags runs `edgeway controller` with the
// infrastructure flags as the Helm chart passes them: the CA Secret appears
// in --namespace, and a Gateway's data plane dials the --xds-service.
func TestControllerInfrastructureFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver; not in -short")
	}
	api := apiserver.Start(t)
	ctx := context.Background()
	for _, ns := range []string{"gw-system", "team-a"} {
		if err := api.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	saved := infraF
	t.Cleanup(func() { infraF = saved })
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	infraF.register(fs)
	if err := fs.Parse([]string{"--namespace=gw-system", "--xds-service=gw-xds", "--xds-service-port=18443",
		"--xds-ca-secret=gw-xds-ca", "--dataplane-image=registry.example.com/edgeway:1.2.3"}); err != nil {
		t.Fatal(err)
	}
	f := &controllerFlags{kubeconfig: api.Kubeconfig, controllerName: "edgeway.dev/cmd-infra-test",
		xdsAddress: freeAddr(t), adminAddress: freeAddr(t)}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- controller(cctx, f, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	})

	gc := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "cmd-infra"}, Spec: gwv1.GatewayClassSpec{ControllerName: gwv1.GatewayController(f.controllerName)}}
	gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "edge"}, Spec: gwv1.GatewaySpec{
		GatewayClassName: "cmd-infra", Listeners: []gwv1.Listener{{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80}}}}
	if err := api.Client.Create(ctx, gc); err != nil {
		t.Fatal(err)
	}
	if err := api.Client.Create(ctx, gw); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the CA Secret in --namespace", func() error {
		return api.Client.Get(ctx, types.NamespacedName{Namespace: "gw-system", Name: "gw-xds-ca"}, &corev1.Secret{})
	})
	waitFor(t, "the data plane Deployment", func() error {
		var dep appsv1.Deployment
		if err := api.Client.Get(ctx, types.NamespacedName{Namespace: "team-a", Name: "edge-edgeway"}, &dep); err != nil {
			return err
		}
		c := dep.Spec.Template.Spec.Containers[0]
		if args := strings.Join(c.Args, " "); !strings.Contains(args, "--xds-server gw-xds.gw-system.svc:18443") {
			return fmt.Errorf("args %s", args)
		}
		if c.Image != "registry.example.com/edgeway:1.2.3" {
			return fmt.Errorf("image %s", c.Image)
		}
		return nil
	})
}
