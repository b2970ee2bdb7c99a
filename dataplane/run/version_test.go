package run

import (
	"strings"
	"testing"

	"github.com/edgeway/edgeway/dataplane/netpollorder"
)

// The version line says whether the runtime was built with hack/netpollfifo's
// overlay; `make test` runs this package with and without it.
func TestVersionSaysHowThePollerOrdersWakeUps(t *testing.T) {
	v := Version("edgeway-dataplane", "v1.2.3")
	if !strings.HasPrefix(v, "edgeway-dataplane v1.2.3 (go") {
		t.Fatalf("Version = %q", v)
	}
	if said := strings.Contains(v, ", netpoll in readiness order)"); said != netpollorder.ReadinessOrder() {
		t.Fatalf("Version = %q, but the runtime's readiness order is %v", v, netpollorder.ReadinessOrder())
	}
}
