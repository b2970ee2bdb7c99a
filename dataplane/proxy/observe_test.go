package proxy

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/edgeway/edgeway/dataplane/accesslog"
	"github.com/edgeway/edgeway/dataplane/metrics"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestMetricsAndAccessLog(t *testing.T) {
	a := startBackend(t, "a")
	m := metrics.New()
	var logBuf syncBuf
	p := New(testLogger(), WithMetrics(m), WithAccessLog(accesslog.New(&logBuf)))
	t.Cleanup(func() { p.Close() })
	res := newResources()
	addCluster(res, "a", backendAddr(a))
	addCluster(res, "dead", "127.0.0.1:1")
	ok := toCluster(prefixMatch("/"), "a")
	ok.Name = "ok-route"
	dead := toCluster(exactMatch("/dead"), "dead")
	dead.Name = "dead-route"
	res.Routes["main"] = routeConfig("main", vhost("all", []string{"*"}, dead, ok))
	res.Listeners["l"] = listener(t, "l", 0, false, chain("http", nil, nil, hcmFilter(t, hcm(t, "main"))))
	applyAll(t, p, res)
	base := "http://" + p.ListenerAddr("l").String()
	c := client()
	for range 3 {
		if r := do(t, c, "GET", base+"/x?token=secret", "h.example", map[string]string{"X-Request-Id": "rid-1"}); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
	}
	if r := do(t, c, "GET", base+"/dead", "h.example", nil); r.status != 503 {
		t.Fatalf("dead: %d", r.status)
	}
	// The exchanges are recycled: one after the failure must carry none of
	// its fields.
	if r := do(t, c, "GET", base+"/after", "h.example", nil); r.status != 200 {
		t.Fatalf("after: %d", r.status)
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	for _, want := range []string{
		`edgeway_proxy_http_requests_total{cluster="a",listener="l",route="ok-route",status_class="2xx"} 4`,
		`edgeway_proxy_http_requests_total{cluster="dead",listener="l",route="dead-route",status_class="5xx"} 1`,
		`edgeway_proxy_upstream_connect_errors_total{cluster="dead"} 1`,
		`edgeway_proxy_downstream_connections_total{listener="l"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, text)
		}
	}

	lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d access log lines, want 5:\n%s", len(lines), logBuf.String())
	}
	var e accesslog.Entry
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil {
		t.Fatal(err)
	}
	if e.Listener != "l" || e.Route != "ok-route" || e.Cluster != "a" || e.Upstream != backendAddr(a) || e.Status != 200 ||
		e.Method != "GET" || e.Path != "/x" || e.RequestID != "rid-1" || e.Authority != "h.example" ||
		!strings.HasPrefix(e.Client, "127.0.0.1:") || e.BytesSent == 0 || e.Protocol != "HTTP/1.1" {
		t.Errorf("access log entry %+v", e)
	}
	if strings.Contains(logBuf.String(), "secret") {
		t.Error("query string logged")
	}
	first := e
	for _, l := range lines[1:3] {
		e = accesslog.Entry{}
		json.Unmarshal([]byte(l), &e)
		if e.BytesSent != first.BytesSent || e.RequestID != "rid-1" || e.Status != 200 {
			t.Errorf("repeated request entry %+v, want the first's bytes (%d)", e, first.BytesSent)
		}
	}
	e = accesslog.Entry{}
	json.Unmarshal([]byte(lines[3]), &e)
	if e.Status != 503 || e.Flags != "upstream_connect_error" || e.Cluster != "dead" || e.RequestID == "" {
		t.Errorf("failed request entry %+v", e)
	}
	failedID := e.RequestID
	e = accesslog.Entry{}
	json.Unmarshal([]byte(lines[4]), &e)
	if e.Status != 200 || e.Flags != "" || e.Route != "ok-route" || e.Cluster != "a" || e.Upstream != backendAddr(a) ||
		e.BytesSent == 0 || e.RequestID == "" || e.RequestID == failedID || e.Path != "/after" {
		t.Errorf("entry of the request after the failure %+v", e)
	}
}
