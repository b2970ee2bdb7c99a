package serviceproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/edgeway/edgeway/conformance/podnet"
)

// Config configures a Proxy.
type Config struct {
	// REST authenticates as a cluster admin: the proxy watches Services and
	// EndpointSlices, writes Service status and creates Events.
	REST *rest.Config
	// Network gives the proxy its host addresses (ClusterIPs with
	// AddHostAddress, LoadBalancer addresses with AllocateHostAddress) and the
	// gateway address it connects to endpoints from. Its ServiceCIDR must be
	// kube-apiserver's --service-cluster-ip-range, or ClusterIPs are not served.
	Network *podnet.Network
	// Log receives a line per Service programmed or removed and every
	// problem; nil discards.
	Log *slog.Logger
}

// Proxy serves the cluster's Services on the host. Start makes one, Stop
// ends it.
type Proxy struct {
	client      kubernetes.Interface
	net         *podnet.Network
	log         *slog.Logger
	gateway     netip.Addr
	podCIDR     netip.Prefix
	serviceCIDR netip.Prefix

	services    corelisters.ServiceLister
	slices      cache.Indexer
	queue       workqueue.TypedRateLimitingInterface[string]
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder

	ctx    context.Context // ends at Stop: informers, API calls, dials
	cancel context.CancelFunc
	worker sync.WaitGroup

	// state is owned by the one goroutine that syncs (Start, then the
	// worker, then Stop after the worker has ended): no lock.
	state map[string]*serviceState

	stopOnce sync.Once
}

// serviceNameIndex indexes EndpointSlices by the namespace/name of the
// Service their kubernetes.io/service-name label names.
const serviceNameIndex = "service"

// retry bounds the back-off of a Service whose sync failed (an API conflict,
// an address podnet refused): it is retried until it succeeds.
var retry = workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 10*time.Second)

// Start watches Services and EndpointSlices and serves every Service that
// exists: when it returns, the informers are synced and the listeners of the
// existing Services are up. ctx bounds only the start; the proxy runs until
// Stop.
func Start(ctx context.Context, cfg Config) (*Proxy, error) {
	if cfg.REST == nil || cfg.Network == nil {
		return nil, errors.New("serviceproxy: Config.REST and Config.Network are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	rc := rest.CopyConfig(cfg.REST)
	rc.UserAgent = "edgeway-serviceproxy"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("serviceproxy: %w", err)
	}
	p := &Proxy{
		client:      client,
		net:         cfg.Network,
		log:         cfg.Log,
		gateway:     cfg.Network.Gateway(),
		podCIDR:     cfg.Network.PodCIDR(),
		serviceCIDR: cfg.Network.ServiceCIDR(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(retry,
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceproxy"}),
		state: map[string]*serviceState{},
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.broadcaster = record.NewBroadcaster(record.WithContext(p.ctx))
	p.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	p.recorder = p.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "edgeway-serviceproxy"})

	factory := informers.NewSharedInformerFactory(client, 0)
	// Only EndpointSlices that belong to a Service (a factory of their own:
	// the selector applies to every informer of a factory).
	sliceFactory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = discoveryv1.LabelServiceName }))
	svcInformer := factory.Core().V1().Services()
	sliceInformer := sliceFactory.Discovery().V1().EndpointSlices().Informer()
	if err := sliceInformer.AddIndexers(cache.Indexers{serviceNameIndex: sliceServiceKeys}); err != nil {
		p.shutdown()
		return nil, fmt.Errorf("serviceproxy: %w", err)
	}
	p.services = svcInformer.Lister()
	p.slices = sliceInformer.GetIndexer()
	if _, err := svcInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    p.enqueueObject,
		UpdateFunc: func(_, obj any) { p.enqueueObject(obj) },
		DeleteFunc: p.enqueueObject,
	}); err != nil {
		p.shutdown()
		return nil, fmt.Errorf("serviceproxy: %w", err)
	}
	if _, err := sliceInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: p.enqueueSlice,
		UpdateFunc: func(old, obj any) {
			p.enqueueSlice(old) // the label may have changed
			p.enqueueSlice(obj)
		},
		DeleteFunc: p.enqueueSlice,
	}); err != nil {
		p.shutdown()
		return nil, fmt.Errorf("serviceproxy: %w", err)
	}
	for _, f := range []informers.SharedInformerFactory{factory, sliceFactory} {
		f.Start(p.ctx.Done())
	}
	for _, f := range []informers.SharedInformerFactory{factory, sliceFactory} {
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				p.shutdown()
				return nil, fmt.Errorf("serviceproxy: the %v informer did not sync before the start deadline (%v); is kube-apiserver at %s up?", typ, context.Cause(ctx), cfg.REST.Host)
			}
		}
	}

	// Programme every existing Service before returning. Those that already
	// hold a LoadBalancer address go first, so that no other Service is
	// given that address before its owner takes it back.
	svcs, err := p.services.List(everything)
	if err != nil {
		p.shutdown()
		return nil, fmt.Errorf("serviceproxy: %w", err)
	}
	sort.SliceStable(svcs, func(i, j int) bool {
		return len(svcs[i].Status.LoadBalancer.Ingress) > 0 && len(svcs[j].Status.LoadBalancer.Ingress) == 0
	})
	for _, svc := range svcs {
		key := svc.Namespace + "/" + svc.Name
		if err := p.sync(key); err != nil {
			p.log.Error("service not (fully) programmed; retrying", "service", key, "err", err)
			p.queue.AddRateLimited(key)
		}
	}
	p.worker.Add(1)
	go p.run()
	p.log.Info("service proxy started", "services", len(svcs), "serviceCIDR", p.serviceCIDR, "gateway", p.gateway)
	return p, nil
}

