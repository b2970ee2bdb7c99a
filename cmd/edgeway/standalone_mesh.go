package main

import (
	"log/slog"

	"github.com/edgeway/edgeway/certs/mesh"
	"github.com/edgeway/edgeway/controller/infra"
)

// newMeshIdentities is the standalone mode's mesh identity manager: it
// lays each Gateway's Istio workload certificate over every Snapshot
// before translation (certs/mesh), and re-publishes the last good load
// when a certificate is due for renewal. The identity's default service
// account is the one controller/infra would provision, so that a Gateway
// moved to Kubernetes keeps its identity.
func newMeshIdentities(t *standaloneTranslation, log *slog.Logger) *mesh.Manager {
	return mesh.NewManager(mesh.Options{
		DefaultServiceAccount: infra.ResourceName,
		OnRenewal:             func() { t.republish("mesh workload certificate renewal") },
		Log:                   log,
	})
}

// republish translates and publishes the last good load again (another
// source than the files changed).
func (t *standaloneTranslation) republish(why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.files == nil {
		return
	}
	if err := t.apply(t.files); err != nil {
		t.log.Error("publishing the configuration", "after", why, "error", err.Error())
	}
}
