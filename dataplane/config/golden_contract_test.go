package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// TestTranslatorGoldensAccepted: every resource in the xDS translator's
// golden files (controller/xds/testdata/*.out.yaml, the translator's output
// in protojson) passes the data plane's validation, so the contract both
// sides implement is the same one. Secrets are left out: the goldens carry
// placeholder PEM, which the data plane rightly refuses to parse. The files
// are read, not the controller's code imported: the data plane depends on
// the Envoy API only.
func TestTranslatorGoldensAccepted(t *testing.T) {
	files, err := filepath.Glob("../../controller/xds/testdata/*.out.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no translator goldens found (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string][]any
			if err := yaml.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			r := &Resources{Listeners: map[string]*listenerv3.Listener{}, Routes: map[string]*routev3.RouteConfiguration{},
				Clusters: map[string]*clusterv3.Cluster{}, Endpoints: map[string]*endpointv3.ClusterLoadAssignment{}}
			decode := func(v any, m proto.Message) {
				js, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				if err := protojson.Unmarshal(js, m); err != nil {
					t.Fatalf("%s: %v", js, err)
				}
			}
			for _, v := range doc["listeners"] {
				m := &listenerv3.Listener{}
				decode(v, m)
				r.Listeners[m.GetName()] = m
			}
			for _, v := range doc["routes"] {
				m := &routev3.RouteConfiguration{}
				decode(v, m)
				r.Routes[m.GetName()] = m
			}
			for _, v := range doc["clusters"] {
				m := &clusterv3.Cluster{}
				decode(v, m)
				r.Clusters[m.GetName()] = m
			}
			for _, v := range doc["endpoints"] {
				m := &endpointv3.ClusterLoadAssignment{}
				decode(v, m)
				r.Endpoints[m.GetClusterName()] = m
			}
			for _, typ := range []string{TypeListener, TypeRoute, TypeCluster, TypeEndpoint} {
				if err := Validate(typ, r); err != nil {
					t.Errorf("the data plane NACKs the translator's output: %v", err)
				}
			}
		})
	}
}