// Stop closes every listener with its connections and removes every host
// address the proxy added. LoadBalancer status stays, so that a proxy
// started later gives each Service the same address again.
func (p *Proxy) Stop() {
	p.stopOnce.Do(func() {
		p.shutdown()
		p.worker.Wait()
		keys := make([]string, 0, len(p.state))
		for key := range p.state {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			if err := p.state[key].teardown(p); err != nil {
				p.log.Error("stopping: host addresses not removed; podnet.Cleanup removes them", "service", key, "err", err)
			}
			delete(p.state, key)
		}
		p.log.Info("service proxy stopped")
	})
}

// shutdown ends the informers, the queue and the event broadcaster.
func (p *Proxy) shutdown() {
	p.cancel()
	p.queue.ShutDown()
	p.broadcaster.Shutdown()
}

func (p *Proxy) run() {
	defer p.worker.Done()
	for {
		key, quit := p.queue.Get()
		if quit {
			return
		}
		if err := p.sync(key); err != nil {
			if p.ctx.Err() == nil {
				p.log.Error("service not (fully) programmed; retrying", "service", key, "err", err)
				p.queue.AddRateLimited(key)
			}
		} else {
			p.queue.Forget(key)
		}
		p.queue.Done(key)
	}
}

func (p *Proxy) enqueueObject(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err == nil {
		p.queue.Add(key)
	}
}

func (p *Proxy) enqueueSlice(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	keys, _ := sliceServiceKeys(obj)
	for _, key := range keys {
		p.queue.Add(key)
	}
}

// sliceServiceKeys is the index function: the Service an EndpointSlice
// belongs to.
func sliceServiceKeys(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := s.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + name}, nil
}

// slicesOf returns the EndpointSlices of the Service key.
func (p *Proxy) slicesOf(key string) []*discoveryv1.EndpointSlice {
	objs, err := p.slices.ByIndex(serviceNameIndex, key)
	if err != nil {
		return nil
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*discoveryv1.EndpointSlice); ok {
			out = append(out, s)
		}
	}
	return out
}
