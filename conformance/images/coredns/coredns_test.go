package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The conformance suite's own Corefile and args (from the suite module),
// run in a sealed namespace: foo.bar.com is answered by whoami with the
// client's address and port, other names are REFUSED, and no packet goes
// anywhere but between the test and the server on loopback.
func TestSuiteCorefile(t *testing.T) {
	corefile, args := suiteCoreDNS(t)
	dir := t.TempDir()
	confPath := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(confPath, []byte(corefile), 0o644); err != nil {
		t.Fatal(err)
	}
	// The suite mounts the ConfigMap at /root; the stand-in reads the same
	// file from the test's directory instead.
	i := slices.Index(args, "-conf")
	if i < 0 || i+1 >= len(args) || filepath.Base(args[i+1]) != "Corefile" {
		t.Fatalf("the suite's coredns args %q do not name a Corefile with -conf", args)
	}
	args = slices.Clone(args)
	args[i+1] = confPath

	ns := newSealedNetns(t)
	var capt *capture
	var err error
	ns.Do(func() { capt, err = startCapture() })
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t, ns)
	p := start(t, ns, dir, append(args, "-dns.port", strconv.Itoa(port))...)
	server := fmt.Sprintf("127.0.0.1:%d", port)

	for _, proto := range []string{"udp", "tcp"} {
		for _, q := range []struct {
			name  string
			qtype uint16
		}{
			{"foo.bar.com.", dns.TypeA}, // what the UDPRoute test asks
			{"Foo.Bar.COM.", dns.TypeAAAA},
			{"x.foo.bar.com.", dns.TypeTXT},
		} {
			m, clientPort := query(t, ns, proto, server, q.name, q.qtype)
			want := []string{
				q.name + "\t0\tIN\tA\t127.0.0.1",
				fmt.Sprintf("_%s.%s\t0\tIN\tSRV\t0 0 %d .", proto, q.name, clientPort),
			}
			if got := rrStrings(m.Extra); m.Rcode != dns.RcodeSuccess || !m.Authoritative || len(m.Answer) != 0 || !slices.Equal(got, want) {
				t.Errorf("%s %s %s: %s aa=%v answer %v additional %q; want NOERROR aa, no answer, additional %q",
					proto, q.name, dns.TypeToString[q.qtype], dns.RcodeToString[m.Rcode], m.Authoritative, m.Answer, got, want)
			}
		}
		// Everything else is in the "." block, whose forward is refused.
		for _, name := range []string{"example.com.", "bar.com.", "com.", "."} {
			m, _ := query(t, ns, proto, server, name, dns.TypeA)
			if m.Rcode != dns.RcodeRefused || len(m.Answer)+len(m.Extra) != 0 {
				t.Errorf("%s %s A: %s with %v %v, want REFUSED and nothing else", proto, name, dns.RcodeToString[m.Rcode], m.Answer, m.Extra)
			}
		}
	}

	var loopbackQueries int
	for _, pk := range capt.finish() {
		if !pk.ok || !pk.src.Addr().IsLoopback() || !pk.dst.Addr().IsLoopback() {
			t.Errorf("captured a packet that is not between loopback addresses: %s", pk)
			continue
		}
		if pk.dst.Port() == uint16(port) {
			loopbackQueries++
		}
	}
	// The capture works: it saw the queries themselves.
	if loopbackQueries < 14 {
		t.Errorf("the capture saw %d packets to the DNS port, want at least the 14 queries", loopbackQueries)
	}

	// The log plugin writes after answering: wait for the last query's line.
	out := p.waitOutput(t, `"A IN . tcp `)
	if !strings.Contains(out, "forwarding . to 8.8.8.8 9.9.9.9 is disabled in the local cluster") {
		t.Errorf("no start-up warning that forwarding to 8.8.8.8 9.9.9.9 is disabled:\n%s", out)
	}
	// log is on in the "." block only, as the suite's Corefile says.
	if !strings.Contains(out, `"A IN example.com. udp `) || !strings.Contains(out, `"A IN example.com. tcp `) || !strings.Contains(out, " REFUSED qr,rd ") {
		t.Errorf("no log lines for the refused example.com queries:\n%s", out)
	}
	if lower := strings.ToLower(out); strings.Contains(lower, " in foo.bar.com.") || strings.Contains(lower, " in x.foo.bar.com.") {
		t.Errorf("queries of the foo.bar.com block, which has no log plugin, were logged:\n%s", out)
	}
}

