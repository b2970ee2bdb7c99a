package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/edgeway/edgeway/conformance/podnet"
)

// DefaultName is the Node's name unless Config.Name says otherwise.
const DefaultName = "edgeway-node"

// DefaultKubeletPort is where the kubelet API listens, as a kubelet's does.
const DefaultKubeletPort = 10250

// heartbeat is how often the Lease is renewed and the Node's status
// re-posted (the kubelet's defaults: 10 s, lease of 40 s).
const (
	heartbeat     = 10 * time.Second
	leaseDuration = 40
)

// Config configures a Node.
type Config struct {
	// Name is the Node's name (DefaultName if empty).
	Name string
	// REST reaches the API server with rights to create Nodes, Leases,
	// Events, pod bindings, pod status and service account tokens, and to
	// read Pods, Secrets and ConfigMaps (an admin config does).
	REST *rest.Config
	// Network gives each Pod its network namespace and IP; its gateway
	// address is the Node's InternalIP. The caller opens and cleans it up.
	// The node owns every pod of the network: Start removes those an
	// earlier process left (host addresses are not touched).
	Network *podnet.Network
	// Images maps the image references Pods use to local binaries.
	Images Images
	// Dir holds pod volumes and container logs (default: "node" under
	// Network's state directory, which podnet.Cleanup removes).
	Dir string
	// KubeletPort is the kubelet API's port on the InternalIP
	// (DefaultKubeletPort if 0).
	KubeletPort int
	// ClusterDNS, when set, is written as the nameserver of every pod's
	// /etc/resolv.conf (dnsPolicy ClusterFirst), with ClusterDomain
	// (default cluster.local) search paths.
	ClusterDNS    []netip.Addr
	ClusterDomain string
	// Log receives the node's own log lines (default: discarded).
	Log *slog.Logger
}

// Node is a running node: it has registered itself, binds unscheduled Pods
// to itself and runs the Pods bound to it.
type Node struct {
	cfg         Config
	name        string
	ip          netip.Addr
	client      kubernetes.Interface
	net         *podnet.Network
	log         *slog.Logger
	dir         string
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	allocatable corev1.ResourceList
	services    corelisters.ServiceLister

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // heartbeat, informer, binders, pod workers

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	binding map[types.UID]bool
	stopped bool

	server *kubeletServer
}

// Start registers the Node (creating or taking over the Node object), makes
// it Ready, starts the kubelet API on InternalIP:KubeletPort and starts
// running Pods. Stop ends it.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.REST == nil || cfg.Network == nil {
		return nil, errors.New("node: Config.REST and Config.Network are required")
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.KubeletPort == 0 {
		cfg.KubeletPort = DefaultKubeletPort
	}
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(cfg.Network.StateDir(), "node")
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "pods"), 0o755); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	rc := rest.CopyConfig(cfg.REST)
	rc.UserAgent = "edgeway-node/" + cfg.Name
	// A node of a busy test cluster writes pod status often.
	rc.QPS, rc.Burst = 50, 100
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n := &Node{
		cfg:     cfg,
		name:    cfg.Name,
		ip:      cfg.Network.Gateway(),
		client:  client,
		net:     cfg.Network,
		log:     cfg.Log.With("node", cfg.Name),
		dir:     cfg.Dir,
		workers: map[types.UID]*podWorker{},
		binding: map[types.UID]bool{},
		allocatable: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
			corev1.ResourceMemory: resource.MustParse("16Gi"),
			corev1.ResourcePods:   resource.MustParse("250"),
		},
	}
	if err := n.removeStalePods(); err != nil {
		return nil, err
	}
	n.broadcaster = record.NewBroadcaster(record.WithContext(ctx))
	n.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	n.recorder = n.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: n.name})

	n.ctx, n.cancel = context.WithCancel(context.Background())
	if n.server, err = startKubeletServer(n); err != nil {
		n.broadcaster.Shutdown()
		return nil, err
	}
	if err := n.register(ctx); err != nil {
		n.server.close()
		n.broadcaster.Shutdown()
		return nil, err
	}
	n.wg.Add(1)
	go n.heartbeatLoop()
	if err := n.watchPods(ctx); err != nil {
		n.Stop(context.Background())
		return nil, err
	}
	n.log.Info("node ready", "internalIP", n.ip, "kubeletPort", cfg.KubeletPort)
	return n, nil
}

// Name is the Node's name.
func (n *Node) Name() string { return n.name }

