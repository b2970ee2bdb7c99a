package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// binDir holds the binary under test, built once for the package.
var binDir string

func TestMain(m *testing.M) {
	// The tests run the stand-in in network namespaces of their own: make
	// test-unit (-short) without root skips them, as the end-to-end tests.
	if flag.Parse(); testing.Short() && os.Geteuid() != 0 {
		fmt.Println("coredns: skipped in -short mode (the tests need root)")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "coredns-standin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildErr  error
)

// binary builds this package's command (once) and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	path := filepath.Join(binDir, "coredns")
	buildOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return path
}

// suiteCoreDNS returns the Corefile and container args of the conformance
// suite's coredns Deployment, read from the suite module's
// base/manifests.yaml, so that a suite version that changes them is caught
// here.
func suiteCoreDNS(t *testing.T) (corefile string, args []string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api/conformance").Output()
	if err != nil {
		t.Fatalf("locating the conformance suite module: %v", err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "base", "manifests.yaml")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := utilyaml.NewYAMLReader(bufio.NewReader(f))
	for {
		doc, err := dec.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil || meta.Metadata.Name != "coredns" {
			continue
		}
		switch meta.Kind {
		case "ConfigMap":
			var cm corev1.ConfigMap
			if err := yaml.Unmarshal(doc, &cm); err != nil {
				t.Fatalf("%s: coredns ConfigMap: %v", path, err)
			}
			corefile = cm.Data["Corefile"]
		case "Deployment":
			var d appsv1.Deployment
			if err := yaml.Unmarshal(doc, &d); err != nil {
				t.Fatalf("%s: coredns Deployment: %v", path, err)
			}
			c := d.Spec.Template.Spec.Containers[0]
			if !strings.HasPrefix(c.Image, "registry.k8s.io/coredns/coredns:") || len(c.Command) > 0 {
				t.Fatalf("%s: the coredns Deployment runs %s with command %q: the stand-in replaces registry.k8s.io/coredns/coredns's entrypoint only", path, c.Image, c.Command)
			}
			args = c.Args
		}
	}
	if corefile == "" || args == nil {
		t.Fatalf("%s: no coredns ConfigMap with a Corefile and Deployment with args (has the suite changed how it runs coredns?)", path)
	}
	return corefile, args
}

// process is the binary under test, running.
type process struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	exited chan struct{}
	err    error
}

// start runs the binary with args in dir, from inside ns (nil: the test's
// own namespace), and waits until it printed its banner (its sockets are
// bound then) or exited.
func start(t *testing.T, ns *sealedNetns, dir string, args ...string) *process {
	t.Helper()
	p := &process{stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(binary(t), args...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	var err error
	run := func() { err = p.cmd.Start() }
	if ns != nil {
		ns.Do(run) // forked from the namespace's thread: the child is inside
	} else {
		run()
	}
	if err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("coredns stdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
		}
	})
	deadline := time.After(time.Minute)
	for !strings.Contains(p.stdout.String(), "CoreDNS stand-in") {
		select {
		case <-p.exited:
			t.Fatalf("coredns %q exited: %v\nstdout:\n%s\nstderr:\n%s", args, p.err, p.stdout, p.stderr)
		case <-deadline:
			t.Fatalf("coredns %q printed no banner within a minute\nstdout:\n%s", args, p.stdout)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return p
}

// waitOutput waits until the process's stdout contains s and returns it.
func (p *process) waitOutput(t *testing.T, s string) string {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		out := p.stdout.String()
		if strings.Contains(out, s) {
			return out
		}
		select {
		case <-p.exited:
			t.Fatalf("coredns exited (%v) without writing %q:\n%s", p.err, s, out)
		case <-deadline:
			t.Fatalf("coredns did not write %q within a minute:\n%s", s, out)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freePort returns a port no socket of ns uses (nil: the test's namespace),
// for UDP and TCP.
func freePort(t *testing.T, ns *sealedNetns) int {
	t.Helper()
	var port int
	var err error
	pick := func() {
		var l net.Listener
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return
		}
		defer l.Close()
		port = l.Addr().(*net.TCPAddr).Port
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			pc.Close()
		}
	}
	if ns != nil {
		ns.Do(pick)
	} else {
		pick()
	}
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// exchange sends one query from a socket of ns and returns the answer and
// the client socket's port.
func exchange(t *testing.T, ns *sealedNetns, proto, server string, req *dns.Msg) (*dns.Msg, int) {
	t.Helper()
	var m *dns.Msg
	var local net.Addr
	var err error
	ns.Do(func() {
		c := &dns.Client{Net: proto, Timeout: 10 * time.Second}
		var conn *dns.Conn
		if conn, err = c.Dial(server); err != nil {
			return
		}
		defer conn.Close()
		local = conn.LocalAddr()
		m, _, err = c.ExchangeWithConn(req, conn)
	})
	if err != nil {
		t.Fatalf("%s query %s to %s: %v", proto, req.Question[0].Name, server, err)
	}
	switch a := local.(type) {
	case *net.UDPAddr:
		return m, a.Port
	case *net.TCPAddr:
		return m, a.Port
	}
	t.Fatalf("unexpected local address %v", local)
	return nil, 0
}

func query(t *testing.T, ns *sealedNetns, proto, server, name string, qtype uint16) (*dns.Msg, int) {
	t.Helper()
	req := new(dns.Msg)
	req.SetQuestion(name, qtype)
	return exchange(t, ns, proto, server, req)
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
