// Package apiserver starts a real kube-apiserver + etcd for a test (built from
// the Go module proxy by conformance/kubebin), on loopback, with every CRD
// edgeway reads installed: the Gateway API CRDs (experimental channel) and Istio's
// ServiceEntry (controller/snapshot/crds) and edgeway's own
// (charts/edgeway/crds). CRD schemas, defaults and CEL rules are therefore
// enforced by the real server, not approximated by a fake client.
package apiserver

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/edgeway/edgeway/conformance/kubebin"
)

// Server is one running control plane. It stops when the test ends.
type Server struct {
	// Config authenticates as a system:masters user.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for Config (for binaries
	// under test and kubectl); it lives in the test's temporary directory.
	Kubeconfig string
	// Client is a controller-runtime client using Scheme.
	Client client.Client
	// Scheme knows the built-in kinds, CRDs, Gateway API and Istio networking
	// types (see NewScheme).
	Scheme *runtime.Scheme
	// Dir holds the control plane's logs (etcd.log, kube-apiserver.log,
	// kube-controller-manager.log).
	Dir string

	certDir string // kube-apiserver's certificates, the service account key
}

// startTimeout is generous: the machines that run `make test` have 2 shared
// cores, and kube-apiserver alone needs ~2 s of an idle one.
const startTimeout = 2 * time.Minute

// CRDDirs are the directories, relative to the repository root, whose CRDs
// Start installs; a missing optional one is skipped.
var CRDDirs = []struct {
	Path     string
	Optional bool
}{
	{"controller/snapshot/crds", false},
	{"charts/edgeway/crds", true},
}

// Options change what StartWith starts; the zero value is what Start does.
type Options struct {
	// ServiceCIDR is kube-apiserver's --service-cluster-ip-range, where
	// ClusterIPs come from. Zero means envtest's default, 10.0.0.0/24. Tests
	// that serve ClusterIPs on the host pass the range their podnet Network
	// chose (Network.ServiceCIDR()), so that concurrent test processes never
	// share one.
	ServiceCIDR netip.Prefix
}

// Start runs etcd and kube-apiserver (building them on the first run, see
// kubebin.Dir), installs the CRDs, waits until they are served and returns a
// Server. It fails the test on any error.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with Options.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	bins, err := kubebin.Dir()
	if err != nil {
		t.Fatalf("apiserver: %v", err)
	}
	root, err := kubebin.RepoRoot()
	if err != nil {
		t.Fatalf("apiserver: %v", err)
	}
	var crdPaths []string
	for _, d := range CRDDirs {
		p := filepath.Join(root, d.Path)
		if _, err := os.Stat(p); err != nil && d.Optional {
			continue
		}
		crdPaths = append(crdPaths, p)
	}

	dir := t.TempDir()
	logs, closeLogs, err := openLogs(dir)
	if err != nil {
		t.Fatalf("apiserver: %v", err)
	}
	scheme := NewScheme()
	noExisting := false
	env := &envtest.Environment{
		// Never a cluster from the environment (USE_EXISTING_CLUSTER): tests
		// create and delete objects freely.
		UseExistingCluster: &noExisting,
		Scheme:             scheme,
		// Explicit paths: KUBEBUILDER_ASSETS or TEST_ASSET_* in the
		// environment must not swap in other versions.
		BinaryAssetsDirectory: bins,
		ControlPlane: envtest.ControlPlane{
			APIServer: &envtest.APIServer{
				Path: filepath.Join(bins, "kube-apiserver"),
				Out:  logs["kube-apiserver"], Err: logs["kube-apiserver"],
			},
			Etcd: &envtest.Etcd{
				Path: filepath.Join(bins, "etcd"),
				Out:  logs["etcd"], Err: logs["etcd"],
			},
			KubectlPath: filepath.Join(bins, "kubectl"),
		},
		CRDDirectoryPaths:        crdPaths,
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: startTimeout,
		ControlPlaneStopTimeout:  time.Minute,
		CRDInstallOptions:        envtest.CRDInstallOptions{MaxTime: startTimeout},
	}
	api := env.ControlPlane.APIServer
	// Loopback only: the serving certificate and the listener are 127.0.0.1.
	api.SecureServing.ListenAddr.Address = "127.0.0.1"
	// The default lease reconciler refuses to publish a loopback address as
	// the kubernetes Service endpoint and exits; there is no other address.
	api.Configure().Set("endpoint-reconciler-type", "none")
	if opts.ServiceCIDR.IsValid() {
		api.Configure().Set("service-cluster-ip-range", opts.ServiceCIDR.Masked().String())
	}

	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		closeLogs()
		dumpLogs(t, dir)
		t.Fatalf("apiserver: start control plane from %s: %v", bins, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("apiserver: stop: %v", err)
		}
		closeLogs()
		if t.Failed() {
			dumpLogs(t, dir)
		}
	})

	s := &Server{Config: cfg, Scheme: scheme, Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig"), certDir: api.CertDir}
	if err := os.WriteFile(s.Kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatalf("apiserver: %v", err)
	}
	if s.Client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		t.Fatalf("apiserver: client: %v", err)
	}
	return s
}

// openLogs creates one log file per process in dir.
func openLogs(dir string) (map[string]*os.File, func(), error) {
	logs := map[string]*os.File{}
	closeAll := func() {
		for _, f := range logs {
			f.Close()
		}
	}
	for _, name := range []string{"etcd", "kube-apiserver"} {
		f, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		logs[name] = f
	}
	return logs, closeAll, nil
}

// dumpLogs puts the end of each log into the test output: the temporary
// directory is gone once the test ends, and a start failure is explained there.
func dumpLogs(t testing.TB, dir string) {
	for _, name := range []string{"etcd", "kube-apiserver"} {
		dumpLog(t, filepath.Join(dir, name+".log"))
	}
}

// dumpLog logs the last few kilobytes of one log file.
func dumpLog(t testing.TB, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	const tail = 4000
	if len(b) > tail {
		b = b[len(b)-tail:]
	}
	t.Logf("apiserver: last of %s:\n%s", filepath.Base(path), b)
}

// String names the server for test logs.
func (s *Server) String() string { return fmt.Sprintf("kube-apiserver %s", s.Config.Host) }