// Several ports (none overridden), zones sharing a block, the most specific
// zone winning, a port without "." refusing, a block without an answering
// plugin failing with errors logged, and the health and ready endpoints.
func TestZonesAndPorts(t *testing.T) {
	dir := t.TempDir()
	corefile := `# zones on 1053
example.org:1053 {
    forward . 8.8.8.8 {
        max_fails 2
    }
}
sub.example.org:1053 example.net:1053 {
    whoami # trailing comment
}
dns://.:1053 {
    errors
    log
}
.:1054 {
    whoami
    health
    ready
}
example.org:1055 { whoami }
`
	if err := os.WriteFile(filepath.Join(dir, "Corefile"), []byte(corefile), 0o644); err != nil {
		t.Fatal(err)
	}
	ns := newSealedNetns(t)
	p := start(t, ns, dir) // ./Corefile by default
	for _, tc := range []struct {
		port  int
		name  string
		rcode int
		who   bool // answered by whoami
	}{
		{1053, "a.example.org.", dns.RcodeRefused, false},
		{1053, "example.org.", dns.RcodeRefused, false},
		{1053, "x.sub.example.org.", dns.RcodeSuccess, true},
		{1053, "example.net.", dns.RcodeSuccess, true},
		{1053, "example.com.", dns.RcodeServerFailure, false},
		{1054, "a.example.org.", dns.RcodeSuccess, true},
		{1055, "a.example.org.", dns.RcodeSuccess, true},
		{1055, "example.com.", dns.RcodeRefused, false},
	} {
		for _, proto := range []string{"udp", "tcp"} {
			m, _ := query(t, ns, proto, fmt.Sprintf("127.0.0.1:%d", tc.port), tc.name, dns.TypeA)
			if m.Rcode != tc.rcode || (len(m.Extra) == 2) != tc.who {
				t.Errorf("%s :%d %s: %s with additional %v, want %s (whoami: %v)", proto, tc.port, tc.name,
					dns.RcodeToString[m.Rcode], m.Extra, dns.RcodeToString[tc.rcode], tc.who)
			}
		}
	}
	out := p.waitOutput(t, `"A IN example.com. tcp `)
	if !strings.Contains(out, "[ERROR] plugin/errors: 2 example.com. A:") {
		t.Errorf("the errors plugin did not log the SERVFAIL of example.com.:\n%s", out)
	}
	if !strings.Contains(out, `"A IN example.com. udp `) || strings.Contains(out, "IN example.net.") || strings.Contains(out, "IN a.example.org.") {
		t.Errorf("log should cover the \".:1053\" block only:\n%s", out)
	}
	for _, u := range []string{"http://127.0.0.1:8080/health", "http://127.0.0.1:8181/ready"} {
		var body string
		var err error
		ns.Do(func() { body, err = httpGet(u) })
		if err != nil || body != "200 OK" {
			t.Errorf("GET %s: %q %v, want 200 OK", u, body, err)
		}
	}
}

// Without -conf and without ./Corefile, CoreDNS's default: whoami and log
// for everything.
func TestDefaultCorefile(t *testing.T) {
	ns := newSealedNetns(t)
	port := freePort(t, ns)
	p := start(t, ns, t.TempDir(), "-dns.port", strconv.Itoa(port))
	m, _ := query(t, ns, "udp", fmt.Sprintf("127.0.0.1:%d", port), "anything.example.", dns.TypeA)
	if m.Rcode != dns.RcodeSuccess || len(m.Extra) != 2 {
		t.Errorf("default Corefile: %s with additional %v, want the whoami answer", dns.RcodeToString[m.Rcode], m.Extra)
	}
	p.waitOutput(t, `"A IN anything.example. udp `)
}

