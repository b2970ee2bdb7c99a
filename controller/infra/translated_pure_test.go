package infra

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestTranslatedDoesNotWriteTheSnapshot: the Kubernetes source hands the
// objects of an unchanged Snapshot object to every build after it
// (controller/source/kube copies.go), so Provisioner.Translated, which
// reads each translation's Snapshot for the Services and ServiceEntries
// behind a Gateway's clusters, must write nothing into it, and the
// backends it keeps must share nothing with it: a later write to them
// (none is made today) would otherwise reach the next Snapshots. Every
// golden input of the translator, translated as the source does.
func TestTranslatedDoesNotWriteTheSnapshot(t *testing.T) {
	ins, err := filepath.Glob("../gatewayapi/testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	selectors := 0
	for _, in := range ins {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".in.yaml"), func(t *testing.T) {
			snap, pristine := parseGolden(t, in), parseGolden(t, in)
			if !reflect.DeepEqual(snap, pristine) {
				t.Fatal("two parses of one file differ; the comparison below would mean nothing")
			}
			out, _ := gatewayapi.Translate(snap)
			p := &Provisioner{backends: newGatewayBackends()}
			p.Translated(snap, ir.SplitByGateway(out), nil)
			if !reflect.DeepEqual(snap, pristine) {
				t.Fatal("Translated changed the Snapshot")
			}
			// Scribble over everything kept: the Snapshot must not see it.
			for _, bs := range p.backends.byNode {
				for i := range bs {
					for k := range bs[i].Peer.Selector {
						bs[i].Peer.Selector[k] = "written"
						selectors++
					}
					bs[i] = Backend{}
				}
			}
			if !reflect.DeepEqual(snap, pristine) {
				t.Fatal("the backends Translated keeps share memory with the Snapshot")
			}
		})
	}
	if selectors == 0 {
		t.Error("no golden input has a Service with a selector behind a cluster: the selectors' copies went untested")
	}
}

// parseGolden parses a golden input of the translator.
func parseGolden(t *testing.T, path string) *snapshot.Snapshot {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Parse(path, data)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	snap.IsolateGateways = true
	// A selector on every Service (few golden ones have one): the
	// backends of a Service with one are its Pods, and keep the selector.
	for _, svc := range snap.Services {
		if len(svc.Spec.Selector) == 0 && svc.Spec.Type != corev1.ServiceTypeExternalName {
			svc.Spec.Selector = map[string]string{"app": svc.Name}
		}
	}
	return snap
}
