package kube

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestTranslatorDoesNotWriteItsInput holds the Source's translation to
// what the copy memo (copies.go) needs: successive builds hand the same
// objects to the Source's gatewayapi.Translator, so it must write nothing
// into them, in a first translation, in one that reuses its memo with the
// same objects, and in one after another Snapshot of equal objects
// (gatewayapi's TestTranslateDoesNotWriteItsInput covers one Translate).
// Every golden input, with identities as an API server gives them.
func TestTranslatorDoesNotWriteItsInput(t *testing.T) {
	ins, err := filepath.Glob("../../gatewayapi/testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".in.yaml"), func(t *testing.T) {
			snap, pristine, other := loadWithIdentities(t, in), loadWithIdentities(t, in), loadWithIdentities(t, in)
			if !reflect.DeepEqual(snap, pristine) {
				t.Fatal("two parses of one file differ; the comparisons below would mean nothing")
			}
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
}

// loadWithIdentities parses a golden input and gives every object the UID,
// resourceVersion and generation an API server would (the same on every
// parse), sorted as a build leaves it.
func loadWithIdentities(t *testing.T, path string) *snapshot.Snapshot {
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
	eachObject(snap, func(kind string, o metav1.Object) {
		o.SetUID(types.UID(kind + "/" + o.GetNamespace() + "/" + o.GetName()))
		o.SetResourceVersion("1")
		o.SetGeneration(1)
	})
	snap.Sort()
	return snap
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
