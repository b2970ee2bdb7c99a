// Package deploy installs edgeway into a cluster the way a user does: the
// Helm chart in charts/edgeway, with helm (built from the Go module proxy by
// hack/kube-bins.sh), then waits until the controller serves its
// GatewayClass. The local cluster's node maps the chart's image
// (ghcr.io/edgeway/edgeway) to the edgeway binary built from this checkout,
// so what runs is the code under test.
package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/kubebin"
)

// Options says where and how to install.
type Options struct {
	// Kubeconfig is an admin kubeconfig of the cluster.
	Kubeconfig string
	// Namespace of the release (default "edgeway-system").
	Namespace string
	// Release name (default "edgeway").
	Release string
	// Set are extra `--set` values, e.g. "logging.level=debug".
	Set []string
	// Timeout bounds the install and the wait for the GatewayClass (default 5m).
	Timeout time.Duration
}

// Defaults of the local cluster's install. One controller replica: every
// replica translates every change, and the conformance run shares 2 cores
// with dozens of data planes; leader election stays on, as in production.
var localValues = []string{
	"replicaCount=1",
	"logging.format=text",
}

// GatewayClassName is the class the chart creates (values gatewayClass.name).
const GatewayClassName = "edgeway"

// Edgeway runs `helm upgrade --install` of charts/edgeway and waits for the
// controller Deployment to be available (helm --wait) and for the
// GatewayClass to be Accepted by the running controller.
func Edgeway(ctx context.Context, o Options) error {
	if o.Namespace == "" {
		o.Namespace = "edgeway-system"
	}
	if o.Release == "" {
		o.Release = "edgeway"
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	helm, err := kubebin.Path("helm")
	if err != nil {
		return err
	}
	root, err := kubebin.RepoRoot()
	if err != nil {
		return err
	}
	args := []string{"upgrade", "--install", o.Release, filepath.Join(root, "charts", "edgeway"),
		"--kubeconfig", o.Kubeconfig, "--namespace", o.Namespace, "--create-namespace",
		"--wait", "--timeout", o.Timeout.String()}
	for _, s := range append(append([]string{}, localValues...), o.Set...) {
		args = append(args, "--set", s)
	}
	cmd := exec.CommandContext(ctx, helm, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("deploy: helm %s: %v\n%s\n(the controller's log: kubectl -n %s logs deploy/%s)",
			strings.Join(args[:3], " "), err, out.String(), o.Namespace, o.Release)
	}
	return waitGatewayClassAccepted(ctx, o.Kubeconfig, o.Timeout)
}

func waitGatewayClassAccepted(ctx context.Context, kubeconfig string, timeout time.Duration) error {
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return err
	}
	scheme, err := gwScheme()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	var last string
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		gc := &gwv1.GatewayClass{}
		if err := c.Get(ctx, types.NamespacedName{Name: GatewayClassName}, gc); err != nil {
			last = err.Error()
			return false, nil
		}
		cond := meta.FindStatusCondition(gc.Status.Conditions, string(gwv1.GatewayClassConditionStatusAccepted))
		if cond == nil || cond.ObservedGeneration != gc.Generation {
			last = "no current Accepted condition yet"
			return false, nil
		}
		last = fmt.Sprintf("Accepted=%s %s: %s", cond.Status, cond.Reason, cond.Message)
		return cond.Status == "True", nil
	})
	if err != nil {
		return fmt.Errorf("deploy: GatewayClass %s not accepted by the controller within %s (last: %s)", GatewayClassName, timeout, last)
	}
	return nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	cfg, err := clientConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("deploy: kubeconfig %s: %w", kubeconfig, err)
	}
	return cfg, nil
}
