package meshegresscluster

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeway/edgeway/conformance/cluster"
	"github.com/edgeway/edgeway/conformance/deploy"
	"github.com/edgeway/edgeway/conformance/kubebin"
	"github.com/edgeway/edgeway/conformance/node"
)

// Images of the test's own workloads, mapped by the node to local binaries.
const (
	// meshpeerImage runs test/meshpeer/cmd/meshpeer (built by the test).
	meshpeerImage = "edgeway.test/meshpeer"
	// tlsServerImage runs this test binary as an external HTTPS server.
	tlsServerImage = "edgeway.test/meshegress-tls-server"
)

// TestMeshAndEgressOnCluster starts one local cluster (the expensive part,
// shared by every scenario), installs edgeway with its chart (with Istio's
// ServiceEntry CRD, as on a cluster without Istio), creates the workloads
// of every scenario at once so that their Pods start together, then checks
// each scenario in a subtest.
func TestMeshAndEgressOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: brings up the local cluster and installs edgeway")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	meshpeer := buildMeshpeer(t)
	start := time.Now()
	c := cluster.StartForTestWith(t, cluster.Config{Images: node.Images{
		meshpeerImage:  node.Command(meshpeer),
		tlsServerImage: node.Command(self, envRole+"=tls-server"),
	}})
	t.Logf("local cluster up in %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if err := deploy.Edgeway(context.Background(), deploy.Options{Kubeconfig: c.Kubeconfig, Set: []string{"serviceEntryCRD.install=true"}}); err != nil {
		t.Fatal(err)
	}
	t.Logf("edgeway installed with helm in %s", time.Since(start).Round(time.Millisecond))

	e := newEnv(t, c)
	start = time.Now()
	m := setUpMesh(t, e)
	x := setUpEgress(t, e)
	t.Logf("scenarios' objects created in %s", time.Since(start).Round(time.Millisecond))

	t.Run("mesh", func(t *testing.T) { m.check(t, e) })
	t.Run("egress", func(t *testing.T) { x.check(t, e) })
	t.Run("ServiceEntry host conflict", func(t *testing.T) { checkHostConflict(t, e, x) })
}

// buildMeshpeer builds the STRICT-sidecar-like backend's command, static
// like the cluster's own images, into a directory of the test.
func buildMeshpeer(t *testing.T) string {
	t.Helper()
	root, err := kubebin.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "meshpeer")
	cmd := exec.Command("go", "build", "-o", bin, "./test/meshpeer/cmd/meshpeer")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build meshpeer: %v\n%s", err, out.String())
	}
	return bin
}
