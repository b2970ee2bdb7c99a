package acmekube

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgeway/edgeway/test/testport"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/infra"
	"github.com/edgeway/edgeway/dataplane/config"
	"github.com/edgeway/edgeway/dataplane/proxy"
	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

// The controller's namespace and the names the chart would give it.
const (
	systemNamespace = "edgeway-system"
	xdsService      = "edgeway-xds"
)

// freePort is a loopback port to name before its listener starts, one the
// kernel gives to no port-0 bind (testport).
func freePort(t *testing.T) int {
	t.Helper()
	p, err := testport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// eventually retries check until it returns nil; it fails the test with the
// last error after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = check(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// controllerProcess is one running `edgeway controller` (the -race binary).
type controllerProcess struct {
	xdsAddr, adminAddr string
	logs               *syncBuffer
}

// startController runs `edgeway controller` against the API server with
// leader election and the infrastructure flags the chart passes, on
// loopback ports, until the test ends; it waits for /ready.
func startController(t *testing.T, api *apiserver.Server, controllerName string) *controllerProcess {
	t.Helper()
	p := &controllerProcess{
		xdsAddr:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		adminAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		logs:      &syncBuffer{},
	}
	cmd := exec.Command(edgewayBin, "controller",
		"--kubeconfig", api.Kubeconfig,
		"--controller-name", controllerName,
		"--xds-address", p.xdsAddr,
		"--admin-address", p.adminAddr,
		"--leader-elect=true", "--leader-election-namespace", systemNamespace,
		"--namespace", systemNamespace, "--xds-service", xdsService,
		"--log-level", "debug")
	cmd.Env = append(os.Environ(), "KUBECONFIG=", "POD_NAMESPACE=", "POD_NAME=acmekube-controller")
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("edgeway controller exited: %v", err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("edgeway controller did not stop within 30s of SIGTERM")
		}
		if t.Failed() || os.Getenv("ACMEKUBE_LOG") != "" {
			t.Logf("edgeway controller logs:\n%s", p.logs.String())
		}
		if strings.Contains(p.logs.String(), "WARNING: DATA RACE") {
			t.Errorf("data race in edgeway controller")
		}
	})
	eventually(t, 60*time.Second, "edgeway controller /ready", func() error {
		select {
		case err := <-exited:
			t.Fatalf("edgeway controller exited: %v\n%s", err, p.logs.String())
		default:
		}
		_, err := httpGet("http://" + p.adminAddr + "/ready")
		return err
	})
	return p
}

func httpGet(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s: %s: %s", url, resp.Status, b)
	}
	return string(b), err
}

// applyYAML creates every object of a multi-document YAML, as
// `kubectl create -f` would.
func applyYAML(t *testing.T, c client.Client, manifests string) {
	t.Helper()
	for _, doc := range strings.Split(manifests, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := sigsyaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		if err := c.Create(context.Background(), u); err != nil {
			t.Fatalf("create %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
}

// startDataplane runs the data plane of Gateway ns/name: the real xDS
// client and proxy, connecting over mutual TLS with exactly the files of
// the Secret the controller provisioned for that Gateway (as the kubelet
// would mount them), verifying the xDS server as <xds-service>.<ns>.svc.
//
// It runs in the test process rather than as `edgeway dataplane`, for one
// reason: in Kubernetes mode every listener binds 0.0.0.0 inside its Pod,
// and this test stays on loopback, so the listeners it receives are bound
// to 127.0.0.1 instead (loopbackListeners); nothing else differs from the
// dataplane command.
func startDataplane(t *testing.T, c client.Client, xdsAddr, ns, name string) *xdsclient.Client {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	eventually(t, 60*time.Second, "the Gateway's provisioned xDS Secret", func() error {
		var sec corev1.Secret
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: infra.SecretName(name)}, &sec); err != nil {
			return err
		}
		for _, k := range []string{"tls.crt", "tls.key", "ca.crt"} {
			if len(sec.Data[k]) == 0 {
				return fmt.Errorf("no %s yet", k)
			}
			if err := os.WriteFile(filepath.Join(dir, k), sec.Data[k], 0o600); err != nil {
				return err
			}
		}
		return nil
	})
	creds, err := xdsclient.WithTLSFiles(xdsclient.TLSFiles{
		CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), CAFile: filepath.Join(dir, "ca.crt"),
		ServerName: xdsService + "." + systemNamespace + ".svc",
	})
	if err != nil {
		t.Fatal(err)
	}
	log := testLog("dataplane")
	dp := proxy.New(log.With("component", "proxy"))
	cl := xdsclient.New(xdsAddr, ns+"/"+name, loopbackListeners{dp}, log.With("component", "xds-client"), creds,
		xdsclient.WithBackoff(50*time.Millisecond, 500*time.Millisecond))
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = cl.Run(cctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
		defer scancel()
		_ = dp.Shutdown(sctx)
	})
	return cl
}

// loopbackListeners hands the proxy every listener bound to 127.0.0.1
// where the controller says 0.0.0.0 (a Pod's wildcard address).
type loopbackListeners struct{ next config.Handler }

func (l loopbackListeners) Apply(typeURL string, c *config.Resources) error {
	out := *c
	out.Listeners = make(map[string]*listenerv3.Listener, len(c.Listeners))
	for name, lis := range c.Listeners {
		lis = proto.Clone(lis).(*listenerv3.Listener)
		if sa := lis.GetAddress().GetSocketAddress(); sa != nil && sa.GetAddress() == "0.0.0.0" {
			sa.Address = "127.0.0.1"
		}
		out.Listeners[name] = lis
	}
	return l.next.Apply(typeURL, &out)
}

func testLog(component string) *slog.Logger {
	if os.Getenv("ACMEKUBE_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("in", component)
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