// InternalIP is the Node's address: the pod network's gateway, where the
// kubelet API listens.
func (n *Node) InternalIP() netip.Addr { return n.ip }

// Stop stops every pod (each with its grace period, cut short when ctx
// ends), frees their network namespaces, stops the kubelet API and the
// heartbeats. The Node object stays (its Lease expires); pods bound to it
// keep their last status.
func (n *Node) Stop(ctx context.Context) {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return
	}
	n.stopped = true
	workers := make([]*podWorker, 0, len(n.workers))
	for _, w := range n.workers {
		workers = append(workers, w)
	}
	n.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.shutdown(ctx)
		}()
	}
	wg.Wait()
	n.cancel()
	n.wg.Wait()
	n.server.close()
	n.broadcaster.Shutdown()
}

// removeStalePods removes the network of every pod a previous node process
// left in the network (its processes were that node's children and cannot
// be adopted: the Pods restart instead).
func (n *Node) removeStalePods() error {
	pods, err := n.net.Pods()
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	for _, p := range pods {
		killNetnsProcesses(p.NetnsPath, n.log)
		if err := n.net.RemovePod(p.Name); err != nil {
			return fmt.Errorf("node: remove pod network %s left by an earlier node: %w", p.Name, err)
		}
	}
	return nil
}

func (n *Node) nodeObject() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.name,
			Labels: map[string]string{
				"kubernetes.io/hostname": n.name,
				"kubernetes.io/os":       runtime.GOOS,
				"kubernetes.io/arch":     runtime.GOARCH,
				"beta.kubernetes.io/os":  runtime.GOOS,
				"node.edgeway.dev/local": "true",
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: n.net.PodCIDR().String(), PodCIDRs: []string{n.net.PodCIDR().String()}},
	}
}

func (n *Node) nodeStatus(now metav1.Time) corev1.NodeStatus {
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return corev1.NodeStatus{
		Capacity:    n.allocatable,
		Allocatable: n.allocatable,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "edgeway local node is posting ready status"),
		},
		// Only the InternalIP: a Hostname address would be tried first by
		// the API server (--kubelet-preferred-address-types) and resolves
		// nowhere.
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.ip.String()}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(n.cfg.KubeletPort)}},
		NodeInfo: corev1.NodeSystemInfo{
			KubeletVersion:          "v1.37.1-edgeway",
			OperatingSystem:         runtime.GOOS,
			Architecture:            runtime.GOARCH,
			ContainerRuntimeVersion: "edgeway-local://0",
			OSImage:                 "edgeway local processes",
		},
	}
}

// register creates the Node (or takes over one of the same name), removes
// the not-ready taint admission puts on new Nodes, and posts Ready.
func (n *Node) register(ctx context.Context) error {
	nodes := n.client.CoreV1().Nodes()
	want := n.nodeObject()
	cur, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		cur, err = nodes.Get(ctx, n.name, metav1.GetOptions{})
		if err == nil {
			cur.Labels = want.Labels
			cur.Spec.PodCIDR, cur.Spec.PodCIDRs = want.Spec.PodCIDR, want.Spec.PodCIDRs
			cur, err = nodes.Update(ctx, cur, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("node: register Node %s: %w", n.name, err)
	}
	// No scheduler and no node lifecycle controller run to lift the taint
	// (TaintNodesByCondition admission adds it to every new Node); tolerating
	// Pods would still schedule, others would not.
	if len(cur.Spec.Taints) > 0 {
		var keep []corev1.Taint
		for _, t := range cur.Spec.Taints {
			if t.Key != "node.kubernetes.io/not-ready" && t.Key != "node.kubernetes.io/unreachable" {
				keep = append(keep, t)
			}
		}
		cur.Spec.Taints = keep
		if cur, err = nodes.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("node: remove the not-ready taint from Node %s: %w", n.name, err)
		}
	}
	cur.Status = n.nodeStatus(metav1.Now())
	if _, err := nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("node: post status of Node %s: %w", n.name, err)
	}
	return n.renewLease(ctx)
}

func (n *Node) heartbeatLoop() {
	defer n.wg.Done()
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(n.ctx, heartbeat)
		if err := n.postStatus(ctx); err != nil {
			n.log.Warn("node status heartbeat failed", "err", err)
		}
		if err := n.renewLease(ctx); err != nil {
			n.log.Warn("lease renewal failed", "err", err)
		}
		cancel()
	}
}

