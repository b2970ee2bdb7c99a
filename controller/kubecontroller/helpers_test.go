package kubecontroller

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/dataplane/config"
	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

func testLog(t *testing.T) *slog.Logger {
	if os.Getenv("EDGEWAY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// running is one controller replica started by a test.
type running struct {
	*Controller
	xdsAddr string
	cancel  context.CancelFunc
	done    chan error
	once    sync.Once
}

// stop ends the replica (its Lease is released) and waits for it; once.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("controller: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("controller did not stop within 30s")
		}
	})
}

// startController runs a replica on loopback until the test ends.
func startController(t *testing.T, cfg *rest.Config, mutate func(*Config)) *running {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := Config{
		RestConfig:     rest.CopyConfig(cfg),
		XDSListener:    lis,
		ControllerName: controllerName(t),
		Log:            testLog(t),
	}
	if mutate != nil {
		mutate(&c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ctrl, err := New(ctx, c)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := &running{Controller: ctrl, xdsAddr: lis.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- ctrl.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// controllerName is unique per test, so that tests sharing one API server
// never serve each other's GatewayClasses.
func controllerName(t *testing.T) string {
	return fmt.Sprintf("edgeway.dev/test-%x", fnv(t.Name()))
}

func fnv(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// dataplane connects an xDS client as node "<ns>/<gw>" that accepts
// everything, until the test ends.
type dataplane struct {
	client *xdsclient.Client
	mu     sync.Mutex
	last   *config.Resources
}

func (d *dataplane) Apply(_ string, c *config.Resources) error {
	d.mu.Lock()
	d.last = c
	d.mu.Unlock()
	return nil
}

func (d *dataplane) clusters() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	if d.last != nil {
		for name := range d.last.Clusters {
			out = append(out, name)
		}
	}
	return out
}

func connectDataplane(t *testing.T, addr, node string) *dataplane {
	t.Helper()
	d := &dataplane{}
	d.client = xdsclient.New(addr, node, d, testLog(t), xdsclient.WithBackoff(50*time.Millisecond, 200*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.client.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

// eventually retries check until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v: %v", what, timeout, err)
}

func create(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s/%s: %v", o, o.GetNamespace(), o.GetName(), err)
		}
	}
}

func namespace(t *testing.T, c client.Client, name string) string {
	t.Helper()
	create(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	return name
}

func gatewayClass(name, controller string) *gwv1.GatewayClass {
	return &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: gwv1.GatewayClassSpec{ControllerName: gwv1.GatewayController(controller)}}
}

func gateway(ns, name, class string, port int32) *gwv1.Gateway {
	all := gwv1.NamespacesFromAll
	return &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: gwv1.GatewaySpec{GatewayClassName: gwv1.ObjectName(class), Listeners: []gwv1.Listener{{
			Name: "http", Port: gwv1.PortNumber(port), Protocol: gwv1.HTTPProtocolType,
			AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &all}},
		}}},
	}
}

func httpRoute(ns, name string, parents []gwv1.ParentReference, backendNS, backend string) *gwv1.HTTPRoute {
	ref := gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(backend), Port: ptr.To(gwv1.PortNumber(80))}}}
	if backendNS != "" && backendNS != ns {
		ref.Namespace = ptr.To(gwv1.Namespace(backendNS))
	}
	return &gwv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parents},
			Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{ref}}},
		},
	}
}

func parentRef(ns, name string) gwv1.ParentReference {
	return gwv1.ParentReference{Namespace: ptr.To(gwv1.Namespace(ns)), Name: gwv1.ObjectName(name)}
}

// service is a Service with one ready endpoint (198.18.0.0/15: accepted by
// EndpointSlice validation, routed nowhere).
func service(ns, name, ip string) []client.Object {
	return []client.Object{
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}},
		&discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Port: ptr.To(int32(80))}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		},
	}
}

func condition(cs []metav1.Condition, typ string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == typ {
			return &cs[i]
		}
	}
	return nil
}

func wantCondition(cs []metav1.Condition, typ string, status metav1.ConditionStatus, reason string) error {
	c := condition(cs, typ)
	switch {
	case c == nil:
		return fmt.Errorf("no %s condition in %+v", typ, cs)
	case c.Status != status || (reason != "" && c.Reason != reason):
		return fmt.Errorf("%s is %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
	return nil
}
