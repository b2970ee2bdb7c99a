package proxy

import (
	"net/http"
	"sync"
	"time"
)

// refusalLogsPerSecond bounds the refusal log lines: every refusal is
// counted in the metric, but a client that sends refused requests as fast
// as it can must not be able to flood the log (and the disk under it).
const refusalLogsPerSecond = 100

// refusalLog lets through at most refusalLogsPerSecond lines a second and
// counts the rest, so the next line says how many were left out.
type refusalLog struct {
	mu          sync.Mutex
	windowStart time.Time
	inWindow    int
	suppressed  int
}

// allow reports whether a refusal at now is logged, and how many were left
// out since the last logged one.
func (l *refusalLog) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.windowStart) >= time.Second || now.Before(l.windowStart) {
		l.windowStart, l.inWindow = now, 0
	}
	if l.inWindow >= refusalLogsPerSecond {
		l.suppressed++
		return false, 0
	}
	l.inWindow++
	left := l.suppressed
	l.suppressed = 0
	return true, left
}

// refused logs and counts an HTTP request that a route refuses with a
// direct_response 403: the configuration's way of saying "not allowed here"
// (an egress gateway's undeclared host). The log line carries the refused
// host; the metric only configuration names (docs/xds-contract.md).
func (p *Proxy) refused(w http.ResponseWriter, r *http.Request, route string) {
	listener := ""
	if x := exchangeOf(w); x != nil {
		listener = x.listener
	}
	if ok, left := p.refusals.allow(time.Now()); ok {
		p.log.Info("request refused by its route", "listener", listener, "route", route, "host", r.Host, "method", r.Method, "remote", r.RemoteAddr, "notLogged", left)
	}
	p.metrics.Refused(listener, "http", route)
}
