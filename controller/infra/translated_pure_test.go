package infra

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/controller/snapshot/snapshottest"
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
	selectors := 0
	snapshottest.EachGoldenInput(t, "*.in.yaml", func(t *testing.T, in string) {
		copies := snapshottest.Copies(t, in, 2, selectorOnEveryService)
		snap, pristine := copies[0], copies[1]
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
	if selectors == 0 {
		t.Error("no golden input has a Service with a selector behind a cluster: the selectors' copies went untested")
	}
}

// selectorOnEveryService gives every Service a selector (few golden ones
// have one): the backends of a Service with one are its Pods, and keep the
// selector.
func selectorOnEveryService(snap *snapshot.Snapshot) {
	for _, svc := range snap.Services {
		if len(svc.Spec.Selector) == 0 && svc.Spec.Type != corev1.ServiceTypeExternalName {
			svc.Spec.Selector = map[string]string{"app": svc.Name}
		}
	}
}
