package gatewayapi

import (
	"testing"

	"sigs.k8s.io/gateway-api/pkg/features"
)

// Every claimed name is a real feature of the pinned gateway-api version,
// listed once, and the result is sorted (the API requires it).
func TestSupportedFeaturesAreKnownSortedAndUnique(t *testing.T) {
	known := map[features.FeatureName]bool{}
	for _, f := range features.AllFeatures.UnsortedList() {
		known[f.Name] = true
	}
	got := SupportedFeatures()
	if len(got) != len(supportedFeatures) {
		t.Fatalf("%d features, want %d", len(got), len(supportedFeatures))
	}
	for i, f := range got {
		if !known[features.FeatureName(f.Name)] {
			t.Errorf("%q is not a gateway-api feature", f.Name)
		}
		if i > 0 && got[i-1].Name >= f.Name {
			t.Errorf("not sorted or duplicate at %q", f.Name)
		}
	}
}
