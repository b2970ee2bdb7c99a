package gatewayapi

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
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
			snap, pristine := loadGoldenInput(t, in), loadGoldenInput(t, in)
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
