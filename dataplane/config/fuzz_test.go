package config

import (
	"net/http"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
)

// FuzzCompile decodes random bytes into one resource of the kind selected
// by kind, compiles it together with a valid rest of the configuration, and
// exercises whatever compiled: nothing may panic.
func FuzzCompile(f *testing.F) {
	base := testResources()
	for kind, m := range []proto.Message{base.Listeners["0.0.0.0:8080"], base.Routes["rc"], base.Clusters["c"], base.Endpoints["c"]} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(kind), b)
	}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		r := testResources()
		switch kind % 4 {
		case 0:
			var l listenerv3.Listener
			if proto.Unmarshal(data, &l) != nil {
				return
			}
			r.Listeners = map[string]*listenerv3.Listener{l.GetName(): &l}
		case 1:
			var rc routev3.RouteConfiguration
			if proto.Unmarshal(data, &rc) != nil {
				return
			}
			r.Routes[rc.GetName()] = &rc
			r.Listeners["0.0.0.0:8080"] = testListener(testHCM(rc.GetName()))
		case 2:
			var c clusterv3.Cluster
			if proto.Unmarshal(data, &c) != nil {
				return
			}
			r.Clusters[c.GetName()] = &c
		case 3:
			var cla endpointv3.ClusterLoadAssignment
			if proto.Unmarshal(data, &cla) != nil {
				return
			}
			r.Endpoints[cla.GetClusterName()] = &cla
		}
		for _, typ := range []string{TypeListener, TypeRoute, TypeCluster, TypeEndpoint, TypeSecret} {
			_ = Validate(typ, r)
		}
		cfg, err := Compile(r)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		exercise(cfg)
	})
}

// exercise runs the compiled tables the way the proxy does.
func exercise(cfg *Config) {
	for _, l := range cfg.Listeners {
		for _, sni := range []string{"", "a.example.com", "X.Y"} {
			l.Chain(sni)
			l.SelectChain(sni, []string{"h2", "acme-tls/1"})
		}
	}
	for _, rt := range cfg.Routes {
		for _, host := range []string{"a.example.com:80", "*", "", "[::1]:1"} {
			vh := rt.VirtualHost(host)
			if vh == nil {
				continue
			}
			for _, path := range []string{"/", "/a/b", "", "/%2F"} {
				req := &Request{Method: "GET", Authority: host, Scheme: "http", Path: path, RawQuery: "a=b&c", Header: http.Header{"X": {"1"}}}
				r := vh.Route(req)
				if r == nil {
					continue
				}
				if r.Forward != nil {
					r.Forward.RewritePath(&r.Match, path)
					r.Forward.Clusters.Pick(7)
				}
				if r.Redirect != nil {
					r.Redirect.Location(req, &r.Match)
				}
				h := http.Header{}
				r.RequestHeaders.Apply(h)
				r.ResponseHeaders.Apply(h)
			}
		}
	}
}
