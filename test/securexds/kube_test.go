package securexds

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/ca"
	"github.com/edgeway/edgeway/controller/infra"
	"github.com/edgeway/edgeway/controller/kubecontroller"
	"github.com/edgeway/edgeway/controller/source/kube"
	"github.com/edgeway/edgeway/dataplane/config"
	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

// acceptAll is a data plane that takes every configuration (no sockets:
// this test is about who gets which configuration).
type acceptAll struct {
	mu        sync.Mutex
	listeners map[string]bool
}

func (a *acceptAll) Apply(_ string, c *config.Resources) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for n := range c.Listeners {
		a.listeners[n] = true
	}
	return nil
}

func (a *acceptAll) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.listeners)
}

// TestProvisionedCredentials: in a real API server, the controller
// provisions a Gateway's xDS Secret; a data plane using exactly that
// Secret's files connects over mTLS, gets its Gateway's configuration, and
// its ACK plus the load balancer's address make the Gateway Programmed.
// The same files cannot fetch another Gateway's configuration.
func TestProvisionedCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	s := apiserver.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.New(s.Config, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	const controllerName = "edgeway.dev/gateway-controller"
	gateway := func(ns, name string) *gwv1.Gateway {
		return &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: gwv1.GatewaySpec{
			GatewayClassName: "edgeway",
			Listeners:        []gwv1.Listener{{Name: "tcp", Protocol: gwv1.TCPProtocolType, Port: 7000}},
		}}
	}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "edgeway-system"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b"}},
		&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "edgeway"}, Spec: gwv1.GatewayClassSpec{ControllerName: controllerName}},
		gateway("team-a", "edge"), gateway("team-b", "other"),
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := kubecontroller.New(ctx, kubecontroller.Config{
		RestConfig: s.Config, ControllerName: controllerName, XDSListener: lis,
		Debounce: 20 * time.Millisecond, Log: quietLog(),
		Hooks: []func(*kubecontroller.Controller) error{func(k *kubecontroller.Controller) error {
			_, _, err := infra.Install(ctx, k, infra.InstallOptions{
				Options:   infra.Options{ControllerName: controllerName, Image: "edgeway:test", XDSAddress: serverName + ":18000"},
				Namespace: "edgeway-system", CASecretName: "edgeway-xds-ca",
				XDSDNSNames: ca.ServiceDNSNames("edgeway-xds", "edgeway-system", "cluster.local"),
				Log:         quietLog(),
			})
			return err
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ctl.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// The data plane's mounted Secret, as the kubelet would write it.
	dir := t.TempDir()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var sec corev1.Secret
		err := c.Get(ctx, types.NamespacedName{Namespace: "team-a", Name: infra.SecretName("edge")}, &sec)
		if err == nil {
			for _, k := range []string{"tls.crt", "tls.key", "ca.crt"} {
				writeFile(t, filepath.Join(dir, k), sec.Data[k])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no xDS Secret provisioned: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	files := xdsclient.TLSFiles{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"),
		CAFile: filepath.Join(dir, "ca.crt"), ServerName: serverName}

	run := func(node string) (*xdsclient.Client, *acceptAll) {
		h := &acceptAll{listeners: map[string]bool{}}
		creds, err := xdsclient.WithTLSFiles(files)
		if err != nil {
			t.Fatal(err)
		}
		cl := xdsclient.New(lis.Addr().String(), node, h, quietLog(), creds, xdsclient.WithBackoff(50*time.Millisecond, 300*time.Millisecond))
		cctx, ccancel := context.WithCancel(ctx)
		cdone := make(chan struct{})
		go func() { _ = cl.Run(cctx); close(cdone) }()
		t.Cleanup(func() { ccancel(); <-cdone })
		return cl, h
	}

	// Every type of the Gateway's configuration accepted (a listener
	// without routes has no socket yet, so what matters is the ACKs).
	own, _ := run("team-a/edge")
	eventually(t, "the Gateway's configuration over mTLS", 30*time.Second, func() bool { return len(own.Stats().AcceptedByType) == 5 })
	thief, thiefConfig := run("team-b/other")
	eventually(t, "another Gateway's node refused", 30*time.Second, func() bool {
		return strings.Contains(thief.Stats().LastError, `node id "team-b/other" does not match the client certificate, which is for "team-a/edge"`)
	})
	if thiefConfig.count() != 0 || thief.Stats().Accepted != 0 {
		t.Fatal("team-a's credentials fetched team-b's configuration")
	}

	// The load balancer assigns an address once the Service exists (the
	// provisioner writes the xDS Secret first, and the ACKs above can come
	// before its Service is applied); with the ACK the Gateway is Programmed.
	patch := []byte(`{"status":{"loadBalancer":{"ingress":[{"ip":"198.18.0.20"}]}}}`)
	var patchErr error
	eventually(t, "the Gateway's Service, to give it an address", 30*time.Second, func() bool {
		patchErr = c.Status().Patch(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: infra.ResourceName("edge")}},
			client.RawPatch(types.MergePatchType, patch))
		return !apierrors.IsNotFound(patchErr)
	})
	if patchErr != nil {
		t.Fatal(patchErr)
	}
	eventually(t, "Programmed=True with the load balancer's address", 30*time.Second, func() bool {
		var g gwv1.Gateway
		if err := c.Get(ctx, types.NamespacedName{Namespace: "team-a", Name: "edge"}, &g); err != nil {
			return false
		}
		programmed := false
		for _, cond := range g.Status.Conditions {
			if cond.Type == string(gwv1.GatewayConditionProgrammed) && cond.Status == metav1.ConditionTrue {
				programmed = true
			}
		}
		return programmed && len(g.Status.Addresses) == 1 && g.Status.Addresses[0].Value == "198.18.0.20"
	})
	if os.Getenv("SECUREXDS_LOG") != "" {
		fmt.Fprintln(os.Stderr, "stats:", own.Stats())
	}
}
