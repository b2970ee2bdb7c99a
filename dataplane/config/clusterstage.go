package config

import (
	"maps"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// clusterStage keeps the clusters of a Compiler's last successful compile,
// linked to their endpoints and TLS, with the secrets and the resources
// they were made from. Most updates change one type, and the xDS client
// passes the other types' resources on as the same messages (Resources are
// read-only): after a route change the clusters are the very same messages,
// so the compile takes the compiled clusters as they are, and with them the
// virtual hosts linked to them (vhostCache), instead of compiling,
// linking and copying everything again.
//
// Every compile of new clusters gets a new generation: a virtual host
// linked in a compile of generation g points to the clusters of g.
//
// A nil *clusterStage keeps nothing. Not safe for concurrent use.
type clusterStage struct {
	secrets   map[string]*tlsv3.Secret
	endpoints map[string]*endpointv3.ClusterLoadAssignment
	clusters  map[string]*clusterv3.Cluster

	certs    map[string]*secret
	compiled map[string]*Cluster // linked; shared by every Config compiled from it
	gen      uint64              // of compiled; 0: nothing recorded
	gens     uint64              // generations handed out
}

// unchanged reports whether r's secrets, endpoints and clusters are the
// messages the recorded clusters were compiled from.
func (s *clusterStage) unchanged(r *Resources) bool {
	return s != nil && s.gen != 0 &&
		sameMessages(s.secrets, r.Secrets) && sameMessages(s.endpoints, r.Endpoints) && sameMessages(s.clusters, r.Clusters)
}

// newGen is the generation of newly compiled clusters; 0 without a stage.
func (s *clusterStage) newGen() uint64 {
	if s == nil {
		return 0
	}
	s.gens++
	return s.gens
}

// record keeps the clusters of a successful compile of r.
func (s *clusterStage) record(r *Resources, certs map[string]*secret, compiled map[string]*Cluster, gen uint64) {
	if s == nil {
		return
	}
	// Copies of the maps: a caller that puts new messages into the same
	// map must not make them look like the recorded ones.
	s.secrets, s.endpoints, s.clusters = maps.Clone(r.Secrets), maps.Clone(r.Endpoints), maps.Clone(r.Clusters)
	s.certs, s.compiled, s.gen = certs, compiled, gen
}

// sameMessages reports whether a and b hold the same messages (pointers)
// under the same names.
func sameMessages[M comparable](a, b map[string]M) bool {
	if len(a) != len(b) {
		return false
	}
	for n, m := range b {
		if o, ok := a[n]; !ok || o != m {
			return false
		}
	}
	return true
}
