package clusterdns

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// bySliceService indexes EndpointSlices by "<namespace>/<service name>".
const bySliceService = "service"

// store answers lookups from informer caches: every query reads the current
// state, so an update is visible as soon as the watch delivers it.
type store struct {
	services cache.SharedIndexInformer
	slices   cache.SharedIndexInformer
	cancel   context.CancelFunc
	done     chan struct{}
}

func startStore(client kubernetes.Interface) *store {
	ctx, cancel := context.WithCancel(context.Background())
	// No resync: the watch keeps the caches current, and a resync would only
	// replay what they already hold.
	f := informers.NewSharedInformerFactory(client, 0)
	s := &store{
		services: f.Core().V1().Services().Informer(),
		slices:   f.Discovery().V1().EndpointSlices().Informer(),
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	// Added before the factory starts, so no error is possible.
	_ = s.slices.AddIndexers(cache.Indexers{bySliceService: sliceServiceKey})
	f.Start(ctx.Done())
	go func() {
		<-ctx.Done()
		f.Shutdown()
		close(s.done)
	}()
	return s
}

func sliceServiceKey(obj any) ([]string, error) {
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := es.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{es.Namespace + "/" + name}, nil
}

func (s *store) waitForSync(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), s.services.HasSynced, s.slices.HasSynced) {
		if err := ctx.Err(); err != nil {
			return err
		}
		return errors.New("informers did not sync")
	}
	return nil
}

func (s *store) stop() {
	s.cancel()
	<-s.done
}

// service returns the Service ns/name, or nil.
func (s *store) service(ns, name string) *corev1.Service {
	obj, ok, err := s.services.GetIndexer().GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return nil
	}
	return obj.(*corev1.Service)
}

// namespaceHasServices reports whether <ns>.svc.<domain> has names below it.
func (s *store) namespaceHasServices(ns string) bool {
	objs, err := s.services.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
	return err == nil && len(objs) > 0
}

// endpoint is one published address set of a Service's EndpointSlices.
type endpoint struct {
	// label is the endpoint's name under the Service: its hostname, or its
	// first address with dashes when it has none (CoreDNS's naming).
	label string
	addrs []netip.Addr
	// ports maps "<name>/<protocol>" (protocol lower-case) to the port
	// number of the slice the endpoint came from.
	ports map[string]int32
}

// endpoints returns the endpoints DNS publishes for svc: the ready ones, or
// all with publishNotReadyAddresses. An address listed by several slices
// (while the controller moves endpoints between them) appears once. The
// order is by address, so answers are stable.
func (s *store) endpoints(svc *corev1.Service) []endpoint {
	objs, err := s.slices.GetIndexer().ByIndex(bySliceService, svc.Namespace+"/"+svc.Name)
	if err != nil {
		return nil
	}
	seen := map[netip.Addr]bool{}
	var eps []endpoint
	for _, obj := range objs {
		es := obj.(*discoveryv1.EndpointSlice)
		if es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6 {
			continue // FQDN slices are deprecated and name no address
		}
		ports := map[string]int32{}
		for _, p := range es.Ports {
			if p.Name == nil || p.Port == nil || *p.Name == "" {
				continue // SRV records exist for named ports only
			}
			proto := corev1.ProtocolTCP
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			ports[portKey(*p.Name, proto)] = *p.Port
		}
		for _, e := range es.Endpoints {
			// A nil ready condition means unknown, which consumers are to
			// read as ready (discovery/v1 API documentation).
			ready := e.Conditions.Ready == nil || *e.Conditions.Ready
			if !ready && !svc.Spec.PublishNotReadyAddresses {
				continue
			}
			ep := endpoint{ports: ports}
			for _, a := range e.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil || seen[ip] {
					continue
				}
				seen[ip] = true
				ep.addrs = append(ep.addrs, ip)
			}
			if len(ep.addrs) == 0 {
				continue
			}
			if e.Hostname != nil && *e.Hostname != "" {
				ep.label = strings.ToLower(*e.Hostname)
			} else {
				ep.label = dashed(ep.addrs[0])
			}
			eps = append(eps, ep)
		}
	}
	slices.SortFunc(eps, func(a, b endpoint) int { return a.addrs[0].Compare(b.addrs[0]) })
	return eps
}

func portKey(name string, proto corev1.Protocol) string {
	return strings.ToLower(name) + "/" + strings.ToLower(string(proto))
}

// dashed writes an address as one DNS label: 10.0.0.1 -> 10-0-0-1,
// fd00::1 -> fd00--1.
func dashed(ip netip.Addr) string {
	s := ip.String()
	if ip.Is4() {
		return strings.ReplaceAll(s, ".", "-")
	}
	return strings.ReplaceAll(s, ":", "-")
}

// undashed parses a label written by dashed (any IPv4 or IPv6 spelling).
func undashed(label string) (netip.Addr, bool) {
	if ip, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ".")); err == nil && ip.Is4() {
		return ip, true
	}
	if ip, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ":")); err == nil && ip.Is6() && !ip.Is4In6() {
		return ip, true
	}
	return netip.Addr{}, false
}
