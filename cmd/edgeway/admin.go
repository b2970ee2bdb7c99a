package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/edgeway/edgeway/controller/gatewayapi"
	filesource "github.com/edgeway/edgeway/controller/source/file"
	"github.com/edgeway/edgeway/controller/status"
	"github.com/edgeway/edgeway/controller/xds"
	"github.com/edgeway/edgeway/dataplane/run"
	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

// standaloneState is what the admin endpoint shows.
type standaloneState struct {
	source    *filesource.Source
	client    *xdsclient.Client
	xdsServer *xds.Server
	metrics   http.Handler // the data plane's /metrics

	// ours is the controllerName the statuses are written for.
	ours gwv1.GatewayController

	mu         sync.Mutex
	translated *gatewayapi.Statuses // the last load's, as translation made them
	statuses   *gatewayapi.Statuses // what the report shows (refresh)
	refused    string               // the data plane's refusal statuses show, "" if none
	// superseded are refusals a newer publication already answers (the
	// sockets that failed to bind are left out of it): statuses do not
	// show them while the data plane catches up (supersede).
	superseded map[string]xdsclient.Rejection
	draining   atomic.Bool
}

// setStatuses keeps a load's statuses for the report.
func (s *standaloneState) setStatuses(st *gatewayapi.Statuses, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.translated = st
	s.refreshLocked(now)
}

// refresh brings the report's statuses up to date after the data plane
// accepted or refused a configuration; only a change of refusal changes
// them (the data plane answers each resource type of a load apart).
func (s *standaloneState) refresh(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shownRefusal() != s.refused {
		s.refreshLocked(now)
	}
}

// supersede marks the data plane's refusals so far as answered by the
// publication about to be made: it leaves out the sockets that failed to
// bind. Until the data plane has applied it, the refused version of a type
// the new publication did not change is still the published one, and
// would read as refused.
func (s *standaloneState) supersede() {
	if s.client == nil {
		return
	}
	rejected := s.client.Stats().Rejected
	s.mu.Lock()
	defer s.mu.Unlock()
	s.superseded = rejected
}

// refreshLocked derives the report's statuses from the translated ones:
// while the data plane refuses the published configuration (a listener's
// port in use, say), no Gateway is Programmed, and the reason says why.
// No API server keeps condition times here, so they are stamped against
// the last report's: a condition keeps its time while its status holds, as
// in Kubernetes.
func (s *standaloneState) refreshLocked(now time.Time) {
	if s.translated == nil {
		return
	}
	st := s.translated
	s.refused = s.shownRefusal()
	if why := s.refused; why != "" {
		st = status.Refused(st, "the data plane refused the configuration and keeps serving the one before (if any): "+why+
			"; once that is fixed, send edgeway SIGHUP (or change a file) to apply it")
	}
	s.statuses = status.Stamp(s.statuses, st, s.ours, now)
}

// refusal is the data plane's reason for refusing the published version of
// some resource type, "" if it refused none of them.
func (s *standaloneState) refusal() string {
	return s.refusalExcept(nil)
}

// shownRefusal is the refusal statuses show: not a superseded one. s.mu is
// held.
func (s *standaloneState) shownRefusal() string {
	return s.refusalExcept(s.superseded)
}

func (s *standaloneState) refusalExcept(superseded map[string]xdsclient.Rejection) string {
	if s.client == nil || s.xdsServer == nil {
		return ""
	}
	rejected := s.client.Stats().Rejected
	for typ, version := range s.xdsServer.Versions(run.StandaloneNodeID) {
		if r, ok := rejected[typ]; ok && r.Version == version && r != superseded[typ] {
			return r.Error
		}
	}
	return ""
}

func (s *standaloneState) setDraining() { s.draining.Store(true) }

// statusReport is the body of GET /api/status: where the configuration came
// from, whether the last load was refused, and the status of every object, in
// the shape `kubectl get -o yaml` shows.
type statusReport struct {
	Config    filesource.State `json:"config"`
	Dataplane dataplaneState   `json:"dataplane"`
	Objects   []statusObject   `json:"objects"`
}

