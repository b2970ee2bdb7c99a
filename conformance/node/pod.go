package node

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/edgeway/edgeway/conformance/podnet"
)

// Restart back-off: shorter than the kubelet's 10 s..5 min, because a test
// cluster wants a crashed backend back soon, and the same doubling.
const (
	initialBackoff = time.Second
	maxBackoff     = 30 * time.Second
	// A container that ran this long without exiting starts over at
	// initialBackoff.
	backoffReset = time.Minute
	// volumeRefresh is how often Secret, ConfigMap, downward API and token
	// volumes are rewritten from the API (the kubelet's sync period is 1 min).
	volumeRefresh = 30 * time.Second
	// retryDelay is when a pod whose sandbox or volumes could not be set up
	// is tried again.
	retryDelay = 2 * time.Second
)

// podWorker runs one Pod bound to this node: its network, volumes,
// container processes, probes and status. Everything but the fields under
// mu belongs to the run goroutine.
type podWorker struct {
	n   *Node
	uid types.UID
	key string // namespace/name, for logs and podnet

	mu        sync.Mutex
	latest    *corev1.Pod
	deleted   bool // the object is gone from the API
	notify    chan struct{}
	stopOnce  sync.Once
	stopCh    chan struct{} // node shutdown
	stopCtx   context.Context
	done      chan struct{}
	logsReady map[string]*logFile // "<container>/<restart>" -> log being written

	dir        string
	sandbox    *podnet.Pod
	lastIP     string
	startTime  metav1.Time
	volumes    map[string]volumeSource
	volumesAt  time.Time
	tokens     tokenCache
	inits      []*ctr
	apps       []*ctr
	terminal   bool
	lastStatus string
	conds      map[corev1.PodConditionType]corev1.PodCondition
	warned     map[string]bool // event messages already sent
	mountErr   string
}

// ctr is one container of the pod across its restarts.
type ctr struct {
	spec      *corev1.Container
	init      bool
	sidecar   bool // an init container with restartPolicy Always
	imageKey  string
	restarts  int32
	started   bool // has ever started
	succeeded bool // an init container that exited 0
	proc      *proc
	lastTerm  *corev1.ContainerStateTerminated
	waiting   *corev1.ContainerStateWaiting
	backoff   time.Duration
	nextStart time.Time
	ready     bool
	probeMsg  string
	stopProbe context.CancelFunc
}

// proc is one running (or just ended) instance of a container.
type proc struct {
	cmd        *exec.Cmd
	startedAt  metav1.Time
	exited     chan struct{}
	exitCode   int32
	signal     syscall.Signal
	finishedAt metav1.Time
	log        *logFile
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func newPodWorker(n *Node, pod *corev1.Pod) *podWorker {
	w := &podWorker{
		n:         n,
		uid:       pod.UID,
		key:       pod.Namespace + "/" + pod.Name,
		notify:    make(chan struct{}, 1),
		stopCh:    make(chan struct{}),
		done:      make(chan struct{}),
		logsReady: map[string]*logFile{},
		dir:       filepath.Join(n.dir, "pods", string(pod.UID)),
		tokens:    tokenCache{},
		conds:     map[corev1.PodConditionType]corev1.PodCondition{},
		warned:    map[string]bool{},
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		w.inits = append(w.inits, &ctr{spec: c, init: true, sidecar: c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways})
	}
	for i := range pod.Spec.Containers {
		w.apps = append(w.apps, &ctr{spec: &pod.Spec.Containers[i]})
	}
	return w
}

func (w *podWorker) update(pod *corev1.Pod) {
	w.mu.Lock()
	w.latest = pod
	w.mu.Unlock()
	w.wake()
}

func (w *podWorker) gone() {
	w.mu.Lock()
	w.deleted = true
	w.mu.Unlock()
	w.wake()
}

func (w *podWorker) wake() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// shutdown stops the pod for a node shutdown and waits until it is down.
func (w *podWorker) shutdown(ctx context.Context) {
	w.stopOnce.Do(func() {
		w.mu.Lock()
		w.stopCtx = ctx
		w.mu.Unlock()
		close(w.stopCh)
	})
	<-w.done
}

func (w *podWorker) snapshot() (*corev1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.latest, w.deleted
}

func (w *podWorker) run() {
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-w.notify:
		case <-timer.C:
		case <-w.stopCh:
			w.mu.Lock()
			ctx := w.stopCtx
			w.mu.Unlock()
			w.terminate(ctx, w.grace(nil))
			w.release(false)
			return
		}
		pod, deleted := w.snapshot()
		if deleted || pod.DeletionTimestamp != nil {
			w.terminate(context.Background(), w.grace(pod))
			w.release(true)
			if !deleted {
				w.postStatus(pod, true)
				w.n.finalDelete(pod)
			}
			return
		}
		next := w.sync(pod)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if next > 0 {
			timer.Reset(next)
		}
	}
}

