package chart_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/conformance/kubebin"
	edgewayv1alpha1 "github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// checkControllerRuns runs the real `edgeway controller` with the arguments of the installed
// Deployment and the installed ServiceAccount's own token (TokenRequest, as the kubelet mounts
// it), so with exactly the chart's RBAC and admission policy: it must elect itself, accept the
// class, write Gateway and route status and provision a Gateway's infrastructure without a
// single "forbidden". This is what "least privilege" has to survive.
func checkControllerRuns(t *testing.T, srv *apiserver.Server) {
	t.Helper()
	ctx, admin := context.Background(), srv.Client

	var dep appsv1.Deployment
	must(t, admin.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "edgeway"}, &dep))
	args := localArgs(t, dep.Spec.Template.Spec.Containers[0].Args)
	args = append(args, "--kubeconfig", serviceAccountKubeconfig(t, srv, dep.Spec.Template.Spec.ServiceAccountName))

	bin := buildEdgeway(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "POD_NAMESPACE="+namespace, "POD_NAME=edgeway-chart-test", "KUBECONFIG=")
	var log syncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	must(t, cmd.Start())
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	stop := func() {
		select {
		case <-exited:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("controller (exit: %v) log:\n%s", exitErr, log.String())
		}
	})

	// A Gateway of the chart's class with a route, in a namespace of its own.
	const ns = "team-b"
	must(t, admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	must(t, admin.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "echo"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 8080}}}}))
	// An ACME listener whose issuer's directory does not answer (a closed loopback port): the
	// leader reads the ACMEIssuer, fails to reach the CA, and reports it in a state Secret and
	// a Gateway event, all with the chart's permissions.
	must(t, admin.Create(ctx, &edgewayv1alpha1.ACMEIssuer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unreachable"},
		Spec:       edgewayv1alpha1.ACMEIssuerSpec{DirectoryURL: "https://127.0.0.1:" + closedPort(t) + "/directory", TermsOfServiceAgreed: true},
	}))
	gw := &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"},
		Spec: gatewayv1.GatewaySpec{GatewayClassName: "edgeway", Listeners: []gatewayv1.Listener{{
			Name: "http", Protocol: gatewayv1.HTTPProtocolType, Port: 80,
		}, {
			Name: "https", Protocol: gatewayv1.HTTPSProtocolType, Port: 443, Hostname: ptr.To(gatewayv1.Hostname("shop.acme.test")),
			TLS: &gatewayv1.ListenerTLSConfig{
				CertificateRefs: []gatewayv1.SecretObjectReference{{Name: "shop-tls"}},
				Options:         map[gatewayv1.AnnotationKey]gatewayv1.AnnotationValue{edgewayv1alpha1.ACMEListenerOption: "unreachable"},
			},
		}}},
	}
	must(t, admin.Create(ctx, gw))
	port := gatewayv1.PortNumber(8080)
	must(t, admin.Create(ctx, &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "shop"}}},
			Rules: []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{
				BackendObjectReference: gatewayv1.BackendObjectReference{Name: "echo", Port: &port}}}}}},
		},
	}))

	eventually(t, exited, "the controller to hold the leader Lease", func() error {
		var leases coordinationv1.LeaseList
		if err := admin.List(ctx, &leases, client.InNamespace(namespace)); err != nil {
			return err
		}
		for _, l := range leases.Items {
			if strings.HasPrefix(l.Name, "edgeway-controller-") && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
				return nil
			}
		}
		return fmt.Errorf("%d Leases, none held by an edgeway controller", len(leases.Items))
	})
	eventually(t, exited, "GatewayClass edgeway Accepted", func() error {
		var gc gatewayv1.GatewayClass
		if err := admin.Get(ctx, types.NamespacedName{Name: "edgeway"}, &gc); err != nil {
			return err
		}
		return conditionTrue(gc.Status.Conditions, "Accepted")
	})
	eventually(t, exited, "Gateway team-b/shop Accepted", func() error {
		var g gatewayv1.Gateway
		if err := admin.Get(ctx, client.ObjectKeyFromObject(gw), &g); err != nil {
			return err
		}
		return conditionTrue(g.Status.Conditions, "Accepted")
	})
	eventually(t, exited, "HTTPRoute team-b/shop status from edgeway", func() error {
		var r gatewayv1.HTTPRoute
		if err := admin.Get(ctx, types.NamespacedName{Namespace: ns, Name: "shop"}, &r); err != nil {
			return err
		}
		for _, p := range r.Status.Parents {
			if p.ControllerName == "edgeway.dev/gateway-controller" {
				return conditionTrue(p.Conditions, "Accepted")
			}
		}
		return fmt.Errorf("no status entry of edgeway in %+v", r.Status.Parents)
	})
	// The provisioned infrastructure, controlled by the Gateway (server-side applied through the
	// admission policy), and the CA.
	for _, o := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.ServiceAccount{}, &corev1.Secret{}} {
		name := "shop-edgeway"
		if _, ok := o.(*corev1.Secret); ok {
			name = "shop-edgeway-xds"
		}
		eventually(t, exited, fmt.Sprintf("%T %s/%s", o, ns, name), func() error {
			if err := admin.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, o); err != nil {
				return err
			}
			if ref := metav1.GetControllerOf(o); ref == nil || ref.Kind != "Gateway" || ref.Name != "shop" {
				return fmt.Errorf("not controlled by the Gateway: %+v", o.GetOwnerReferences())
			}
			return nil
		})
	}
	must(t, admin.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "edgeway-xds-ca"}, &corev1.Secret{}))
	// The cloud load balancer's part: an address for the Gateway (ACME orders only for a Gateway
	// the CA could reach).
	must(t, admin.Status().Patch(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-edgeway"}},
		client.RawPatch(types.MergePatchType, []byte(`{"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.1"}]}}}`))))

	eventually(t, exited, "the ACME state Secret of shop-tls reporting the failure", func() error {
		var sec corev1.Secret
		if err := admin.Get(ctx, types.NamespacedName{Namespace: ns, Name: snapshot.ACMEStateSecretName("shop-tls")}, &sec); err != nil {
			return err
		}
		st, err := snapshot.DecodeACMEState(&sec)
		if err != nil {
			return err
		}
		if st.Phase != snapshot.ACMEFailed {
			return fmt.Errorf("state %+v", st)
		}
		return nil
	})
	eventually(t, exited, "a Warning event on Gateway team-b/shop", func() error {
		var list eventsv1.EventList
		if err := admin.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Regarding.Kind == "Gateway" && e.Regarding.Name == "shop" && e.Type == corev1.EventTypeWarning {
				return nil
			}
		}
		return fmt.Errorf("%d events in %s, no Warning on the Gateway", len(list.Items), ns)
	})

	stop()
	if m := forbidden.FindAllString(log.String(), 5); len(m) > 0 {
		t.Errorf("the controller was refused requests with the chart's permissions: %q", m)
	}
}

