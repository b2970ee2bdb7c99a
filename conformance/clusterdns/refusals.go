package clusterdns

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// refusalInterval is how often a refused query is logged at most; the
// others in between are counted and the count goes with the next line. Pods
// whose software looks up outside names retry in tight loops, and one line
// per query would drown every other log line of the cluster.
const refusalInterval = 10 * time.Second

// refusalLog logs queries for names outside the cluster domain,
// rate-limited.
type refusalLog struct {
	log    *slog.Logger
	domain string

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func newRefusalLog(log *slog.Logger, domain string) *refusalLog {
	return &refusalLog{log: log, domain: domain}
}

func (r *refusalLog) refused(name, qtype string, client net.Addr) {
	r.mu.Lock()
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < refusalInterval {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	suppressed := r.suppressed
	r.last, r.suppressed = now, 0
	r.mu.Unlock()
	r.log.Warn("refused a query for a name outside the cluster domain: the local cluster never forwards DNS, so that no query leaves the machine; use names under the domain, or a host the test itself serves",
		"name", name, "type", qtype, "client", client, "domain", r.domain,
		"alsoRefusedSinceLastLine", suppressed)
}
