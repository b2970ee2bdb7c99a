package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/edgeway/edgeway/certs/mesh"
	"github.com/edgeway/edgeway/controller/infra"
	"github.com/edgeway/edgeway/controller/kubecontroller"
)

// meshFlags configure the Istio mesh identities of `edgeway controller`.
type meshFlags struct{ enabled bool }

var meshF meshFlags

func init() {
	controllerExtensions = append(controllerExtensions, controllerExtension{register: meshF.register, setup: meshF.setup})
}

func (f *meshFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.enabled, "mesh-identities", true, "issue the Istio workload certificate of every Gateway whose EdgewayConfig sets spec.mesh (mTLS to mesh backends)")
}

// setup lays each Gateway's mesh workload certificate over every Snapshot
// the source builds, on every replica: each replica issues its own
// certificate for the same identity and keeps it in memory (the key is
// never written to the API server), so no replica depends on another and
// no leader election is involved. A renewal marks the source dirty.
func (f *meshFlags) setup(ctx context.Context, c *kubecontroller.Controller, _ *controllerFlags, log *slog.Logger) error {
	if !f.enabled {
		log.Info("--mesh-identities=false: Gateways with spec.mesh get no workload certificate from this controller")
		return nil
	}
	m := mesh.NewManager(mesh.Options{
		DefaultServiceAccount: infra.ResourceName,
		OnRenewal:             c.Source.MarkDirty,
		Log:                   log.With("component", "mesh-identity"),
	})
	c.Source.SetOverlay(m.Overlay)
	go func() {
		<-ctx.Done()
		m.Stop()
	}()
	return nil
}
