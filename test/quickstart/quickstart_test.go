// Package quickstart runs `make run`'s script, examples/quickstart/run.sh,
// as a user does on a fresh machine (the bundled configuration, the demo
// backends, the fixed ports), in a network namespace of its own, and checks
// what each line the script prints to try shows: the canary, the rewrite
// and header match, the redirect, HTTPS by SNI, TLS passthrough, TCP and
// the status report. The TCP line runs verbatim, through bash alone.
package quickstart

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// binDir holds edgeway and demo-backends, as `make build` leaves them in bin/.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("quickstart: skipped in -short mode")
		os.Exit(0)
	}
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run())
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "quickstart: the test runs the quickstart in a network namespace of its own, so that its fixed ports are free: run it as root (or with -short to skip it)")
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "edgeway-quickstart")
	if err != nil {
		panic(err)
	}
	binDir = dir
	// edgeway with hack/netpollfifo's runtime overlay, as `make build`
	// builds it (NETPOLL_FIFO=0 leaves it out there and here).
	var edgewayFlags []string
	if os.Getenv("NETPOLL_FIFO") != "0" {
		out, err := exec.Command("go", "-C", filepath.Join("..", ".."), "run", "./hack/netpollfifo").Output()
		if err != nil {
			fmt.Fprintf(os.Stderr, "quickstart: hack/netpollfifo: %v\n", err)
			os.Exit(1)
		}
		edgewayFlags = strings.Fields(string(out))
	}
	for bin, pkg := range map[string]string{"edgeway": "./cmd/edgeway", "demo-backends": "./examples/backends"} {
		args := []string{"build", "-o", filepath.Join(dir, bin)}
		if bin == "edgeway" {
			args = append(args, edgewayFlags...)
		}
		build := exec.Command("go", append(args, pkg)...)
		build.Dir = filepath.Join("..", "..")
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "quickstart: building %s: %v\n", pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// echoed is what a demo HTTP backend answers (examples/backends).
type echoed struct {
	Backend string            `json:"backend"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
}

// The edgeway the quickstart runs is built as `make build` builds it: on
// Linux with the runtime overlay, which its version line states.
func TestQuickstartBinaryHasTheReadinessOrderPoller(t *testing.T) {
	out, err := exec.Command(filepath.Join(binDir, "edgeway"), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("edgeway version: %v\n%s", err, out)
	}
	want := runtime.GOOS == "linux" && os.Getenv("NETPOLL_FIFO") != "0"
	if got := strings.Contains(string(out), "netpoll in readiness order"); got != want {
		t.Fatalf("edgeway version = %q; want the readiness-order poller: %v", out, want)
	}
}

func TestQuickstart(t *testing.T) {
	pn, err := newPrivateNet()
	if err != nil {
		t.Fatal(err)
	}
	defer pn.close()

	script, err := filepath.Abs(filepath.Join("..", "..", "examples", "quickstart", "run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	// The script and its children write their output straight to a file,
	// which the test reads while they run.
	out, err := os.Create(filepath.Join(t.TempDir(), "run.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	output := func() string {
		b, _ := os.ReadFile(out.Name())
		return string(b)
	}
	run := exec.Command(script, binDir)
	run.Stdout, run.Stderr = out, out
	// Its own process group: the script, the backends and edgeway all get
	// the signal at the end, as Ctrl-C gives it to them.
	run.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := pn.start(run); err != nil {
		t.Fatal(err)
	}
	var runErr error
	exited := make(chan struct{}) // closed once run.sh has exited (runErr set)
	go func() { runErr = run.Wait(); close(exited) }()
	defer func() {
		_ = syscall.Kill(-run.Process.Pid, syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-run.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("run.sh's output:\n%s", output())
		}
	}()

	client := &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			DialContext:     pn.dial,
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // curl -k: the quickstart's certificates are self-signed
		},
	}
	get := func(url string, header map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		return resp, body
	}
	echo := func(url string, header map[string]string) echoed {
		t.Helper()
		resp, body := get(url, header)
		var e echoed
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &e) != nil {
			t.Fatalf("GET %s: %s, want 200 and a demo backend's echo:\n%s", url, resp.Status, body)
		}
		return e
	}

	// Ready: the data plane has ACKed everything the bundled files made.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get("http://127.0.0.1:19000/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the quickstart was not ready within a minute (last: %v)", err)
		}
		select {
		case <-exited:
			t.Fatalf("run.sh exited before the gateway was ready: %v", runErr)
		case <-time.After(100 * time.Millisecond):
		}
	}

	t.Run("canary 90/10", func(t *testing.T) {
		counts := map[string]int{}
		for range 200 {
			counts[echo("http://localhost:8080/", nil).Backend]++
		}
		// 200 draws at 10%: 20 expected, 4.2 the standard deviation.
		if counts["blue"]+counts["green"] != 200 || counts["green"] < 5 || counts["green"] > 45 {
			t.Errorf("200 requests went %v, want about 180 blue and 20 green", counts)
		}
	})
	t.Run("prefix rewrite and added header", func(t *testing.T) {
		e := echo("http://localhost:8080/green/hello", nil)
		if e.Backend != "green" || e.Path != "/hello" || e.Headers["X-Canary"] != "true" {
			t.Errorf("/green/hello reached %s as %q with X-Canary %q, want green, /hello, true", e.Backend, e.Path, e.Headers["X-Canary"])
		}
	})
	t.Run("header match", func(t *testing.T) {
		for range 20 {
			if e := echo("http://localhost:8080/", map[string]string{"x-env": "staging"}); e.Backend != "green" {
				t.Fatalf("x-env: staging reached %s, want green", e.Backend)
			}
		}
	})
	t.Run("redirect", func(t *testing.T) {
		resp, _ := get("http://localhost:8080/login", nil)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "https://app.example.com:8443/login" {
			t.Errorf("/login: %s to %q, want 302 to https://app.example.com:8443/login", resp.Status, loc)
		}
	})
	t.Run("HTTPS by SNI", func(t *testing.T) {
		for name, backends := range map[string][]string{"app.example.com": {"blue", "green"}, "admin.example.com": {"admin"}} {
			resp, body := get("https://"+name+":8443/", nil)
			if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 || resp.TLS.PeerCertificates[0].VerifyHostname(name) != nil {
				t.Errorf("%s: the certificate served is not for %s", name, name)
				continue
			}
			var e echoed
			_ = json.Unmarshal(body, &e)
			if resp.StatusCode != http.StatusOK || !contains(backends, e.Backend) {
				t.Errorf("%s: %s from %q, want 200 from one of %v", name, resp.Status, e.Backend, backends)
			}
		}
	})
	t.Run("TLS passthrough", func(t *testing.T) {
		conn, err := pn.dial(context.Background(), "tcp", "127.0.0.1:9443")
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(conn, &tls.Config{ServerName: "secure.example.com", InsecureSkipVerify: true})
		defer tc.Close()
		if err := tc.Handshake(); err != nil {
			t.Fatalf("handshake through port 9443: %v", err)
		}
		// The backend's own certificate, not one of the gateway's.
		if cn := tc.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "secure (demo backend)" {
			t.Errorf("port 9443 served the certificate of %q, want the backend's own (secure (demo backend))", cn)
		}
		fmt.Fprintf(tc, "GET / HTTP/1.1\r\nHost: secure.example.com\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if b := resp.Header.Get("X-Backend"); b != "secure" {
			t.Errorf("passthrough reached %q, want secure", b)
		}
	})
	t.Run("TCP, the printed line as it is", func(t *testing.T) {
		line := printedLine(t, output(), "# TCP")
		cmd := exec.Command("bash", "-c", line)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := pn.start(cmd); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil || strings.TrimSpace(stdout.String()) != "tcp-echo: hello" {
				t.Errorf("%s: %v, printed %q (stderr %q), want \"tcp-echo: hello\"", line, err, stdout.String(), stderr.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("%s: no answer in 10 s", line)
		}
	})
	t.Run("status report", func(t *testing.T) {
		resp, body := get("http://127.0.0.1:19000/api/status", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/api/status: %s", resp.Status)
		}
		var report struct {
			Dataplane struct {
				InSync bool `json:"inSync"`
				NACKs  int  `json:"nacks"`
			} `json:"dataplane"`
			Objects []struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
				Status struct {
					Conditions []metav1.Condition `json:"conditions"`
					Listeners  []struct {
						Conditions []metav1.Condition `json:"conditions"`
					} `json:"listeners"`
					Parents []struct {
						Conditions []metav1.Condition `json:"conditions"`
					} `json:"parents"`
				} `json:"status"`
			} `json:"objects"`
		}
		if err := sigsyaml.Unmarshal(body, &report); err != nil {
			t.Fatalf("/api/status is not YAML: %v\n%s", err, body)
		}
		if !report.Dataplane.InSync || report.Dataplane.NACKs != 0 {
			t.Errorf("data plane: %+v, want in sync without NACKs", report.Dataplane)
		}
		// Every object of the bundled example is well: no condition says
		// otherwise.
		kinds := map[string]int{}
		for _, o := range report.Objects {
			kinds[o.Kind]++
			conds := o.Status.Conditions
			for _, l := range o.Status.Listeners {
				conds = append(conds, l.Conditions...)
			}
			for _, p := range o.Status.Parents {
				conds = append(conds, p.Conditions...)
			}
			for _, c := range conds {
				if (c.Type == "Conflicted") != (c.Status == metav1.ConditionFalse) {
					t.Errorf("%s %s: %s=%s (%s: %s)", o.Kind, o.Metadata.Name, c.Type, c.Status, c.Reason, c.Message)
				}
			}
		}
		want := map[string]int{"GatewayClass": 1, "Gateway": 1, "HTTPRoute": 3, "TLSRoute": 1, "TCPRoute": 1}
		for k, n := range want {
			if kinds[k] != n {
				t.Errorf("the report has %d %s, want %d (all: %v)", kinds[k], k, n, kinds)
			}
		}
	})
}

// printedLine is the command on the line of the script's output whose
// comment starts with comment.
func printedLine(t *testing.T, output, comment string) string {
	t.Helper()
	for _, l := range strings.Split(output, "\n") {
		if cmd, _, ok := strings.Cut(l, comment); ok {
			return strings.TrimSpace(cmd)
		}
	}
	t.Fatalf("run.sh printed no line with the comment %q:\n%s", comment, output)
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