// grace is how long containers get between SIGTERM and SIGKILL.
func (w *podWorker) grace(pod *corev1.Pod) time.Duration {
	if pod == nil {
		pod, _ = w.snapshot()
	}
	switch {
	case pod == nil:
		return 30 * time.Second
	case pod.DeletionGracePeriodSeconds != nil:
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// sync moves the pod towards running all its containers and posts its
// status; it returns when it wants to run again (0: only on a change).
func (w *podWorker) sync(pod *corev1.Pod) time.Duration {
	if w.terminal {
		return 0
	}
	ctx := w.n.ctx
	if w.sandbox == nil {
		if err := w.createSandbox(pod); err != nil {
			w.warn(pod, "FailedCreatePodSandBox", fmt.Sprintf("Failed to create pod sandbox: %v", err))
			w.postStatus(pod, false)
			return retryDelay
		}
	}
	if w.volumes == nil || time.Since(w.volumesAt) > volumeRefresh {
		vols, err := w.n.volumes(ctx, pod, filepath.Join(w.dir, "volumes"), w.facts(), w.tokens)
		if err != nil {
			w.mountErr = err.Error()
			w.warn(pod, "FailedMount", "MountVolume.SetUp failed: "+err.Error())
			if w.volumes == nil {
				w.postStatus(pod, false)
				return retryDelay
			}
			// Running containers keep the volumes they have.
		} else {
			w.volumes, w.volumesAt, w.mountErr = vols, time.Now(), ""
		}
	}

	now := time.Now()
	var wake time.Duration
	due := func(t time.Time) {
		if d := t.Sub(now); d > 0 && (wake == 0 || d < wake) {
			wake = d
		}
	}
	if !w.volumesAt.IsZero() {
		due(w.volumesAt.Add(volumeRefresh))
	}
	policy := pod.Spec.RestartPolicy
	initsDone := true
	failed := false
	for _, c := range w.inits {
		w.reap(c)
		if c.sidecar {
			w.runOrRestart(pod, c, corev1.RestartPolicyAlways, due)
			if c.proc == nil || !c.proc.running() {
				initsDone = false
				break
			}
			continue
		}
		if c.succeeded {
			continue
		}
		initsDone = false
		if c.proc != nil && c.proc.running() {
			break
		}
		if c.started && c.lastTerm != nil && policy == corev1.RestartPolicyNever {
			failed = true
			break
		}
		// An init container that failed is retried whatever the policy
		// (except Never), as the kubelet does.
		w.runOrRestart(pod, c, corev1.RestartPolicyOnFailure, due)
		break
	}
	if initsDone && !failed {
		for _, c := range w.apps {
			w.reap(c)
			w.runOrRestart(pod, c, policy, due)
		}
	}
	phase := w.phase(pod, initsDone, failed)
	if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		w.terminal = true
		// Sidecars end with the pod.
		w.terminate(context.Background(), w.grace(pod))
		w.release(false)
	}
	w.postStatus(pod, false)
	return wake
}

// reap notices that a container's process ended.
func (w *podWorker) reap(c *ctr) {
	if c.proc == nil || c.proc.running() {
		return
	}
	p := c.proc
	c.proc = nil
	if c.stopProbe != nil {
		c.stopProbe()
		c.stopProbe = nil
	}
	w.setReady(c, false, "")
	reason := "Completed"
	if p.exitCode != 0 {
		reason = "Error"
	}
	c.lastTerm = &corev1.ContainerStateTerminated{
		ExitCode: p.exitCode, Signal: int32(p.signal), Reason: reason,
		StartedAt: p.startedAt, FinishedAt: p.finishedAt,
		ContainerID: containerID(w.uid, c.spec.Name, c.restarts),
	}
	if c.init && !c.sidecar && p.exitCode == 0 {
		c.succeeded = true
	}
	// The back-off grows with quick failures and starts over after a long run.
	if p.finishedAt.Sub(p.startedAt.Time) > backoffReset || c.backoff == 0 {
		c.backoff = initialBackoff
	} else {
		c.backoff = min(c.backoff*2, maxBackoff)
	}
	c.nextStart = time.Now().Add(c.backoff)
}

// runOrRestart starts a container that never ran, or restarts one that
// ended if the policy says so and its back-off has passed.
func (w *podWorker) runOrRestart(pod *corev1.Pod, c *ctr, policy corev1.RestartPolicy, due func(time.Time)) {
	if c.proc != nil {
		return
	}
	if c.started {
		if c.lastTerm == nil {
			return
		}
		switch policy {
		case corev1.RestartPolicyNever:
			return
		case corev1.RestartPolicyOnFailure:
			if c.lastTerm.ExitCode == 0 {
				return
			}
		}
		if time.Now().Before(c.nextStart) {
			c.waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", c.backoff, c.spec.Name, pod.Name, pod.Namespace, pod.UID)}
			due(c.nextStart)
			return
		}
	} else if !c.nextStart.IsZero() && time.Now().Before(c.nextStart) {
		due(c.nextStart)
		return
	}
	if err := w.startContainer(pod, c); err != nil {
		c.waiting = &corev1.ContainerStateWaiting{Reason: err.reason, Message: err.msg}
		w.warn(pod, "Failed", err.msg)
		if c.backoff == 0 {
			c.backoff = initialBackoff
		} else {
			c.backoff = min(c.backoff*2, maxBackoff)
		}
		c.nextStart = time.Now().Add(c.backoff)
		due(c.nextStart)
		return
	}
	if c.started {
		c.restarts++
	}
	c.started = true
	c.waiting = nil
}

// phase is the pod's phase as the kubelet computes it.
func (w *podWorker) phase(pod *corev1.Pod, initsDone, initFailed bool) corev1.PodPhase {
	if initFailed {
		return corev1.PodFailed
	}
	if !initsDone {
		return corev1.PodPending
	}
	running, succeeded, failed, waiting := 0, 0, 0, 0
	for _, c := range w.apps {
		switch {
		case c.proc != nil:
			running++
		case !c.started:
			waiting++
		case c.lastTerm != nil && willRestart(pod.Spec.RestartPolicy, c.lastTerm.ExitCode):
			running++ // restarting
		case c.lastTerm != nil && c.lastTerm.ExitCode == 0:
			succeeded++
		default:
			failed++
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case failed > 0:
		return corev1.PodFailed
	case succeeded > 0:
		return corev1.PodSucceeded
	}
	return corev1.PodPending
}

func willRestart(p corev1.RestartPolicy, exit int32) bool {
	return p == corev1.RestartPolicyAlways || p == "" || (p == corev1.RestartPolicyOnFailure && exit != 0)
}

// createSandbox gives the pod its network namespace and directory.
func (w *podWorker) createSandbox(pod *corev1.Pod) error {
	name := w.key + "/" + string(w.uid)
	p, err := w.n.net.Pod(name)
	if err != nil {
		return err
	}
	if p == nil {
		if p, err = w.n.net.AddPod(name); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(w.dir, "logs"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(w.dir, "hosts"), []byte(hostsFile(pod, p.IP.String(), w.n.cfg.ClusterDomain)), 0o644); err != nil {
		return err
	}
	if rc := resolvConf(pod, w.n.cfg.ClusterDNS, w.n.cfg.ClusterDomain); rc != "" {
		if err := os.WriteFile(filepath.Join(w.dir, "resolv.conf"), []byte(rc), 0o644); err != nil {
			return err
		}
	}
	w.sandbox = p
	w.startTime = metav1.Now()
	return nil
}

func (w *podWorker) facts() podFacts {
	f := podFacts{hostIP: w.n.ip.String(), allocatable: w.n.allocatable}
	if w.sandbox != nil {
		f.podIP = w.sandbox.IP.String()
	}
	return f
}

// warn records a Warning event once per distinct message.
func (w *podWorker) warn(pod *corev1.Pod, reason, msg string) {
	if w.warned[reason+msg] {
		return
	}
	w.warned[reason+msg] = true
	w.n.log.Warn(reason, "pod", w.key, "msg", msg)
	w.n.recorder.Event(pod, corev1.EventTypeWarning, reason, msg)
}

// terminate stops every running container: SIGTERM to each process group,
// SIGKILL to what is left after grace (or when ctx ends), then SIGKILL to
// any process still in the pod's network namespace (one that left its
// process group).
func (w *podWorker) terminate(ctx context.Context, grace time.Duration) {
	var procs []*proc
	for _, c := range append(append([]*ctr{}, w.inits...), w.apps...) {
		if c.stopProbe != nil {
			c.stopProbe()
			c.stopProbe = nil
		}
		if c.proc != nil && c.proc.running() {
			procs = append(procs, c.proc)
		}
	}
	for _, p := range procs {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	}
	deadline := time.After(grace)
wait:
	for _, p := range procs {
		select {
		case <-p.exited:
		case <-deadline:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	for _, p := range procs {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	for _, p := range procs {
		<-p.exited
	}
	for _, c := range append(append([]*ctr{}, w.inits...), w.apps...) {
		w.reap(c)
	}
	if w.sandbox != nil {
		killNetnsProcesses(w.sandbox.NetnsPath, w.n.log)
	}
}

// release frees the pod's network namespace and IP, and with removeDir
// its volumes and logs.
func (w *podWorker) release(removeDir bool) {
	if w.sandbox != nil {
		if err := w.n.net.RemovePod(w.sandbox.Name); err != nil {
			w.n.log.Warn("remove pod network", "pod", w.key, "err", err)
		}
		w.sandbox = nil
	}
	if removeDir {
		if err := os.RemoveAll(w.dir); err != nil {
			w.n.log.Warn("remove pod directory", "pod", w.key, "err", err)
		}
	}
}

// hostsFile is the pod's /etc/hosts, as the kubelet writes it.
func hostsFile(pod *corev1.Pod, ip, domain string) string {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file (edgeway local node).\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	host := podHostname(pod)
	if pod.Spec.Subdomain != "" {
		fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", ip, host, pod.Spec.Subdomain, pod.Namespace, domain, host)
	} else {
		fmt.Fprintf(&b, "%s\t%s\n", ip, host)
	}
	for _, a := range pod.Spec.HostAliases {
		fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
	}
	return b.String()
}

// resolvConf is the pod's /etc/resolv.conf for its dnsPolicy, or "" when
// the host's applies (dnsPolicy Default, or no cluster DNS configured).
func resolvConf(pod *corev1.Pod, dns []netip.Addr, domain string) string {
	var servers, searches, options []string
	switch pod.Spec.DNSPolicy {
	case corev1.DNSDefault:
		return ""
	case corev1.DNSNone:
	default: // ClusterFirst, ClusterFirstWithHostNet
		if len(dns) == 0 {
			return ""
		}
		for _, a := range dns {
			servers = append(servers, a.String())
		}
		searches = []string{pod.Namespace + ".svc." + domain, "svc." + domain, domain}
		options = []string{"ndots:5"}
	}
	if c := pod.Spec.DNSConfig; c != nil {
		servers = append(servers, c.Nameservers...)
		searches = append(searches, c.Searches...)
		for _, o := range c.Options {
			if o.Value != nil {
				options = append(options, o.Name+":"+*o.Value)
			} else {
				options = append(options, o.Name)
			}
		}
	}
	var b strings.Builder
	b.WriteString("# edgeway local node\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(searches, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.String()
}

func podHostname(pod *corev1.Pod) string {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

func containerID(uid types.UID, name string, restart int32) string {
	return fmt.Sprintf("edgeway://%s/%s/%d", uid, name, restart)
}
