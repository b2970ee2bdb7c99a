package node

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/edgeway/edgeway/conformance/podnet"
)

// The test binary doubles as the container binary of the test image: with
// NODE_TEST_ROLE=report it reports what a container sees and serves HTTP.
const envRole = "NODE_TEST_ROLE"

// testRootBase holds one podnet state root per test process (<base>/<pid>),
// so a later run cleans up after one that was killed.
const testRootBase = "/run/edgeway-node-test"

var testRoot = filepath.Join(testRootBase, strconv.Itoa(os.Getpid()))

func TestMain(m *testing.M) {
	switch os.Getenv(envRole) {
	case "report":
		report()
	case "files":
		printFiles(os.Args[1:])
		os.Exit(0)
	case "":
		if os.Geteuid() != 0 {
			// make test-unit (-short) runs without root: skip, as the
			// end-to-end tests do.
			if flag.Parse(); testing.Short() {
				fmt.Println("node: skipped in -short mode (the tests need root)")
				os.Exit(0)
			}
			fmt.Fprintln(os.Stderr, "node tests create network namespaces and mounts: run them as root")
			os.Exit(1)
		}
		podnet.SweepDeadProcessRoots(testRootBase)
		code := m.Run()
		os.Remove(testRoot)
		os.Remove(testRootBase)
		os.Exit(code)
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", envRole, os.Getenv(envRole))
		os.Exit(2)
	}
}

// report prints what the container sees, one fact per line (its PID as the
// host sees it, hostname, T_* environment variables, the files named in its
// arguments), serves HTTP 200 on :8080 for the readiness probe, and exits 0
// on SIGTERM after printing TERM.
func report() {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Printf("PID %d\n", os.Getpid())
	host, _ := os.Hostname()
	fmt.Printf("HOSTNAME %s\n", host)
	env := os.Environ()
	sort.Strings(env)
	for _, kv := range env {
		if strings.HasPrefix(kv, "T_") || strings.HasPrefix(kv, "KUBERNETES_SERVICE_") || strings.HasPrefix(kv, "LINKED_") {
			fmt.Printf("ENV %s\n", kv)
		}
	}
	printFiles(os.Args[1:])
	ln, err := net.Listen("tcp", ":8080")
	if err != nil {
		fmt.Printf("LISTEN error %v\n", err)
		os.Exit(1)
	}
	fmt.Println("READY")
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	<-term
	fmt.Println("TERM")
	os.Exit(0)
}

// printFiles prints "FILE <path> <quoted content>" or "FILE <path> error ..."
// for each path; for "write:<path>" it writes the file and prints "WRITE
// <path> ok" or "WRITE <path> error ...".
func printFiles(paths []string) {
	for _, p := range paths {
		if w, ok := strings.CutPrefix(p, "write:"); ok {
			if err := os.WriteFile(w, []byte("written"), 0o644); err != nil {
				fmt.Printf("WRITE %s error %v\n", w, err)
			} else {
				fmt.Printf("WRITE %s ok\n", w)
			}
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			fmt.Printf("FILE %s error %v\n", p, err)
			continue
		}
		fmt.Printf("FILE %s %q\n", p, b)
	}
}
