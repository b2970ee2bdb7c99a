package kube

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/controller/snapshot/snapshottest"
)

// TestTranslatorDoesNotWriteItsInput holds the Source's translation to
// what the copy memo (copies.go) needs: successive builds hand the same
// objects to the Source's gatewayapi.Translator, so it must write nothing
// into them, in a first translation, in one that reuses its memo with the
// same objects, and in one after another Snapshot of equal objects
// (gatewayapi's TestTranslateDoesNotWriteItsInput covers one Translate).
// Every golden input, with identities as an API server gives them.
func TestTranslatorDoesNotWriteItsInput(t *testing.T) {
	snapshottest.EachGoldenInput(t, "*.in.yaml", func(t *testing.T, in string) {
		copies := snapshottest.Copies(t, in, 3, withIdentities)
		snap, pristine, other := copies[0], copies[1], copies[2]
		var tr gatewayapi.Translator
		for i, s := range []*snapshot.Snapshot{snap, snap, other, snap} {
			out, _ := tr.Translate(s)
			ir.SplitByGateway(out)
			if !reflect.DeepEqual(snap, pristine) {
				t.Fatalf("translation %d changed its input Snapshot", i+1)
			}
		}
		if len(snap.HTTPRoutes) > 0 && tr.Reused == 0 {
			t.Error("the Translator reused no compiled route: its memo went untested")
		}
	})
}

// withIdentities gives every object of snap the UID, resourceVersion and
// generation an API server would (the same on every parse), sorted as a
// build leaves it.
func withIdentities(snap *snapshot.Snapshot) {
	eachObject(snap, func(kind string, o metav1.Object) {
		o.SetUID(types.UID(kind + "/" + o.GetNamespace() + "/" + o.GetName()))
		o.SetResourceVersion("1")
		o.SetGeneration(1)
	})
	snap.Sort()
}

// eachObject calls fn with every object of every kind of snap (the
// Snapshot's fields that are slices of API objects).
func eachObject(snap *snapshot.Snapshot, fn func(kind string, o metav1.Object)) {
	v := reflect.ValueOf(snap).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() != reflect.Slice {
			continue
		}
		for j := range f.Len() {
			if o, ok := f.Index(j).Interface().(metav1.Object); ok && !f.Index(j).IsNil() {
				fn(v.Type().Field(i).Name, o)
			}
		}
	}
}
