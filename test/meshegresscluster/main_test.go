package meshegresscluster

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/edgeway/edgeway/conformance/cluster"
)

// The test binary doubles as a container image: with envRole=tls-server it
// is an "external" HTTPS server (see tlsServer).
const envRole = "MESHEGRESS_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(envRole) {
	case "tls-server":
		os.Exit(tlsServer())
	case "":
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", envRole, os.Getenv(envRole))
		os.Exit(2)
	}
	flag.Parse()
	if os.Geteuid() != 0 && !testing.Short() {
		fmt.Fprintln(os.Stderr, "meshegresscluster runs the local cluster, which creates network namespaces, links and mounts: run it as root (or with -short to skip it)")
		os.Exit(1)
	}
	cluster.SweepDeadTestClusters()
	code := m.Run()
	// Empty unless a test left a cluster behind (the next run's sweep
	// removes it then).
	os.Remove(filepath.Join(cluster.TestStateRootBase, strconv.Itoa(os.Getpid())))
	os.Exit(code)
}

// tlsServer serves HTTPS on $LISTEN with the certificate of the mounted
// kubernetes.io/tls Secret in $CERT_DIR, and answers every request with
// X-Backend: $NAME and X-SNI: the server name the client sent, which is
// what the egress scenarios check (passthrough keeps the client's TLS,
// origination must send the declared host as SNI).
func tlsServer() int {
	dir, name, listen := os.Getenv("CERT_DIR"), os.Getenv("NAME"), os.Getenv("LISTEN")
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "tls-server: the certificate in CERT_DIR=%q: %v\n", dir, err)
		return 1
	}
	srv := &http.Server{
		Addr:      listen,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Backend", name)
			w.Header().Set("X-SNI", r.TLS.ServerName)
			fmt.Fprintf(w, "%s over TLS\n", name)
		}),
	}
	fmt.Printf("tls-server %s listening on %s\n", name, listen)
	if err := srv.ListenAndServeTLS("", ""); err != nil {
		fmt.Fprintf(os.Stderr, "tls-server: %v\n", err)
		return 1
	}
	return 0
}
