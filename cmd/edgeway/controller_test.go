package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestControllerCommand runs `edgeway controller`'s wiring against a real
// kube-apiserver with its kubeconfig file, leader election in a namespace
// and without infrastructure: /healthz, /ready once translated, /metrics
// with the translation counter, and the GatewayClass accepted.
func TestControllerCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver; not in -short")
	}
	api := apiserver.Start(t)
	ns := "edgeway-system"
	f := &controllerFlags{
		kubeconfig:              api.Kubeconfig,
		controllerName:          "edgeway.dev/cmd-test",
		xdsAddress:              freeAddr(t),
		adminAddress:            freeAddr(t),
		leaderElect:             true,
		leaderElectionNamespace: ns,
	}
	if err := api.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- controller(ctx, f, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	})

	admin := "http://" + f.adminAddress
	waitFor(t, "ready", func() error {
		body, err := httpGet(admin + "/ready")
		if err != nil {
			return err
		}
		if !strings.Contains(body, "ready") {
			return fmt.Errorf("/ready: %q", body)
		}
		return nil
	})
	if body, err := httpGet(admin + "/healthz"); err != nil || !strings.Contains(body, "ok") {
		t.Errorf("/healthz: %q %v", body, err)
	}
	gc := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "cmd-test"}, Spec: gwv1.GatewayClassSpec{ControllerName: gwv1.GatewayController(f.controllerName)}}
	if err := api.Client.Create(context.Background(), gc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "GatewayClass accepted", func() error {
		if err := api.Client.Get(context.Background(), client.ObjectKeyFromObject(gc), gc); err != nil {
			return err
		}
		for _, c := range gc.Status.Conditions {
			if c.Type == "Accepted" && c.Status == metav1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", gc.Status.Conditions)
	})
	body, err := httpGet(admin + "/metrics")
	if err != nil || !strings.Contains(body, "edgeway_controller_translations_total") || !strings.Contains(body, "leader_election_master_status") {
		t.Errorf("/metrics lacks the translation counter or leader election: %v\n%.2000s", err, body)
	}
}

func httpGet(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(b), err
}

func waitFor(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within 30s: %v", what, err)
}
