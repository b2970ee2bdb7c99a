package gatewayapi

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestTranslateDoesNotWriteItsInput: after Translate, every golden input's
// Snapshot is as parsed (compared with a second, untranslated parse of
// the same file). The Kubernetes source hands Translate objects listed
// from its cache; a translation that wrote them would need them copied.
func TestTranslateDoesNotWriteItsInput(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			snap, err := snapshot.Parse(in, data)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			pristine, err := snapshot.Parse(in, data)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			snap.IsolateGateways = isolated(name)
			pristine.IsolateGateways = snap.IsolateGateways
			if !reflect.DeepEqual(snap, pristine) {
				t.Fatal("two parses of one file differ; the comparison below would mean nothing")
			}
			Translate(snap)
			if !reflect.DeepEqual(snap, pristine) {
				t.Fatal("Translate changed its input Snapshot")
			}
		})
	}
}
