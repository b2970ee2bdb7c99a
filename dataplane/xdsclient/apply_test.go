package xdsclient_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachetypes "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/xds"
	"github.com/edgeway/edgeway/dataplane/config"
	"github.com/edgeway/edgeway/dataplane/proxy"
)

// routeWorld is what the test serves: two HTTP listeners, each with its
// route configuration, and the hosts each one routes to which backend.
type routeWorld struct {
	hosts [2]map[string]string // per listener: host -> cluster
	// endpoints: cluster -> backend address (EDS)
	endpoints map[string]string
}

func (w routeWorld) clone() routeWorld {
	out := routeWorld{endpoints: maps.Clone(w.endpoints)}
	for i := range w.hosts {
		out.hosts[i] = maps.Clone(w.hosts[i])
	}
	return out
}

// resources are w's xDS resources, as the controller translates them.
func (w routeWorld) resources(t testing.TB, ports [2]uint32) map[resource.Type][]cachetypes.Resource {
	t.Helper()
	x := &ir.IR{}
	for i, hosts := range w.hosts {
		rt := &ir.RouteTable{Name: "rt-" + strconv.Itoa(i)}
		for _, h := range slices.Sorted(maps.Keys(hosts)) {
			rt.VirtualHosts = append(rt.VirtualHosts, &ir.VirtualHost{Name: h, Domains: []string{h}, Routes: []*ir.Route{{
				Name:    "r/" + h,
				Match:   ir.RouteMatch{Path: &ir.PathMatch{Type: ir.PathPrefix, Value: "/"}},
				Forward: &ir.Forward{Backends: []ir.WeightedCluster{{Cluster: hosts[h], Weight: 1}}},
			}}})
		}
		x.RouteTables = append(x.RouteTables, rt)
		x.Listeners = append(x.Listeners, &ir.Listener{Name: fmt.Sprintf("127.0.0.1:%d", ports[i]), Address: "127.0.0.1", Port: ports[i],
			HTTP: &ir.HTTPChain{RouteTable: rt.Name}})
	}
	for _, c := range slices.Sorted(maps.Keys(w.endpoints)) {
		host, port, err := net.SplitHostPort(w.endpoints[c])
		if err != nil {
			t.Fatal(err)
		}
		p, _ := strconv.Atoi(port)
		x.Clusters = append(x.Clusters, &ir.Cluster{Name: c, Discovery: ir.DiscoveryEDS, Endpoints: []ir.Endpoint{{Address: host, Port: uint32(p)}}})
	}
	res, err := xds.Translate(x)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// rawServer is go-control-plane's ADS server with a snapshot cache, on
// loopback: the test decides every byte the data plane gets, invalid ones
// included. Each type's version is its content's, so a change of the
// routes sends only RDS, as the controller does.
type rawServer struct {
	cache cachev3.SnapshotCache
	addr  string
	last  map[resource.Type][]byte
	vers  map[resource.Type]int
}

func startRawServer(t testing.TB) *rawServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &rawServer{cache: cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil), last: map[resource.Type][]byte{}, vers: map[resource.Type]int{}}
	g := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, serverv3.NewServer(ctx, s.cache, nil))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(func() { g.Stop(); cancel() })
	s.addr = lis.Addr().String()
	return s
}

// set publishes res and returns the version of each type.
func (s *rawServer) set(t *testing.T, res map[resource.Type][]cachetypes.Resource) map[string]string {
	t.Helper()
	snap := &cachev3.Snapshot{}
	versions := map[string]string{}
	for _, typ := range []resource.Type{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType, resource.SecretType} {
		var all []byte
		for _, r := range res[typ] {
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		if s.last[typ] == nil || string(all) != string(s.last[typ]) {
			s.vers[typ]++
			s.last[typ] = all
		}
		versions[typ] = strconv.Itoa(s.vers[typ])
		snap.Resources[cachev3.GetResponseType(typ)] = cachev3.NewResources(versions[typ], res[typ])
	}
	if err := s.cache.SetSnapshot(context.Background(), node, snap); err != nil {
		t.Fatal(err)
	}
	return versions
}

// nameBackend answers every request with its name.
func nameBackend(t *testing.T, name string) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) })}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Close() })
	return lis.Addr().String()
}

