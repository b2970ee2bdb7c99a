package apiserver

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeway/edgeway/conformance/kubebin"
)

// DefaultControllers are the kube-controller-manager controllers
// StartControllerManager runs when given none: what turns a Deployment into
// Pods and EndpointSlices, deletes what an owner no longer holds, and
// finishes namespace deletion. Nothing that needs a kubelet (node
// lifecycle would taint every hand-made Node NotReady) or a signing CA.
var DefaultControllers = []string{
	"garbage-collector-controller",
	"namespace-controller",
	"deployment-controller",
	"replicaset-controller",
	"endpointslice-controller",
	"endpointslice-mirroring-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
}

// StartControllerManager runs kube-controller-manager against s with the
// given controllers (DefaultControllers if none), waits for its /healthz and
// stops it when the test ends. Its log is s.Dir/kube-controller-manager.log.
func (s *Server) StartControllerManager(t testing.TB, controllers ...string) {
	t.Helper()
	if len(controllers) == 0 {
		controllers = DefaultControllers
	}
	bin, err := kubebin.Path("kube-controller-manager")
	if err != nil {
		t.Fatalf("apiserver: %v", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("apiserver: %v", err)
	}
	rootCA := filepath.Join(s.Dir, "apiserver-ca.crt")
	if err := os.WriteFile(rootCA, s.Config.CAData, 0o600); err != nil {
		t.Fatalf("apiserver: %v", err)
	}
	logPath := filepath.Join(s.Dir, "kube-controller-manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("apiserver: %v", err)
	}
	cmd := exec.Command(bin,
		"--kubeconfig="+s.Kubeconfig,
		"--controllers="+strings.Join(controllers, ","),
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+filepath.Join(s.Dir, "kube-controller-manager"),
		// The same key kube-apiserver verifies service account tokens with.
		"--service-account-private-key-file="+filepath.Join(s.certDir, "sa-signer.key"),
		"--root-ca-file="+rootCA,
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("apiserver: start kube-controller-manager: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			dumpLog(t, logPath)
		}
	})
	if err := waitHealthy(port, exited); err != nil {
		dumpLog(t, logPath)
		t.Fatalf("apiserver: kube-controller-manager: %v", err)
	}
}

// waitHealthy polls the controller manager's /healthz (always allowed without
// credentials) until it answers 200, the process exits, or startTimeout.
func waitHealthy(port int, exited <-chan error) error {
	c := &http.Client{
		Timeout: 2 * time.Second,
		// Its serving certificate is self-signed, made at start; the
		// address is loopback and the port ours.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", port)
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited before healthy: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("%s not healthy after %s", url, startTimeout)
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
