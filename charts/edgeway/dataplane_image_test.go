package chart_test

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// TestDataplaneImage: the controller provisions data planes from
// <repository>-dataplane:<tag> (edgeway-dataplane, the data plane alone) by
// default; from the controller's own image when it is pinned by digest (a
// digest names one image, and `edgeway dataplane` runs the same args); from
// dataplane.image when it is set.
func TestDataplaneImage(t *testing.T) {
	digest := "sha256:" + strings.Repeat("cd", 32)
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"default", nil, "ghcr.io/edgeway/edgeway-dataplane:0.1.0"},
		{"repository and tag", map[string]any{"image": map[string]any{"repository": "registry.example.com/gw/edgeway", "tag": "1.2.3"}},
			"registry.example.com/gw/edgeway-dataplane:1.2.3"},
		{"digest", map[string]any{"image": map[string]any{"digest": digest}}, "ghcr.io/edgeway/edgeway@" + digest},
		{"dataplane.image", map[string]any{"image": map[string]any{"digest": digest}, "dataplane": map[string]any{"image": "registry.example.com/dp:7"}},
			"registry.example.com/dp:7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := one[*appsv1.Deployment](t, render(t, tc.values)).Spec.Template.Spec.Containers[0].Args
			if want := "--dataplane-image=" + tc.want; !slices.Contains(args, want) {
				t.Errorf("controller args %v, want %s", args, want)
			}
		})
	}
}