// serves checks every host of every listener of w through the proxy's
// sockets: a routed host answers with its cluster's backend's name, any
// other host of the test 404.
func serves(t *testing.T, p *proxy.Proxy, w routeWorld, names map[string]string, all []string) {
	t.Helper()
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range w.hosts {
		addr := p.ListenerAddr("127.0.0.1:" + strconv.Itoa(int(listenerPorts[i])))
		if addr == nil {
			t.Fatalf("listener %d is not served", i)
		}
		for _, h := range all {
			req, err := http.NewRequest("GET", "http://"+addr.String()+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = h
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatalf("listener %d, host %s: %v", i, h, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want, wantStatus := "", http.StatusNotFound
			if c, ok := w.hosts[i][h]; ok {
				want, wantStatus = names[w.endpoints[c]], http.StatusOK
			}
			if resp.StatusCode != wantStatus || (wantStatus == http.StatusOK && string(body) != want) {
				t.Errorf("listener %d, host %s: %d %q, want %d %q", i, h, resp.StatusCode, body, wantStatus, want)
			}
		}
	}
}

var listenerPorts [2]uint32

// TestRouteChangesServedThroughProxy: a route configuration of many
// virtual hosts changed update by update, through go-control-plane's
// server, the xDS client and the proxy on real sockets, exercising what a
// Compiler reuses between updates (the decoder's unchanged virtual hosts,
// the compiled and linked ones used as they are, the host index made from
// the last one): one host changed, a host removed and one added, a host
// moved to the other listener's route configuration, the endpoints of the
// clusters changed (the virtual hosts are linked again) followed by a
// route change (used as they are again), and invalid updates NACKed with
// the last configuration still served and the next valid change applied
// on it. After each step every host answers on each listener as it should.
func TestRouteChangesServedThroughProxy(t *testing.T) {
	names := map[string]string{}
	backends := map[string]string{}
	for _, n := range []string{"a", "b", "c"} {
		backends[n] = nameBackend(t, n)
		names[backends[n]] = n
	}
	for i := range listenerPorts {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listenerPorts[i] = uint32(lis.Addr().(*net.TCPAddr).Port)
		lis.Close()
	}
	var all []string
	w := routeWorld{endpoints: map[string]string{"ca": backends["a"], "cb": backends["b"]}}
	w.hosts[0], w.hosts[1] = map[string]string{}, map[string]string{}
	for i := range 60 {
		h := fmt.Sprintf("host-%02d.example", i)
		all = append(all, h)
		if i < 50 {
			w.hosts[0][h] = "ca"
		} else {
			w.hosts[1][h] = "cb"
		}
	}
	all = append(all, "new.example")

	srv := startRawServer(t)
	p := proxy.New(quiet)
	t.Cleanup(func() { p.Close() })
	c := startClient(t, srv.addr, p)

	apply := func(what string, next routeWorld) {
		t.Helper()
		versions := srv.set(t, next.resources(t, listenerPorts))
		eventually(t, what+" accepted", func() bool { return maps.Equal(c.Stats().Versions, versions) })
		w = next
		serves(t, p, w, names, all)
	}
	refuse := func(what string, res map[resource.Type][]cachetypes.Resource) {
		t.Helper()
		before := c.Stats().NACKsByType[config.TypeRoute]
		srv.set(t, res)
		eventually(t, what+" NACKed", func() bool { return c.Stats().NACKsByType[config.TypeRoute] > before })
		if !strings.Contains(c.Stats().LastError, "route configuration") {
			t.Errorf("%s: the NACK says %q", what, c.Stats().LastError)
		}
		serves(t, p, w, names, all)
	}

	apply("the first configuration", w)

	next := w.clone()
	next.hosts[0]["host-07.example"] = "cb"
	apply("one host changed", next)

	next = w.clone()
	delete(next.hosts[0], "host-10.example")
	next.hosts[0]["new.example"] = "ca"
	apply("a host removed and one added", next)

	next = w.clone()
	delete(next.hosts[0], "host-20.example")
	next.hosts[1]["host-20.example"] = "ca"
	apply("a host moved to the other listener", next)

	next = w.clone()
	next.endpoints["ca"] = backends["c"]
	apply("the endpoints of a cluster changed", next)

	next = w.clone()
	next.hosts[0]["host-08.example"] = "cb"
	apply("one host changed after the endpoints", next)

	// A domain taken twice, and a virtual host refused on its own (a
	// cluster name nothing routes: empty): both NACKed; the configuration
	// served stays the last one.
	bad := w.resources(t, listenerPorts)
	rc := proto.Clone(bad[resource.RouteType][0]).(*routev3.RouteConfiguration)
	rc.VirtualHosts[3].Domains = append(rc.VirtualHosts[3].Domains, rc.VirtualHosts[4].GetDomains()[0])
	bad[resource.RouteType] = []cachetypes.Resource{rc, bad[resource.RouteType][1]}
	refuse("a domain taken twice", bad)

	bad = w.resources(t, listenerPorts)
	rc = proto.Clone(bad[resource.RouteType][0]).(*routev3.RouteConfiguration)
	rc.VirtualHosts[5].Routes[0].GetRoute().ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: ""}
	bad[resource.RouteType] = []cachetypes.Resource{rc, bad[resource.RouteType][1]}
	refuse("an invalid virtual host", bad)

	next = w.clone()
	next.hosts[0]["host-09.example"] = "cb"
	delete(next.hosts[1], "host-55.example")
	apply("changes after the NACKs", next)

	// (The server sends a NACKed snapshot again on the NACK, so each was
	// refused more than once.)
	if st := c.Stats(); len(st.NACKsByType) != 1 || st.NACKsByType[config.TypeRoute] < 2 {
		t.Errorf("NACKs by type %v, want route configurations only, at least two", st.NACKsByType)
	}
}
