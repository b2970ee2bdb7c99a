package infra

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestNetworkPolicyGolden: each testdata/networkpolicy/NAME.in.yaml is a
// cluster's objects (Gateways, classes, EdgewayConfigs, ListenerSets,
// routes, Services, EndpointSlices, ServiceEntries, the controller's xDS
// Service). They go through the real translation in Kubernetes mode
// (IsolateGateways, SplitByGateway) and the provisioner's rendering, as
// the controller does; NAME.out.yaml holds each Gateway's NetworkPolicy
// (-update rewrites it).
func TestNetworkPolicyGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/networkpolicy/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			snap, err := snapshot.LoadFiles(in)
			if err != nil {
				t.Fatal(err)
			}
			got := renderNetworkPoliciesYAML(t, snap)
			out := strings.TrimSuffix(in, ".in.yaml") + ".out.yaml"
			if *update {
				if err := os.WriteFile(out, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendering (go test ./controller/infra -run TestNetworkPolicyGolden -update, then review the diff):\n%s", out, got)
			}
		})
	}
}

func renderNetworkPoliciesYAML(t *testing.T, snap *snapshot.Snapshot) []byte {
	t.Helper()
	snap.ControllerName = testOptions.ControllerName
	snap.IsolateGateways = true
	x, _ := gatewayapi.Translate(snap)
	parts := ir.SplitByGateway(x)
	var xdsService *corev1.Service
	for _, s := range snap.Services {
		if s.Namespace == "edgeway-system" && s.Name == "edgeway-xds" {
			xdsService = s
		}
	}
	var b bytes.Buffer
	for _, gw := range snap.Gateways {
		node := gw.Namespace + "/" + gw.Name
		fmt.Fprintf(&b, "# Gateway %s\n", node)
		cfg := testGatewayConfig(t, snap, gw)
		var sets []gwv1.ListenerSet
		for _, ls := range snap.ListenerSets {
			if namesParent(ls, gw) {
				sets = append(sets, *ls)
			}
		}
		np, prob := renderNetworkPolicy(gw, sets, cfg, testOptions, xdsService, backendsOf(parts[node], snap))
		if prob != nil {
			fmt.Fprintf(&b, "# problem: %s: %s\n", prob.Reason, prob.Message)
		}
		if np == nil {
			b.WriteString("# no NetworkPolicy (spec.networkPolicy.enabled is not true)\n")
			continue
		}
		y, err := yaml.Marshal(np)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.Bytes()
}

// testGatewayConfig resolves gw's EdgewayConfigs as Provisioner.resolve
// does, from the snapshot.
func testGatewayConfig(t *testing.T, snap *snapshot.Snapshot, gw *gwv1.Gateway) config {
	t.Helper()
	find := func(ns, name string) *v1alpha1.EdgewayConfigSpec {
		for _, c := range snap.EdgewayConfigs {
			if c.Namespace == ns && c.Name == name {
				return &c.Spec
			}
		}
		t.Fatalf("EdgewayConfig %s/%s not in the input", ns, name)
		return nil
	}
	var specs []*v1alpha1.EdgewayConfigSpec
	for _, gc := range snap.GatewayClasses {
		if string(gc.Name) == string(gw.Spec.GatewayClassName) && gc.Spec.ParametersRef != nil {
			specs = append(specs, find(string(*gc.Spec.ParametersRef.Namespace), gc.Spec.ParametersRef.Name))
		}
	}
	if inf := gw.Spec.Infrastructure; inf != nil && inf.ParametersRef != nil {
		specs = append(specs, find(gw.Namespace, inf.ParametersRef.Name))
	}
	return mergeConfig(testOptions, specs...)
}

// TestServiceEntryBackends: the ServiceEntry-only path an egress Gateway
// without per-host clusters would use gives the same peers as the IR path.
func TestServiceEntryBackends(t *testing.T) {
	snap, err := snapshot.LoadFiles("testdata/networkpolicy/serviceentries.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, se := range snap.ServiceEntries {
		for _, b := range serviceEntryBackends(se) {
			got[se.Name] = append(got[se.Name], b.Peer.key()+" "+b.portKey())
		}
	}
	want := map[string][]string{
		"payments-static": {"1/198.18.7.10/32 TCP/8443", "1/198.18.7.11/32 TCP/9443"},
		"weather-dns":     {"2/anywhere TCP/80", "2/anywhere TCP/443"},
	}
	for name, w := range want {
		if strings.Join(got[name], ",") != strings.Join(w, ",") {
			t.Errorf("%s: %v, want %v", name, got[name], w)
		}
	}
}

// TestClusterCIDRs: the CRD refuses what is not a CIDR (isCIDR); should one
// get through anyway, it is left out of the policy and reported, and the
// others are normalized and split by family.
func TestClusterCIDRs(t *testing.T) {
	v4, v6, prob := splitCIDRs([]string{"10.96.0.1/12", "fd00:10:244::/56", "nope", "10.96.0.0/12"})
	if strings.Join(v4, ",") != "10.96.0.0/12" || strings.Join(v6, ",") != "fd00:10:244::/56" {
		t.Errorf("v4 %v, v6 %v", v4, v6)
	}
	if prob == nil || prob.Reason != gwv1.GatewayReasonInvalidParameters || !strings.Contains(prob.Message, `"nope" not a CIDR`) {
		t.Errorf("problem %+v", prob)
	}
}
