package deploy

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/conformance/kubebin"
)

// retryRoute is an HTTPRoute whose only rule asks for retries, an
// experimental-channel field in Gateway API v1.6.3.
func retryRoute(name string) *gwv1.HTTPRoute {
	return &gwv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "gw"}}},
			Rules: []gwv1.HTTPRouteRule{{
				Retry:       &gwv1.HTTPRouteRetry{Codes: []gwv1.HTTPRouteRetryStatusCode{500, 503}, Attempts: ptr.To(2), Backoff: ptr.To(gwv1.Duration("100ms"))},
				BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "app", Port: ptr.To(gwv1.PortNumber(80))}}}},
			}},
		},
	}
}

// storedRetry creates the route and returns the retry the API server kept.
func storedRetry(t *testing.T, s *apiserver.Server, name string) *gwv1.HTTPRouteRetry {
	t.Helper()
	ctx := context.Background()
	if err := s.Client.Create(ctx, retryRoute(name)); err != nil {
		t.Fatalf("create HTTPRoute %s: %v", name, err)
	}
	got := &gwv1.HTTPRoute{}
	if err := s.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, got); err != nil {
		t.Fatal(err)
	}
	return got.Spec.Rules[0].Retry
}

// The standard CRDs make the API server prune rules[].retry: the route the
// controller reads has no retry. After InstallCRDs(experimental) over them
// (the channel the chart ships and apiserver.Start installs), every Gateway
// API CRD is of the experimental channel of the same bundle, the chart's
// own CRDs are there, and the retry is kept as written.
func TestInstallExperimentalCRDsKeepsRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	s := apiserver.Start(t)
	ctx := context.Background()
	root, err := kubebin.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}

	if err := InstallCRDs(ctx, s.Config, root, ChannelStandard); err != nil {
		t.Fatal(err)
	}
	if r := storedRetry(t, s, "before"); r != nil {
		t.Fatalf("standard channel: the API server kept retry %+v; the standard CRD of v1.6.3 has no such field, so this test's premise is wrong", *r)
	}

	for range 2 { // the second apply is a no-op, as `make cluster-up` run twice does
		if err := InstallCRDs(ctx, s.Config, root, ChannelExperimental); err != nil {
			t.Fatal(err)
		}
	}

	var crds apiextensionsv1.CustomResourceDefinitionList
	if err := s.Client.List(ctx, &crds); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range crds.Items {
		seen[c.Name] = true
		if !strings.HasPrefix(c.Spec.Group, "gateway.networking.") {
			continue
		}
		if ch, v := c.Annotations["gateway.networking.k8s.io/channel"], c.Annotations["gateway.networking.k8s.io/bundle-version"]; ch != ChannelExperimental || v != "v1.6.3" {
			t.Errorf("CRD %s: channel %q bundle %q, want experimental v1.6.3 (the conformance suite refuses mixed channels)", c.Name, ch, v)
		}
	}
	for _, name := range []string{"httproutes.gateway.networking.k8s.io", "gateways.gateway.networking.k8s.io", "tlsroutes.gateway.networking.k8s.io",
		"edgewayconfigs.gateway.edgeway.dev", "acmeissuers.gateway.edgeway.dev"} {
		if !seen[name] {
			t.Errorf("CRD %s is not installed", name)
		}
	}

	r := storedRetry(t, s, "after")
	if r == nil {
		t.Fatal("experimental channel: the API server pruned rules[].retry")
	}
	if got := fmt.Sprintf("codes %v attempts %d backoff %s", r.Codes, *r.Attempts, *r.Backoff); got != "codes [500 503] attempts 2 backoff 100ms" {
		t.Errorf("stored retry: %s, want codes [500 503] attempts 2 backoff 100ms", got)
	}
}

func TestInstallCRDsRefusesUnknownChannel(t *testing.T) {
	root, err := kubebin.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	_, err = crdFiles(context.Background(), root, "beta")
	if err == nil || !strings.Contains(err.Error(), `"beta"`) {
		t.Fatalf("crdFiles(beta): %v, want an error naming the channel", err)
	}
}

// Both channels list the module's CRDs of that channel and the chart's
// own, never the safe-upgrades policy (not a CRD) nor the chart's standard
// Gateway API copies.
func TestCRDFilesOfEachChannel(t *testing.T) {
	root, err := kubebin.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{ChannelStandard, ChannelExperimental} {
		files, err := crdFiles(context.Background(), root, ch)
		if err != nil {
			t.Fatal(err)
		}
		var gw, own int
		for _, f := range files {
			switch {
			case strings.Contains(f, "_vap_"):
				t.Errorf("%s: %s is a ValidatingAdmissionPolicy", ch, f)
			case strings.Contains(f, "/config/crd/"+ch+"/gateway.networking."):
				gw++
			case strings.Contains(f, "/charts/edgeway/crds/gateway.edgeway.dev_"):
				own++
			default:
				t.Errorf("%s: unexpected file %s", ch, f)
			}
			if _, err := readCRDs(f); err != nil {
				t.Error(err)
			}
		}
		if gw < 10 || own != 2 {
			t.Errorf("%s: %d Gateway API CRD files and %d of the chart, want at least 10 and 2", ch, gw, own)
		}
	}
}
