// Command edgeway is the one binary: controller | standalone | dataplane | translate | status | version.
// main only parses flags and wires packages; nothing imports cmd/.
package main

import (
	"fmt"
	"os"

	"github.com/edgeway/edgeway/dataplane/heapfloor"
	"github.com/edgeway/edgeway/dataplane/run"
	"github.com/edgeway/edgeway/dataplane/sysmon"
)

const usage = `edgeway: a Gateway API gateway.

Usage:
  edgeway controller [--kubeconfig FILE] the Kubernetes controller: watches the cluster, serves each Gateway's
                                        data plane over xDS, writes status (leader only)
  edgeway standalone --config-dir DIR   controller and data plane in one process, from a directory of YAML
  edgeway dataplane --xds-server ADDR   the data plane alone, configured over xDS
  edgeway translate -f FILE|DIR [-o status|ir|xds]
                                        print what a configuration translates to (offline)
  edgeway status [--admin-address ADDR] print the status of every object a running standalone gateway serves
  edgeway version                       print the version

Run "edgeway COMMAND -h" for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "controller":
		err = runController(args)
	case "standalone":
		tuneRuntime()
		err = runStandalone(args)
	case "dataplane":
		tuneRuntime()
		err = run.Dataplane(args)
	case "translate":
		err = runTranslate(args, os.Stdout)
	case "status":
		err = runStatus(args, os.Stdout)
	case "version", "--version":
		fmt.Println(versionString())
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "edgeway: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgeway:", err)
		os.Exit(1)
	}
}

// tuneRuntime prepares the Go runtime for the commands that serve traffic:
// it re-executes the process to keep sysmon on its slow tick (package
// sysmon says why; a failure costs CPU, not service), then keeps the heap
// floor (package heapfloor).
func tuneRuntime() {
	if err := sysmon.Steady(); err != nil {
		fmt.Fprintln(os.Stderr, "edgeway: warning:", err)
	}
	heapfloor.Keep()
}