// closedPort is a loopback port nothing listens on (bound, then closed).
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// forbidden matches what client-go and the admission policy say when a request is refused.
var forbidden = regexp.MustCompile(`(?i)[^"\n]{0,160}(forbidden|may only write)[^"\n]{0,160}`)

// localArgs are the Deployment's arguments with the listeners moved to free loopback ports.
func localArgs(t *testing.T, args []string) []string {
	t.Helper()
	out := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "--xds-address="):
			out = append(out, "--xds-address=127.0.0.1:0")
		case strings.HasPrefix(a, "--admin-address="):
			out = append(out, "--admin-address=127.0.0.1:0")
		default:
			out = append(out, a)
		}
	}
	if len(out) == 0 || out[0] != "controller" {
		t.Fatalf("Deployment args %v do not run the controller", args)
	}
	return out
}

// serviceAccountKubeconfig writes a kubeconfig with a token of the ServiceAccount, issued by
// the API server's TokenRequest API, as a Pod of the Deployment would get it.
func serviceAccountKubeconfig(t *testing.T, srv *apiserver.Server, sa string) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(srv.Config)
	must(t, err)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(context.Background(), sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}}, metav1.CreateOptions{})
	must(t, err)
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: srv.Config.Host, CertificateAuthorityData: srv.Config.CAData}
	cfg.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["sa"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "sa", Namespace: namespace}
	cfg.CurrentContext = "sa"
	p := filepath.Join(t.TempDir(), "kubeconfig")
	must(t, clientcmd.WriteToFile(*cfg, p))
	return p
}

// buildEdgeway builds cmd/edgeway (the image's binary) from this checkout.
func buildEdgeway(t *testing.T) string {
	t.Helper()
	root, err := kubebin.RepoRoot()
	must(t, err)
	path := filepath.Join(t.TempDir(), "edgeway")
	cmd := exec.Command("go", "build", "-o", path, "./cmd/edgeway")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/edgeway: %v\n%s", err, out)
	}
	return path
}

func conditionTrue(conds []metav1.Condition, typ string) error {
	c := apimeta.FindStatusCondition(conds, typ)
	if c == nil || c.Status != metav1.ConditionTrue {
		return fmt.Errorf("%s: %+v", typ, c)
	}
	return nil
}

// eventually retries f for up to 90 s; it gives up at once when running (the controller's
// exit channel) is closed.
func eventually(t *testing.T, running <-chan struct{}, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		select {
		case <-running:
			t.Fatalf("waiting for %s: the controller exited (%v)", what, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// syncBuffer collects the controller's output from its two pipes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
