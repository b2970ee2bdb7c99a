package config

import (
	"crypto/tls"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// xDS type URLs of the five resource types the data plane subscribes to.
const (
	TypeListener = "type.googleapis.com/envoy.config.listener.v3.Listener"
	TypeRoute    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	TypeCluster  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	TypeEndpoint = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	TypeSecret   = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
)

// CheckType returns an error for a typeURL that is none of the five the
// data plane subscribes to.
func CheckType(typeURL string) error {
	switch typeURL {
	case TypeListener, TypeRoute, TypeCluster, TypeEndpoint, TypeSecret:
		return nil
	}
	return fmt.Errorf("unsupported resource type %q", typeURL)
}

// Validate checks every resource of one type on its own: supported fields
// only, valid values. It ignores references to other resources, so its
// error is always a reason to NACK that type. An unknown typeURL is an
// error.
func Validate(typeURL string, r *Resources) error {
	if r == nil {
		return nil
	}
	var err error
	switch typeURL {
	case TypeListener:
		err = eachSorted(r.Listeners, func(n string, v any) error { _, e := compileListener(n, r.Listeners[n]); return e })
	case TypeRoute:
		err = eachSorted(r.Routes, func(n string, v any) error { _, e := compileRoute(n, r.Routes[n]); return e })
	case TypeCluster:
		err = eachSorted(r.Clusters, func(n string, v any) error { _, e := compileCluster(n, r.Clusters[n]); return e })
	case TypeEndpoint:
		err = eachSorted(r.Endpoints, func(n string, v any) error { _, e := compileLoadAssignment(n, r.Endpoints[n]); return e })
	case TypeSecret:
		err = eachSorted(r.Secrets, func(n string, v any) error { _, e := compileSecret(n, r.Secrets[n]); return e })
	default:
		err = fmt.Errorf("unsupported resource type %q", typeURL)
	}
	return err
}

// Compile validates all resources and links them into one immutable Config.
// An invalid resource yields a *FieldError; a missing reference (route
// configuration, cluster, endpoints, secret) yields an error matching
// ErrIncomplete. Invalid beats incomplete: every resource is validated
// before any reference is followed. Resources are visited in name order so
// that the error for a given input is always the same.
func Compile(r *Resources) (*Config, error) {
	return compile(r, nil, nil, nil)
}

// Compiler compiles like Compile, with the same results, and reuses what
// its last compiles made from resources that did not change: the virtual
// hosts whose xDS message did not change (vhostCache), and the clusters,
// endpoints and secrets when their messages are the very ones of the last
// successful compile (clusterStage): what a data plane that applies update
// after update uses. One compile at a time; safe for concurrent use.
type Compiler struct {
	mu        sync.Mutex
	vhosts    vhostCache
	clusters  clusterStage
	listeners listenerChecks
}

// Compile is Compile with the caches of c.
func (c *Compiler) Compile(r *Resources) (*Config, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return compile(r, &c.vhosts, &c.clusters, &c.listeners)
}

func compile(r *Resources, vhosts *vhostCache, stage *clusterStage, checks *listenerChecks) (*Config, error) {
	if r == nil {
		r = &Resources{}
	}
	cfg := &Config{Listeners: map[string]*Listener{}, Routes: map[string]*RouteTable{}}
	listeners := map[string]*compiledListener{}

	// The clusters, with their endpoints and TLS linked, come whole from
	// the last compile when their resources are unchanged: they were
	// checked and linked then, so this compile cannot refuse them.
	reused := stage.unchanged(r)
	var gen uint64
	var certs map[string]*secret
	var endpoints map[string][]Endpoint
	if reused {
		certs, cfg.Clusters, gen = stage.certs, stage.compiled, stage.gen
	} else {
		var err error
		if certs, endpoints, cfg.Clusters, err = compileClusterResources(r); err != nil {
			return nil, err
		}
		gen = stage.newGen()
	}
	vhosts.begin(gen)
	relink := map[string][]int{}
	for _, n := range slices.Sorted(maps.Keys(r.Routes)) {
		t, rl, err := compileRouteWith(n, r.Routes[n], vhosts, r.RouteWire[r.Routes[n]])
		if err != nil {
			vhosts.abort()
			return nil, err
		}
		cfg.Routes[n] = t
		if rl != nil {
			relink[n] = rl
		}
	}
	vhosts.commit()
	for _, n := range slices.Sorted(maps.Keys(r.Listeners)) {
		l, err := compileListenerChecked(n, r.Listeners[n], checks.checked(r.Listeners[n]))
		if err != nil {
			return nil, err
		}
		listeners[n] = l
	}
	if !reused {
		if err := linkClusterResources(cfg.Clusters, certs, endpoints); err != nil {
			return nil, err
		}
	}
	if err := link(cfg, listeners, certs, relink); err != nil {
		return nil, err
	}
	vhosts.linked()
	checks.record(r.Listeners)
	if !reused {
		stage.record(r, certs, cfg.Clusters, gen)
	}
	return cfg, nil
}

// compileClusterResources compiles the secrets, the endpoints and the
// clusters, in name order.
func compileClusterResources(r *Resources) (map[string]*secret, map[string][]Endpoint, map[string]*Cluster, error) {
	certs := map[string]*secret{}
	endpoints := map[string][]Endpoint{}
	clusters := map[string]*Cluster{}
	for _, n := range slices.Sorted(maps.Keys(r.Secrets)) {
		c, err := compileSecret(n, r.Secrets[n])
		if err != nil {
			return nil, nil, nil, err
		}
		certs[n] = c
	}
	for _, n := range slices.Sorted(maps.Keys(r.Endpoints)) {
		eps, err := compileLoadAssignment(n, r.Endpoints[n])
		if err != nil {
			return nil, nil, nil, err
		}
		endpoints[n] = eps
	}
	for _, n := range slices.Sorted(maps.Keys(r.Clusters)) {
		c, err := compileCluster(n, r.Clusters[n])
		if err != nil {
			return nil, nil, nil, err
		}
		clusters[n] = c
	}
	return certs, endpoints, clusters, nil
}

// linkClusterResources gives the clusters their endpoints and TLS. Before
// the routes and listeners are linked, so that a route pointing at a
// cluster always sees its endpoints.
func linkClusterResources(clusters map[string]*Cluster, certs map[string]*secret, endpoints map[string][]Endpoint) error {
	for _, n := range slices.Sorted(maps.Keys(clusters)) {
		c := clusters[n]
		if c.Type != ClusterEDS {
			continue
		}
		eps, ok := endpoints[n]
		if !ok {
			return incomplete("cluster", n, "eds_cluster_config", "cluster load assignment %q not present", n)
		}
		c.Endpoints = eps
	}
	return linkClusterTLS(clusters, certs)
}

// link resolves the routes' and listeners' names to the compiled objects.
// relink lists, per route configuration, the virtual hosts to link; a
// route configuration without an entry has all of them linked.
func link(cfg *Config, listeners map[string]*compiledListener, certs map[string]*secret, relink map[string][]int) error {
	for _, n := range slices.Sorted(maps.Keys(cfg.Routes)) {
		rep := reporter{kind: "route configuration", name: n}
		vhs := cfg.Routes[n].VirtualHosts
		only, some := relink[n]
		for k := 0; ; k++ {
			i := k
			if some {
				if k >= len(only) {
					break
				}
				i = only[k]
			} else if k >= len(vhs) {
				break
			}
			for j, rt := range vhs[i].Routes {
				if rt.Forward == nil {
					continue
				}
				// The location is only rendered for an error: this loop
				// visits every route of every changed virtual host.
				if missing, ok := linkEntries(&rt.Forward.Clusters, cfg.Clusters); !ok {
					return rep.missing(routeActionLoc(i, j), "cluster %q not present", missing)
				}
				if len(rt.Forward.Mirrors) == 0 {
					continue
				}
				if err := linkMirrors(rep, routeActionLoc(i, j), rt.Forward, cfg.Clusters); err != nil {
					return err
				}
			}
		}
	}
	for _, n := range slices.Sorted(maps.Keys(listeners)) {
		l := listeners[n]
		rep := reporter{kind: "listener", name: n}
		if err := linkUDP(rep, l.Listener, cfg.Clusters); err != nil {
			return err
		}
		for i, fc := range l.Chains {
			loc := fmt.Sprintf("filter_chains[%d]", i)
			if fc.HTTP != nil {
				rt, ok := cfg.Routes[fc.HTTP.RouteConfigName]
				if !ok {
					return rep.missing(loc+".filters[0].typed_config.rds", "route configuration %q not present", fc.HTTP.RouteConfigName)
				}
				fc.HTTP.Routes = rt
			}
			if fc.TCP != nil {
				if err := linkClusters(rep, loc+".filters[0].typed_config", &fc.TCP.Clusters, cfg.Clusters); err != nil {
					return err
				}
			}
			if ct, ok := l.tls[fc]; ok {
				tc, err := chainTLSConfig(rep, loc, ct, certs)
				if err != nil {
					return err
				}
				fc.TLS = tc
			}
		}
		cfg.Listeners[n] = l.Listener
	}
	return nil
}

func linkClusters(rep reporter, loc string, wc *WeightedClusters, clusters map[string]*Cluster) error {
	if missing, ok := linkEntries(wc, clusters); !ok {
		return rep.missing(loc, "cluster %q not present", missing)
	}
	return nil
}

// linkEntries points wc's entries to their clusters; ok is false, with the
// name of the first cluster that is not present, when one is missing.
func linkEntries(wc *WeightedClusters, clusters map[string]*Cluster) (missing string, ok bool) {
	for i := range wc.Entries {
		e := &wc.Entries[i]
		c, ok := clusters[e.Name]
		if !ok {
			return e.Name, false
		}
		e.Cluster = c
	}
	return "", true
}

func routeActionLoc(vhost, route int) string {
	return fmt.Sprintf("virtual_hosts[%d].routes[%d].route", vhost, route)
}

// chainTLSConfig builds the server TLS config of a terminating chain. With
// several certificates crypto/tls serves the first one the ClientHello
// supports (signature schemes, and the SNI when it is set).
func chainTLSConfig(rep reporter, loc string, ct chainTLS, certs map[string]*secret) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: ct.alpn}
	for _, s := range ct.secrets {
		c, ok := certs[s]
		if !ok {
			return nil, rep.missing(loc+".transport_socket", "secret %q not present", s)
		}
		if c.cert == nil {
			return nil, rep.errf(loc+".transport_socket", "secret %q is a validation context, not a certificate", s)
		}
		tc.Certificates = append(tc.Certificates, *c.cert)
	}
	if err := clientAuth(rep, loc, ct.client, certs, tc); err != nil {
		return nil, err
	}
	return tc, nil
}

func eachSorted[V any](m map[string]V, f func(string, any) error) error {
	for _, n := range slices.Sorted(maps.Keys(m)) {
		if err := f(n, m[n]); err != nil {
			return err
		}
	}
	return nil
}
