package run

import (
	"strings"
	"testing"

	"github.com/edgeway/edgeway/dataplane/config"
	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

// TestDataplaneReadiness: not ready until every type was ACKed and the
// proxy serves a complete configuration; then ready, and it stays ready
// when a later candidate is incomplete (the last good one serves).
func TestDataplaneReadiness(t *testing.T) {
	all := map[string]string{config.TypeCluster: "1", config.TypeEndpoint: "1", config.TypeListener: "1", config.TypeRoute: "1", config.TypeSecret: "1"}
	noSDS := map[string]string{config.TypeCluster: "1", config.TypeEndpoint: "1", config.TypeListener: "1", config.TypeRoute: "1"}
	var r readiness
	if ok, why := r.check(xdsclient.Stats{Accepted: 4, Versions: noSDS}, true); ok || !strings.Contains(why, "every xDS type") {
		t.Errorf("four types ACKed: %v %q", ok, why)
	}
	if ok, why := r.check(xdsclient.Stats{Accepted: 5, Versions: all}, false); ok || !strings.Contains(why, "incomplete") {
		t.Errorf("incomplete: %v %q", ok, why)
	}
	if ok, _ := r.check(xdsclient.Stats{Accepted: 5, Versions: all}, true); !ok {
		t.Error("complete and ACKed: not ready")
	}
	if ok, _ := r.check(xdsclient.Stats{Accepted: 6, Versions: all}, false); !ok {
		t.Error("readiness revoked by a later incomplete candidate")
	}
}
