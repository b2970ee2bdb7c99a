package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"

	"github.com/edgeway/edgeway/certs/acme"
	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// defaultStateDir is where standalone mode keeps what it creates itself
// (ACME accounts, certificates and order state): $EDGEWAY_STATE_DIR, else
// /var/lib/edgeway for root, else $XDG_STATE_HOME/edgeway
// (~/.local/state/edgeway).
func defaultStateDir() string {
	if d := os.Getenv("EDGEWAY_STATE_DIR"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/edgeway"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "edgeway")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "edgeway")
	}
	return ".edgeway-state"
}

// standaloneTranslation is the standalone pipeline from a loaded directory to
// the data plane, with the ACME manager as a second source: the Secrets it
// writes to the state directory are laid over every Snapshot, and each write
// re-translates the last good directory load without re-reading the files
// (so a challenge reaches the data plane even while a broken file is being
// edited).
type standaloneTranslation struct {
	stateDir string
	log      *slog.Logger
	reg      prometheus.Registerer
	publish  func(*snapshot.Snapshot) error // translate and publish (xDS + statuses)
	ctx      context.Context
	// unbindable are the sockets the data plane could not bind, left out
	// of every translation until they bind (bindfailures.go).
	unbindable *unbindableSockets

	mu    sync.Mutex
	files *snapshot.Snapshot // the last good load of the config directory
	store *acme.FileStore    // nil until a listener asks for ACME
	mgr   *acme.Manager
}

// onFiles is the file source's OnSnapshot.
func (t *standaloneTranslation) onFiles(snap *snapshot.Snapshot) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.apply(snap); err != nil {
		return err
	}
	t.files = snap
	return nil
}

// apply overlays the state directory's Secrets on a copy of files, publishes
// its translation and hands the certificates it wants to the ACME manager
// (which it starts on first need). t.mu is held.
func (t *standaloneTranslation) apply(files *snapshot.Snapshot) error {
	snap := *files
	if t.unbindable != nil {
		snap.BindFailures = t.unbindable.list()
	}
	if t.store != nil {
		state, err := t.store.Secrets()
		if err != nil {
			return fmt.Errorf("reading ACME state from %s: %w", t.stateDir, err)
		}
		snap.Secrets = overlaySecrets(files.Secrets, state)
		snap.Sort()
	}
	if err := t.publish(&snap); err != nil {
		return err
	}
	want := gatewayapi.ACMECertificates(&snap)
	if len(want) == 0 && t.mgr == nil {
		return nil
	}
	if t.mgr == nil {
		if err := t.startManager(); err != nil {
			// The listeners stay Pending with this error in the log; the
			// rest of the configuration is served.
			t.log.Error("ACME is not available", "error", err.Error())
			return nil
		}
		// The state directory may already hold certificates from an
		// earlier run: publish again with them before the manager looks.
		return t.apply(files)
	}
	t.mgr.Sync(want)
	return nil
}

func (t *standaloneTranslation) startManager() error {
	store, err := acme.NewFileStore(t.stateDir, func() { go t.republish("an ACME Secret write") })
	if err != nil {
		return fmt.Errorf("state directory %s: %w (pick another with --state-dir or EDGEWAY_STATE_DIR)", t.stateDir, err)
	}
	t.store = store
	t.mgr = acme.New(acme.Options{
		Store: store,
		// The config directory's owner is the machine's owner: the exec DNS
		// provider runs their own script (refused in Kubernetes, where an
		// ACMEIssuer author is not the controller's owner).
		AllowExecDNSProvider: true,
		Log:                  t.log,
		Registerer:           t.reg,
		Events: func(e acme.Event) {
			level := slog.LevelInfo
			if e.Warning {
				level = slog.LevelWarn
			}
			t.log.Log(context.Background(), level, e.Message, "reason", e.Reason, "secret", e.Secret.String(), "gateways", e.Gateways)
		},
	})
	go func() { _ = t.mgr.Run(t.ctx) }()
	t.log.Info("ACME manager started", "state-dir", t.stateDir)
	return nil
}

// overlaySecrets returns base with every Secret of over added, replacing a
// Secret of the same namespace and name: what ACME wrote wins over a
// placeholder in the config directory.
func overlaySecrets(base, over []*corev1.Secret) []*corev1.Secret {
	if len(over) == 0 {
		return base
	}
	replaced := make(map[string]bool, len(over))
	for _, s := range over {
		replaced[s.Namespace+"/"+s.Name] = true
	}
	out := make([]*corev1.Secret, 0, len(base)+len(over))
	for _, s := range base {
		if !replaced[s.Namespace+"/"+s.Name] {
			out = append(out, s)
		}
	}
	return append(out, over...)
}
