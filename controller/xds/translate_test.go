package xds

import (
	"strings"
	"testing"

	"github.com/edgeway/edgeway/controller/ir"
)

func TestTranslateRejectsInvalidIR(t *testing.T) {
	x := loadIR(t, "testdata/tcp.in.yaml")
	x.Listeners[0].TCP.Backends[0].Cluster = "service/default/missing/1"
	_, err := Translate(x)
	if err == nil || !strings.Contains(err.Error(), `cluster "service/default/missing/1" does not exist`) {
		t.Fatalf("want a validation error naming the missing cluster, got %v", err)
	}
}

// TestTranslateReportsPackingErrors: what Validate does not check (here, a
// header value that is not UTF-8) must come back as an error naming the
// resource, never as a resource that cannot be sent.
func TestTranslateReportsPackingErrors(t *testing.T) {
	x := loadIR(t, "testdata/clusters.in.yaml")
	x.RouteTables[0].VirtualHosts[0].Routes[0].RequestHeaders = &ir.HeaderModifier{
		Set: []ir.Header{{Name: "x-a", Value: "\xff"}},
	}
	_, err := Translate(x)
	if err == nil || !strings.Contains(err.Error(), `routes "0.0.0.0:80"`) {
		t.Fatalf("want an error naming the route configuration, got %v", err)
	}
}
