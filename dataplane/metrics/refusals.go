package metrics

import "github.com/prometheus/client_golang/prometheus"

// Refusals count what the configuration itself refuses (an egress
// gateway's undeclared hosts, a listener hostname with nothing to serve):
// HTTP requests answered by a direct_response 403 and TLS connections
// closed by a refusing filter chain. Labels are configuration names (the
// route or the chain) and the protocol, never the refused host, so the
// series are bounded by the configuration; the host is in the log line.
type refusals struct{ total *prometheus.CounterVec }

func newRefusals() refusals {
	return refusals{total: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgeway_proxy_refusals_total",
		Help: "Requests and connections refused by the configuration (HTTP direct_response 403, TLS refusing filter chain), by listener, protocol (http, tls) and the route or chain that refused.",
	}, []string{"listener", "protocol", "name"})}
}

// Refused records one refusal by the route or chain name.
func (m *Metrics) Refused(listener, protocol, name string) {
	if m == nil {
		return
	}
	m.refusals.total.WithLabelValues(listener, protocol, name).Inc()
}
