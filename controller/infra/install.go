package infra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/edgeway/edgeway/controller/ca"
	"github.com/edgeway/edgeway/controller/kubecontroller"
	"github.com/edgeway/edgeway/controller/source/kube"
	"github.com/edgeway/edgeway/controller/xds"
)

// InstallOptions wire secure xDS and provisioning into a controller.
type InstallOptions struct {
	Options
	// Namespace of the controller: it holds the CA Secret.
	Namespace string
	// CASecretName is the Secret of the xDS CA (created when missing).
	CASecretName string
	// XDSDNSNames are the names in each replica's xDS serving certificate:
	// those of the controller's xDS Service (ca.ServiceDNSNames), among
	// them the host of Options.XDSAddress.
	XDSDNSNames []string
	CAPolicy    ca.Policy
	Log         *slog.Logger
}

// Install makes c serve xDS over mutual TLS with node identity, with
// certificates from the CA in the Secret o.CASecretName (loaded now: every
// replica needs it to serve), follows and (on the leader) rotates that CA,
// and provisions each Gateway's infrastructure. Call it from a
// kubecontroller hook, before the controller runs.
func Install(ctx context.Context, c *kubecontroller.Controller, o InstallOptions) (*ca.Keeper, *Provisioner, error) {
	if o.Namespace == "" || o.CASecretName == "" || len(o.XDSDNSNames) == 0 || o.XDSAddress == "" {
		return nil, nil, errors.New("infra: Namespace, CASecretName, XDSDNSNames and XDSAddress are required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	// The CA is read and written without the informer cache: the cache
	// does not run yet, and a rotation must start from the stored state.
	direct, err := client.New(c.Manager.GetConfig(), client.Options{Scheme: c.Manager.GetScheme()})
	if err != nil {
		return nil, nil, fmt.Errorf("infra: client for the CA Secret: %w", err)
	}
	keeper := ca.NewKeeper(direct, types.NamespacedName{Namespace: o.Namespace, Name: o.CASecretName}, o.CAPolicy, o.Log.With("component", "xds-ca"))
	if _, err := keeper.Load(ctx); err != nil {
		return nil, nil, err
	}
	src := ca.NewServingSource(keeper.State, o.XDSDNSNames, o.LeafValidity)
	c.XDSServerOptions = append(c.XDSServerOptions, xds.SecureServerOptions(src)...)
	if err := c.Manager.Add(keeper); err != nil {
		return nil, nil, err
	}
	if err := c.Manager.Add(keeper.Rotator()); err != nil {
		return nil, nil, err
	}
	p := New(o.Options, keeper, o.Log)
	keeper.OnChange(func(*ca.State) { p.CAChanged() })
	// The writer is created after the hooks, and reconciles only start
	// with the manager, by when it exists.
	p.OnChange(func() {
		if c.Writer != nil {
			c.Writer.Trigger()
		}
	})
	// A listener on the data plane's own port would not bind (and the
	// Service would send its traffic to the admin server).
	c.Source.ReservePorts(ReservedPorts()...)
	// What each Gateway's data plane reaches, for its NetworkPolicy.
	c.Source.Subscribe(func(r *kube.Result) { p.Translated(r.Snapshot, r.Nodes, r.PublishErrors) })
	c.Provisioner = p
	return keeper, p, nil
}
