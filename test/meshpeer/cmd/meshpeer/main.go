// Command meshpeer runs test/meshpeer: a backend that behaves like a
// workload behind an Istio sidecar in STRICT mode (client certificate from
// the mesh CA, SPIFFE ID, Istio ALPN), for trying edgeway's mTLS into the
// mesh without Istio, or as a Pod of a local-cluster test:
//
//	go run ./test/meshpeer/cmd/meshpeer --cacerts DIR --listen 127.0.0.1:9080 \
//	    --namespace bookinfo --service-account bookinfo-reviews
//
// DIR holds the cacerts files (ca-cert.pem, ca-key.pem, root-cert.pem,
// cert-chain.pem), as a mounted Secret does.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/edgeway/edgeway/certs/mesh"
	"github.com/edgeway/edgeway/test/meshpeer"
)

func main() {
	dir := flag.String("cacerts", "", "directory of the mesh CA files (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem)")
	listen := flag.String("listen", "127.0.0.1:9080", "address to serve on")
	td := flag.String("trust-domain", "cluster.local", "trust domain of the mesh")
	ns := flag.String("namespace", "default", "namespace of this workload's identity")
	sa := flag.String("service-account", "default", "service account of this workload's identity")
	name := flag.String("name", "meshpeer", "X-Backend of the answers")
	allowed := flag.String("allowed-callers", "", "comma-separated SPIFFE IDs allowed to call (empty: any identity of the trust domain)")
	flag.Parse()
	if *dir == "" {
		log.Fatal("meshpeer: --cacerts DIR is required")
	}
	data := map[string][]byte{}
	for _, k := range []string{mesh.KeyCACert, mesh.KeyCAKey, mesh.KeyRootCert, mesh.KeyCertChain} {
		b, err := os.ReadFile(filepath.Join(*dir, k))
		if err != nil && k != mesh.KeyCertChain {
			log.Fatalf("meshpeer: %v", err)
		}
		data[k] = b
	}
	var callers []string
	if *allowed != "" {
		callers = strings.Split(*allowed, ",")
	}
	p, err := meshpeer.Start(meshpeer.Options{Name: *name, CACerts: data, TrustDomain: *td, Namespace: *ns, ServiceAccount: *sa, AllowedCallers: callers, Addr: *listen})
	if err != nil {
		log.Fatalf("meshpeer: %v", err)
	}
	fmt.Printf("meshpeer %s serving on %s as %s (STRICT: mesh client certificates and Istio ALPN only)\n", *name, p.Addr, p.Identity)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	for _, r := range p.Refused() {
		fmt.Println("refused:", r)
	}
	_ = p.Close()
}
