// Command edgeway-cluster runs the local cluster (conformance/cluster) for
// a developer: `up` starts it in the background and prints the kubeconfig,
// `down` stops it and removes everything it created, also after a crash,
// `status` says whether it runs. `make cluster-up` / `make cluster-down`
// run it with the defaults (ID "dev", directory .cache/cluster of the
// checkout).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/edgeway/edgeway/conformance/kubebin"
)

const usage = `edgeway-cluster: a local Kubernetes cluster without Docker (run as root).

Usage:
  edgeway-cluster up     [--id ID] [--state-root DIR] [--dir DIR]   start it in the background; prints the kubeconfig
  edgeway-cluster down   [--id ID] [--state-root DIR] [--dir DIR]   stop it and remove everything it created
  edgeway-cluster status [--id ID] [--state-root DIR] [--dir DIR]   say whether it runs
  edgeway-cluster install-edgeway [--dir DIR]                       helm install charts/edgeway into it

Defaults: --id dev, --state-root /run/edgeway-cluster, --dir <checkout>/.cache/cluster.
The kubeconfig is <dir>/kubeconfig, the logs are <dir>/*.log.
`

// options are the flags every command shares.
type options struct {
	id, stateRoot, dir string
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var run func(options) error
	switch cmd {
	case "up":
		run = up
	case "down":
		run = down
	case "status":
		run = status
	case "install-edgeway":
		run = installEdgeway
	case "serve": // what up starts in the background
		run = serve
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "edgeway-cluster: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	o, err := parse(cmd, args)
	if err == nil {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgeway-cluster "+cmd+":", err)
		os.Exit(1)
	}
}

func parse(cmd string, args []string) (options, error) {
	fs := flag.NewFlagSet("edgeway-cluster "+cmd, flag.ContinueOnError)
	var o options
	fs.StringVar(&o.id, "id", "dev", "the cluster's ID (1 to 6 lowercase letters or digits; names its links ewbr-<id>, ew-<id>-*)")
	fs.StringVar(&o.stateRoot, "state-root", "", "podnet's state root (default /run/edgeway-cluster)")
	fs.StringVar(&o.dir, "dir", "", "the cluster's directory: kubeconfig, logs, certificates, etcd data (default <checkout>/.cache/cluster)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.dir == "" {
		root, err := kubebin.RepoRoot()
		if err != nil {
			return o, errors.New("run it inside the edgeway checkout, or give --dir")
		}
		o.dir = filepath.Join(root, ".cache", "cluster")
	}
	d, err := filepath.Abs(o.dir)
	if err != nil {
		return o, err
	}
	o.dir = d
	return o, nil
}

// The files the command keeps in the cluster's directory.
func (o options) servePidFile() string { return filepath.Join(o.dir, "serve.pid") }
func (o options) logFile() string      { return filepath.Join(o.dir, "cluster.log") }
func (o options) kubeconfig() string   { return filepath.Join(o.dir, "kubeconfig") }