func (n *Node) postStatus(ctx context.Context) error {
	cur, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	st := n.nodeStatus(now)
	// Keep transition times: only the heartbeat moves.
	for i := range st.Conditions {
		for _, old := range cur.Status.Conditions {
			if old.Type == st.Conditions[i].Type && old.Status == st.Conditions[i].Status {
				st.Conditions[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	cur.Status = st
	_, err = n.client.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
	return err
}

// renewLease keeps the Node's Lease in kube-node-lease current, as the
// kubelet does; it is what node health checks look at.
func (n *Node) renewLease(ctx context.Context) error {
	leases := n.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, n.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name: n.name, Namespace: corev1.NamespaceNodeLease,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.name, UID: node.UID}},
			},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(n.name), LeaseDurationSeconds: ptr.To[int32](leaseDuration), RenewTime: &now},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	l.Spec.HolderIdentity = ptr.To(n.name)
	l.Spec.LeaseDurationSeconds = ptr.To[int32](leaseDuration)
	l.Spec.RenewTime = &now
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err
}

// watchPods starts the informer over all Pods: unscheduled ones are bound
// here, those bound here are run.
func (n *Node) watchPods(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(n.client, 0)
	inf := factory.Core().V1().Pods().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { n.podChanged(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { n.podChanged(obj.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				n.podDeleted(pod)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	// Services, for the service link variables containers get.
	svcInf := factory.Core().V1().Services().Informer()
	n.services = factory.Core().V1().Services().Lister()
	for _, i := range []cache.SharedIndexInformer{svcInf, inf} {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			i.Run(n.ctx.Done())
		}()
	}
	if !cache.WaitForCacheSync(ctx.Done(), svcInf.HasSynced, inf.HasSynced) {
		return fmt.Errorf("node: pod and service informers did not sync: %w", ctx.Err())
	}
	return nil
}

func (n *Node) podChanged(pod *corev1.Pod) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return
	}
	switch pod.Spec.NodeName {
	case "":
		n.maybeBind(pod)
	case n.name:
		w := n.workers[pod.UID]
		if w == nil {
			if pod.DeletionTimestamp != nil {
				// Not running here (never started, finished, or started by an
				// earlier node process whose pod networks Start removed).
				n.wg.Add(1)
				go func() {
					defer n.wg.Done()
					n.finalDelete(pod)
				}()
				return
			}
			if isTerminal(pod) {
				return // finished before this node process started
			}
			w = newPodWorker(n, pod)
			n.workers[pod.UID] = w
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				w.run()
				n.mu.Lock()
				delete(n.workers, pod.UID)
				n.mu.Unlock()
			}()
		}
		w.update(pod)
	}
}

func (n *Node) podDeleted(pod *corev1.Pod) {
	n.mu.Lock()
	delete(n.binding, pod.UID)
	w := n.workers[pod.UID]
	n.mu.Unlock()
	if w != nil {
		w.gone()
	}
}

// maybeBind binds an unscheduled Pod to this node (there is no scheduler)
// unless it asks for another scheduler or its nodeSelector excludes this
// node. Called with n.mu held.
func (n *Node) maybeBind(pod *corev1.Pod) {
	if pod.DeletionTimestamp != nil || isTerminal(pod) || n.binding[pod.UID] {
		return
	}
	if s := pod.Spec.SchedulerName; s != "" && s != corev1.DefaultSchedulerName {
		return
	}
	labels := n.nodeObject().Labels
	for k, v := range pod.Spec.NodeSelector {
		if labels[k] != v {
			n.binding[pod.UID] = true // report once
			n.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedScheduling",
				"0/1 nodes are available: node %s does not match the Pod's nodeSelector %s=%s (its labels: %v)", n.name, k, v, labels)
			return
		}
	}
	n.binding[pod.UID] = true
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		err := n.client.CoreV1().Pods(pod.Namespace).Bind(n.ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: n.name},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			n.log.Warn("bind pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
			n.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedScheduling", "binding to node %s failed: %v", n.name, err)
			n.mu.Lock()
			delete(n.binding, pod.UID) // retried at the next change of the Pod
			n.mu.Unlock()
			return
		}
		if err == nil {
			n.recorder.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, n.name)
		}
	}()
}

// finalDelete removes a terminated Pod's object, as the kubelet does once
// its containers are gone (the API server waits for that before deleting a
// bound Pod).
func (n *Node) finalDelete(pod *corev1.Pod) {
	ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
	defer cancel()
	err := n.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		n.log.Warn("final delete of pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
}

func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}
