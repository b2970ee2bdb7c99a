// Package deploy installs edgeway into a cluster the way a user does: the
// Helm chart in charts/edgeway, with helm (built from the Go module proxy by
// hack/kube-bins.sh), then waits until the controller serves its
// GatewayClass. The local cluster's node maps the chart's image
// (ghcr.io/edgeway/edgeway) to the edgeway binary built from this checkout,
// so what runs is the code under test. By default the Gateway API CRDs are
// the experimental channel (crds.go), installed before the chart as a user
// of experimental features does.
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
	"github.com/edgeway/edgeway/conformance/serviceproxy"
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
	// GatewayAPIChannel is the channel of the Gateway API CRDs:
	// ChannelExperimental (the default: the controller claims experimental
	// features such as HTTPRouteRetry in its GatewayClass status, and the
	// conformance suite tests them, which only works when the API server
	// keeps their fields) or ChannelStandard (the chart's crds/ as helm
	// installs them).
	GatewayAPIChannel string
}

// Defaults of the local cluster's install. One controller replica: every
// replica translates every change, and the conformance run shares 2 cores
// with dozens of data planes; leader election stays on, as in production.
// The class uses an EdgewayConfig whose spec.service.addressAnnotation is
// the local load balancer's (serviceproxy.LoadBalancerIPsAnnotation), as a
// user of MetalLB would name metallb.io/loadBalancerIPs: a Gateway's
// spec.addresses then reach the load balancer (GatewayStaticAddresses).
var localValues = []string{
	"replicaCount=1",
	"logging.format=text",
	"edgewayConfig.create=true",
	"gatewayClass.useEdgewayConfig=true",
	"edgewayConfig.spec.service.addressAnnotation=" + serviceproxy.LoadBalancerIPsAnnotation,
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
	if o.GatewayAPIChannel == "" {
		o.GatewayAPIChannel = ChannelExperimental
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
	if o.GatewayAPIChannel != ChannelExperimental {
		// The chart's crds/ are the experimental channel; helm 4
		// server-side applies them on install, which would put them back
		// over the ones installed here.
		cfg, err := restConfig(o.Kubeconfig)
		if err != nil {
			return err
		}
		if err := InstallCRDs(ctx, cfg, root, o.GatewayAPIChannel); err != nil {
			return err
		}
		args = append(args, "--skip-crds")
	}
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