// A bad Corefile ends the process with exit code 1 and file:line: reason.
func TestBadCorefile(t *testing.T) {
	ns := newSealedNetns(t) // should one start anyway, it binds nothing on the host
	for _, tc := range []struct {
		name, corefile string
		line           int
		reason         string
	}{
		{"unknown plugin", ".:53 {\n    whoami\n    kubernetes cluster.local\n}\n", 3, `unknown plugin "kubernetes": this stand-in for CoreDNS knows errors, forward, health, log, ready, whoami`},
		{"unclosed block", "# top\n.:53 {\n    whoami\n", 3, "server block opened at line 2 is not closed"},
		{"unclosed plugin block", ".:53 {\n  forward . 8.8.8.8 {\n    max_fails 2\n}\n", 4, "server block opened at line 1 is not closed"},
		{"unclosed plugin block at the end", ".:53 {\n  forward . 8.8.8.8 {\n    max_fails 2\n", 3, "block of forward opened at line 2 is not closed"},
		{"stray brace", "}\n", 1, `unexpected "}"`},
		{"no braces", ".\nwhoami\n", 1, "needs every server block in braces"},
		{"bad port", "\n.:99999 {\n    whoami\n}\n", 2, `port "99999" is not a number from 1 to 65535`},
		{"not a zone", "dns://..bad:53 {\n    whoami\n}\n", 1, "is not a domain name"},
		{"tls", "tls://.:853 {\n    whoami\n}\n", 1, "only plain DNS"},
		{"duplicate zone", ". {\n    whoami\n}\nfoo.:53 {\n  whoami\n}\n.:53 {\n    whoami\n}\n", 7, "zone . on port 1053 is already served by the block at line 1"},
		{"forward without upstream", ".:53 {\n    forward .\n}\n", 2, "forward: needs a zone and at least one upstream"},
		{"forward option", ".:53 {\n    forward . 8.8.8.8 {\n        bogus 1\n    }\n}\n", 2, `forward: unknown option "bogus"`},
		{"whoami arguments", ".:53 {\n    whoami please\n}\n", 2, `whoami: takes no arguments, found "please"`},
		{"import", ".:53 {\n    import common\n}\n", 2, "snippets and imports are not supported"},
		{"unclosed quote", ".:53 {\n    log \"x\n}\n", 2, "quoted word not closed"},
		{"empty", "# nothing\n", 1, "no server block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "Corefile")
			if err := os.WriteFile(path, []byte(tc.corefile), 0o644); err != nil {
				t.Fatal(err)
			}
			code, stderr := runToExit(t, ns, "-conf", path, "-dns.port", "1053")
			at := fmt.Sprintf("%s:%d: ", path, tc.line)
			if code != 1 || !strings.Contains(stderr, at) || !strings.Contains(stderr, tc.reason) {
				t.Errorf("exit code %d, stderr %q; want 1 and %q ... %q", code, stderr, at, tc.reason)
			}
		})
	}
	t.Run("missing -conf file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "Corefile")
		code, stderr := runToExit(t, ns, "-conf", path)
		if code != 1 || !strings.Contains(stderr, "reading the Corefile: open "+path) {
			t.Errorf("exit code %d, stderr %q; want 1 and a message naming %s", code, stderr, path)
		}
	})
}

// runToExit runs the binary inside ns and returns its exit code and stderr;
// it fails the test if the binary keeps running.
func runToExit(t *testing.T, ns *sealedNetns, args ...string) (int, string) {
	t.Helper()
	var stderr syncBuffer
	cmd := exec.Command(binary(t), args...)
	cmd.Stderr = &stderr
	var err error
	ns.Do(func() { err = cmd.Start() })
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("coredns %q still runs after a minute; want it to refuse the Corefile", args)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("coredns %q: %v (stderr %q); want exit code 1", args, err, stderr.String())
	}
	return exit.ExitCode(), stderr.String()
}

func rrStrings(rrs []dns.RR) []string {
	var s []string
	for _, rr := range rrs {
		s = append(s, rr.String())
	}
	return s
}

// httpGet fetches url over a connection made by the calling goroutine (an
// http.Client dials from goroutines of its own, outside a sealedNetns) and
// returns "<status code> <body>".
func httpGet(url string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	conn, err := net.DialTimeout("tcp", req.URL.Host, 10*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req.Close = true
	if err := req.Write(conn); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b), err
}
