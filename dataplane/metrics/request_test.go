package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Request goes through a cache of series: repeated and interleaved keys,
// every status class and "other" must still land in their own series, and
// only the classes seen may appear.
func TestRequestSeriesCache(t *testing.T) {
	m := New()
	for range 3 {
		m.Request("l1", "r1", "c1", 200, time.Millisecond)
		m.Request("l1", "r2", "c1", 503, time.Millisecond)
	}
	m.Request("l1", "r1", "c1", 404, time.Millisecond)
	m.Request("l2", "r1", "c1", 200, time.Millisecond)
	m.Request("l1", "r1", "c1", 999, time.Millisecond)
	want := `
# HELP edgeway_proxy_http_requests_total HTTP requests answered, by listener, route, cluster and status class (1xx..5xx).
# TYPE edgeway_proxy_http_requests_total counter
edgeway_proxy_http_requests_total{cluster="c1",listener="l1",route="r1",status_class="2xx"} 3
edgeway_proxy_http_requests_total{cluster="c1",listener="l1",route="r1",status_class="4xx"} 1
edgeway_proxy_http_requests_total{cluster="c1",listener="l1",route="r1",status_class="other"} 1
edgeway_proxy_http_requests_total{cluster="c1",listener="l1",route="r2",status_class="5xx"} 3
edgeway_proxy_http_requests_total{cluster="c1",listener="l2",route="r1",status_class="2xx"} 1
`
	if err := testutil.CollectAndCompare(m.requests, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.requestDuration); n != 3 {
		t.Errorf("duration series: %d, want 3 (one per listener, route and cluster)", n)
	}
}
