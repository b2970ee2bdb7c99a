package proxy

import "net/http"

// refused logs and counts an HTTP request that a route refuses with a
// direct_response 403: the configuration's way of saying "not allowed here"
// (an egress gateway's undeclared host). The log line carries the refused
// host; the metric only configuration names (docs/xds-contract.md).
func (p *Proxy) refused(w http.ResponseWriter, r *http.Request, route string) {
	listener := ""
	if x := exchangeOf(w); x != nil {
		listener = x.listener
	}
	p.log.Info("request refused by its route", "listener", listener, "route", route, "host", r.Host, "method", r.Method, "remote", r.RemoteAddr)
	p.metrics.Refused(listener, "http", route)
}
