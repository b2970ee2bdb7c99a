// Package acmekube proves ACME in Kubernetes mode end to end with real
// everything on loopback: a real kube-apiserver (conformance/apiserver), the
// real `edgeway controller` binary built with -race, Pebble (test/pebble) as
// the CA, and a data plane connected over mutual TLS with the credentials
// the controller provisioned for its Gateway. From an ACMEIssuer and a
// Gateway alone, a certificate lands in the Secret that certificateRefs
// names and HTTPS serves it; a challenge that cannot succeed is visible
// (condition, event, state) and retried.
package acmekube

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

var edgewayBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("acmekube: skipped in -short mode (starts a kube-apiserver, Pebble and the edgeway controller)")
		os.Exit(0)
	}
	// envtest logs through controller-runtime's logger; nothing in this
	// process sets it, and its "never called" notice is noise.
	ctrllog.SetLogger(logr.Discard())
	dir, err := os.MkdirTemp("", "edgeway-acmekube")
	if err != nil {
		panic(err)
	}
	edgewayBin = filepath.Join(dir, "edgeway")
	build := exec.Command("go", "build", "-race", "-o", edgewayBin, "./cmd/edgeway")
	build.Dir = filepath.Join("..", "..")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "acmekube: building edgeway:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
