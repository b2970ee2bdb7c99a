package status

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Shared ACK reports. Every replica serves xDS, and a data plane is
// connected to whichever replica its Service picked, but only the leader
// writes status: it must learn what the data planes connected to the other
// replicas applied. Each replica therefore publishes what its own data
// planes applied in one ConfigMap of the controller's namespace
// ("<lease>-acks-<identity>", label ReportLabel=<lease>), rewritten when an
// ACK changes it (debounced) and at least every Heartbeat; the leader reads
// the reports from its informer cache. A report older than three
// heartbeats (its replica is gone) is ignored, and deleted after ten.
//
// Cost: one ConfigMap write per replica per configuration change that
// reaches its data planes, plus one per Heartbeat.

// ReportLabel marks ACK report ConfigMaps; its value is the Lease name, so
// that two controllers in one namespace do not read each other's reports.
const ReportLabel = "gateway.edgeway.dev/xds-acks"

// heartbeatAnnotation holds the time a report was last written.
const heartbeatAnnotation = "gateway.edgeway.dev/heartbeat"

// SharedAcksOptions configure SharedAcks.
type SharedAcksOptions struct {
	// Local is this replica's xDS server.
	Local interface {
		Acked(nodeID string) map[string]string
		Nodes() []string
	}
	// Client writes the report; Cache reads the others' (the manager's).
	Client client.Client
	Cache  cache.Cache
	// Namespace of the reports (the controller's); Group is the Lease name;
	// Identity names this replica (the Pod name).
	Namespace, Group, Identity string
	// Heartbeat (default 1m); Debounce of ACK-triggered writes (default 200ms).
	Heartbeat, Debounce time.Duration
	// OnChange is called when another replica's report changes (the
	// writer's Trigger).
	OnChange func()
	Log      *slog.Logger
	Now      func() time.Time
}

// SharedAcks is an Acks view over every replica, and the Runnable (on
// every replica) that publishes this one's report.
type SharedAcks struct {
	o       SharedAcksOptions
	changed chan struct{}

	mu      sync.Mutex
	written map[string]string // the data of our last write
	lastHB  time.Time
}

// NewSharedAcks registers a handler for the reports' ConfigMaps (before
// the manager starts).
func NewSharedAcks(ctx context.Context, o SharedAcksOptions) (*SharedAcks, error) {
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Minute
	}
	if o.Debounce <= 0 {
		o.Debounce = 200 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &SharedAcks{o: o, changed: make(chan struct{}, 1)}
	inf, err := o.Cache.GetInformer(ctx, &corev1.ConfigMap{})
	if err != nil {
		return nil, err
	}
	notify := func(obj any) {
		if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		cm, ok := obj.(*corev1.ConfigMap)
		if ok && cm.Namespace == o.Namespace && cm.Labels[ReportLabel] == o.Group && cm.Name != s.name() && o.OnChange != nil {
			o.OnChange()
		}
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    notify,
		UpdateFunc: func(_, obj any) { notify(obj) },
		DeleteFunc: notify,
	})
	return s, err
}

func (s *SharedAcks) name() string { return s.o.Group + "-acks-" + s.o.Identity }

// NeedLeaderElection: every replica reports its data planes.
func (s *SharedAcks) NeedLeaderElection() bool { return false }

// Changed asks for the report to be rewritten (call it from the xDS
// server's OnAcked). Never blocks.
func (s *SharedAcks) Changed() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Start writes the report until ctx ends.
func (s *SharedAcks) Start(ctx context.Context) error {
	tick := time.NewTicker(s.o.Heartbeat)
	defer tick.Stop()
	s.Changed()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			s.prune(ctx)
		case <-s.changed:
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(s.o.Debounce):
			}
		}
		if err := s.report(ctx); err != nil && ctx.Err() == nil {
			s.o.Log.Error("publishing this replica's xDS ACKs", "error", err)
			time.AfterFunc(time.Second, s.Changed)
		}
	}
}

// reportKey is a node id as a ConfigMap key: "<ns>_<name>" (neither a
// namespace nor a Gateway name can hold "_", so it is unambiguous).
func reportKey(node string) string { return strings.Replace(node, "/", "_", 1) }

// report writes this replica's ACKs if they changed or a heartbeat is due.
func (s *SharedAcks) report(ctx context.Context) error {
	data := map[string]string{}
	for _, node := range s.o.Local.Nodes() {
		if a := s.o.Local.Acked(node); len(a) > 0 {
			b, err := json.Marshal(a)
			if err != nil {
				return err
			}
			data[reportKey(node)] = string(b)
		}
	}
	now := s.o.Now()
	s.mu.Lock()
	due := !maps.Equal(data, s.written) || now.Sub(s.lastHB) >= s.o.Heartbeat*9/10
	s.mu.Unlock()
	if !due {
		return nil
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: s.o.Namespace, Name: s.name()}}
	err := s.o.Client.Get(ctx, client.ObjectKeyFromObject(cm), cm)
	switch {
	case apierrors.IsNotFound(err):
		fill(cm, s.o.Group, data, now)
		err = s.o.Client.Create(ctx, cm)
	case err == nil:
		fill(cm, s.o.Group, data, now)
		err = s.o.Client.Update(ctx, cm)
	}
	if err != nil {
		return fmt.Errorf("ConfigMap %s/%s: %w", s.o.Namespace, s.name(), err)
	}
	s.mu.Lock()
	s.written, s.lastHB = data, now
	s.mu.Unlock()
	return nil
}

func fill(cm *corev1.ConfigMap, group string, data map[string]string, now time.Time) {
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Labels[ReportLabel] = group
	cm.Annotations[heartbeatAnnotation] = now.UTC().Format(time.RFC3339)
	cm.Data = data
}

// reports lists the others' reports from the cache with their age.
func (s *SharedAcks) reports(ctx context.Context) ([]corev1.ConfigMap, error) {
	list := &corev1.ConfigMapList{}
	if err := s.o.Cache.List(ctx, list, client.InNamespace(s.o.Namespace), client.MatchingLabels{ReportLabel: s.o.Group}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

func (s *SharedAcks) age(cm *corev1.ConfigMap) time.Duration {
	t, err := time.Parse(time.RFC3339, cm.Annotations[heartbeatAnnotation])
	if err != nil {
		return 1<<63 - 1
	}
	return s.o.Now().Sub(t)
}

// Acked returns this replica's view and every fresh report's.
func (s *SharedAcks) Acked(node string) []map[string]string {
	var out []map[string]string
	if a := s.o.Local.Acked(node); a != nil {
		out = append(out, a)
	}
	cms, err := s.reports(context.Background())
	if err != nil {
		s.o.Log.Error("reading other replicas' xDS ACKs", "error", err)
		return out
	}
	for i := range cms {
		cm := &cms[i]
		if cm.Name == s.name() || s.age(cm) > 3*s.o.Heartbeat {
			continue
		}
		raw, ok := cm.Data[reportKey(node)]
		if !ok {
			continue
		}
		a := map[string]string{}
		if err := json.Unmarshal([]byte(raw), &a); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// prune deletes the reports of replicas gone for ten heartbeats.
func (s *SharedAcks) prune(ctx context.Context) {
	cms, err := s.reports(ctx)
	if err != nil {
		return
	}
	for i := range cms {
		if cms[i].Name != s.name() && s.age(&cms[i]) > 10*s.o.Heartbeat {
			if err := s.o.Client.Delete(ctx, &cms[i]); err != nil && !apierrors.IsNotFound(err) {
				s.o.Log.Warn("deleting a stale xDS ACK report", "configmap", cms[i].Name, "error", err)
			}
		}
	}
}
