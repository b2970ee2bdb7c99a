// Command edgeway-dataplane is the data plane alone, configured over xDS:
// `edgeway dataplane` without the controller linked in. It takes the same
// flags (both call dataplane/run), and links no Kubernetes client, CEL,
// ACME or cloud SDK, so its binary, and the pages of it a running data
// plane keeps resident, are a fraction of edgeway's (TestDependencies
// holds the dependency list; bench/results/dataplane-rss.md the memory).
package main

import (
	"fmt"
	"os"

	"github.com/edgeway/edgeway/dataplane/heapfloor"
	"github.com/edgeway/edgeway/dataplane/run"
	"github.com/edgeway/edgeway/dataplane/sysmon"
)

// version is set at build time: -ldflags "-X main.version=v0.1.0".
var version = ""

const usage = `edgeway-dataplane: the edgeway data plane alone, configured over xDS.

Usage:
  edgeway-dataplane --xds-server ADDR [flags]   run (the flags of "edgeway dataplane")
  edgeway-dataplane version                     print the version

Run "edgeway-dataplane -h" for the flags.
`

func main() {
	args := os.Args[1:]
	if len(args) > 0 {
		switch args[0] {
		case "version", "--version":
			fmt.Println(run.Version("edgeway-dataplane", version))
			return
		case "help", "--help":
			fmt.Print(usage)
			return
		case "dataplane":
			// The command line of `edgeway dataplane` (what the Gateway
			// provisioner writes as a container's args) runs unchanged
			// when an image's entrypoint is this binary.
			args = args[1:]
		}
	}
	tuneRuntime()
	if err := run.Dataplane(args); err != nil {
		fmt.Fprintln(os.Stderr, "edgeway-dataplane:", err)
		os.Exit(1)
	}
}

// tuneRuntime re-executes the process to keep the Go runtime's sysmon on
// its slow tick (package sysmon says why; a failure costs CPU, not
// service), then keeps the heap floor (package heapfloor).
func tuneRuntime() {
	if err := sysmon.Steady(); err != nil {
		fmt.Fprintln(os.Stderr, "edgeway-dataplane: warning:", err)
	}
	heapfloor.Keep()
}