// dataplaneState says whether the data plane serves what the controller
// published: InSync is true once it has ACKed the published version of every
// resource type.
type dataplaneState struct {
	Connected bool   `json:"connected"`
	InSync    bool   `json:"inSync"`
	Accepted  uint64 `json:"accepted"`
	NACKs     uint64 `json:"nacks"`
	LastError string `json:"lastError,omitempty"`
}

func (s *standaloneState) dataplane() dataplaneState {
	st := s.client.Stats()
	published := s.xdsServer.Versions(run.StandaloneNodeID)
	inSync := st.Connected && len(published) > 0
	for typ, v := range published {
		if st.Versions[typ] != v {
			inSync = false
		}
	}
	return dataplaneState{Connected: st.Connected, InSync: inSync, Accepted: st.Accepted, NACKs: st.NACKs, LastError: st.LastError}
}

type statusObject struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   statusMetadata `json:"metadata"`
	Status     any            `json:"status"`
}

type statusMetadata struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

const gatewayAPIVersion = "gateway.networking.k8s.io/v1"

func statusObjects(st *gatewayapi.Statuses) []statusObject {
	if st == nil {
		return nil
	}
	var out []statusObject
	for _, c := range st.GatewayClasses {
		out = append(out, statusObject{gatewayAPIVersion, "GatewayClass", statusMetadata{Name: c.Name}, c.Status})
	}
	for _, g := range st.Gateways {
		out = append(out, statusObject{gatewayAPIVersion, "Gateway", statusMetadata{Name: g.Name, Namespace: g.Namespace}, g.Status})
	}
	for _, l := range st.ListenerSets {
		out = append(out, statusObject{gatewayAPIVersion, "ListenerSet", statusMetadata{Name: l.Name, Namespace: l.Namespace}, l.Status})
	}
	for _, r := range st.Routes {
		out = append(out, statusObject{gatewayAPIVersion, r.Kind, statusMetadata{Name: r.Name, Namespace: r.Namespace}, r.Status})
	}
	for _, p := range st.Policies {
		out = append(out, statusObject{gatewayAPIVersion, p.Kind, statusMetadata{Name: p.Name, Namespace: p.Namespace}, p.Status})
	}
	// ServiceEntries appear only when edgeway reports something on them (a
	// host lost to an older entry), in the shape of their status.conditions.
	for _, se := range st.ServiceEntries {
		out = append(out, statusObject{"networking.istio.io/v1", "ServiceEntry", statusMetadata{Name: se.Name, Namespace: se.Namespace}, map[string]any{"conditions": se.Conditions}})
	}
	return out
}

func (s *standaloneState) report() statusReport {
	s.mu.Lock()
	st := s.statuses
	s.mu.Unlock()
	return statusReport{Config: s.source.State(), Dataplane: s.dataplane(), Objects: statusObjects(st)}
}

type adminServer struct {
	lis net.Listener
	srv *http.Server
}

func (a *adminServer) Addr() net.Addr { return a.lis.Addr() }
func (a *adminServer) Close() error   { return a.srv.Close() }

func startAdmin(addr string, state *standaloneState, log *slog.Logger) (*adminServer, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case state.draining.Load():
			http.Error(w, "draining", http.StatusServiceUnavailable)
		case state.source.State().Generation == 0:
			http.Error(w, "no configuration loaded yet: see /api/status", http.StatusServiceUnavailable)
		case !state.dataplane().InSync:
			http.Error(w, "the data plane has not applied the published configuration yet: see /api/status", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ready")
		}
	})
	if state.metrics != nil {
		mux.Handle("GET /metrics", state.metrics)
	}
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		body, err := yaml.Marshal(state.report())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(body)
	})
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin server: listen on %s: %w (pick another with --admin-address)", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server stopped", "error", err)
		}
	}()
	return &adminServer{lis: lis, srv: srv}, nil
}
