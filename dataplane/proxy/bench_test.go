package proxy

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkForward measures one proxied keep-alive GET end to end
// (client, proxy, backend on loopback). Compare ratios, not absolutes.
func BenchmarkForward(b *testing.B) {
	be := startBackend(b, "a")
	_, _, base := httpSetup(b, routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "a"))), map[string][]string{"a": {backendAddr(be)}})
	cl := client()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := cl.Get(base + "/x")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatal(resp.Status)
		}
	}
}
