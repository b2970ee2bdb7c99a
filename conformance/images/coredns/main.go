// Command coredns stands in for the registry.k8s.io/coredns/coredns image in
// the local cluster: the Gateway API conformance suite runs it as the
// backend of its UDPRoute test (base/manifests.yaml, Deployment and
// ConfigMap "coredns") with
//
//	coredns -conf /root/Corefile
//
// and a Corefile that forwards "." to public resolvers and answers
// foo.bar.com with the whoami plugin. Real CoreDNS is a heavy build, and its
// forward plugin would send queries off the machine, which the local
// cluster never does. This binary reads the same Corefile and answers the
// same way, without forwarding.
//
// # Corefile
//
// Server blocks "zone[:port] [zone[:port]...] { plugins }" with # comments
// (see corefile.go for the exact syntax). A query is answered by the most
// specific zone of the port it arrives on that contains the name, REFUSED
// when there is none. Plugins:
//
//   - whoami: answers every query like CoreDNS's whoami: an empty answer
//     section and, in the additional section, the client's address (A or
//     AAAA) and an SRV record _<udp|tcp>.<name> carrying the client's port.
//   - forward FROM TO... [{ options }]: parsed, never forwards. Queries
//     under FROM are answered REFUSED; a warning at start names each
//     forward line and says why (forward.go).
//   - log [args]: every query of the block is written to stdout in
//     CoreDNS's default log format (arguments are accepted and ignored).
//   - errors: errors of the block (a block that cannot answer) are written
//     to stdout.
//   - health [ADDR] (default :8080, GET /health) and ready [ADDR] (default
//     :8181, GET /ready): 200 OK once the DNS sockets are bound.
//
// Any other plugin, or a syntax error, ends the process with exit code 1
// and "file:line: reason" on stderr.
//
// # Flags
//
//   - -conf FILE: the Corefile (default ./Corefile; when that default is
//     missing, CoreDNS's built-in ".:53 { whoami log }" is served).
//   - -dns.port PORT (also -p): the port of every server block. CoreDNS uses
//     it only for zones written without a port; here it overrides the ports
//     the Corefile writes too, so a test can run the suite's Corefile, which
//     says :53, on a free port. Without the flag the behaviour is CoreDNS's.
//
// DNS is served over UDP and TCP on all addresses of every port the blocks
// name, which inside a pod means the pod's own network namespace. SIGTERM
// and SIGINT stop it with exit code 0. Everything is logged to stdout, as
// CoreDNS does, where the node collects it as the container log.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// defaultCorefile is what CoreDNS serves when no Corefile is found.
const defaultCorefile = ".:53 {\n    whoami\n    log\n}\n"

func main() {
	fl := flag.NewFlagSet("coredns", flag.ContinueOnError)
	conf := fl.String("conf", "Corefile", "Corefile to load")
	port := fl.Int("dns.port", 0, "port of every server block (overrides the Corefile's; 0: the Corefile's, 53 where it has none)")
	fl.IntVar(port, "p", 0, "short for -dns.port")
	if err := fl.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	confSet := false
	fl.Visit(func(f *flag.Flag) { confSet = confSet || f.Name == "conf" })
	if *port < 0 || *port > 65535 {
		fmt.Fprintf(os.Stderr, "coredns: -dns.port %d is not a port (1 to 65535)\n", *port)
		os.Exit(1)
	}

	out := &lockedWriter{w: os.Stdout}
	cfg, err := load(*conf, confSet, *port)
	if err != nil {
		fmt.Fprintf(os.Stderr, "coredns: %v\n", err)
		os.Exit(1)
	}
	stopDNS, err := serveDNS(cfg, out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "coredns: %v\n", err)
		os.Exit(1)
	}
	stopHTTP, err := serveHTTP(cfg, out)
	if err != nil {
		stopDNS()
		fmt.Fprintf(os.Stderr, "coredns: %v\n", err)
		os.Exit(1)
	}
	for _, p := range sortedPorts(cfg) {
		for _, z := range cfg.ports[p] {
			out.printf("%s:%d\n", z.name, p)
		}
	}
	out.printf("CoreDNS stand-in (edgeway conformance/images/coredns), %s/%s, %s\n", runtime.GOOS, runtime.GOARCH, runtime.Version())
	announceForwarding(out, *conf, cfg)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	s := <-sig
	out.printf("[INFO] %s: Shutting down\n", signalName(s))
	stopHTTP()
	stopDNS()
}

// load reads and interprets the Corefile. A missing default Corefile
// means CoreDNS's built-in one; a missing explicit one is an error.
func load(path string, explicit bool, port int) (*config, error) {
	src, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		path, src, err = "<default Corefile>", []byte(defaultCorefile), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the Corefile: %w (give its path with -conf)", err)
	}
	blocks, err := parseCorefile(path, string(src))
	if err != nil {
		return nil, err
	}
	return buildConfig(path, blocks, port)
}

func signalName(s os.Signal) string {
	if s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return "SIGINT"
}
