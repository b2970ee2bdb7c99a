package main

import (
	"strings"
	"testing"

	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestServableRefusesWhatThePublishWouldRefuse: translate checks its IR as
// publishing it would (the xDS server's validation and translation, the
// data plane's compiler), so that a configuration edgeway would never
// serve fails translate instead of printing as if it would.
func TestServableRefusesWhatThePublishWouldRefuse(t *testing.T) {
	snap, err := snapshot.LoadDir("../../examples/quickstart")
	if err != nil {
		t.Fatal(err)
	}
	x, _ := gatewayapi.Translate(snap)
	if err := servable(x); err != nil {
		t.Fatalf("the quickstart: %v", err)
	}
	if len(x.Clusters) == 0 || len(x.Clusters[0].Endpoints) == 0 {
		t.Fatal("the quickstart has no cluster endpoint to break")
	}
	// What a translation defect would leave in the IR: an endpoint on port
	// 0 (a named targetPort of an ExternalName Service once did this).
	broken := *x
	c := *x.Clusters[0]
	c.Endpoints = append([]ir.Endpoint(nil), c.Endpoints...)
	c.Endpoints[0].Port = 0
	broken.Clusters = append([]*ir.Cluster{&c}, x.Clusters[1:]...)
	err = servable(&broken)
	if err == nil || !strings.Contains(err.Error(), "port: 0 is not in 1-65535") {
		t.Fatalf("servable = %v, want the IR's refusal of port 0", err)
	}
	if msg := refusedError(err).Error(); !strings.Contains(msg, "keep serving the previous one") || !strings.Contains(msg, "-o ir") {
		t.Errorf("the refusal does not say what it means and what to do: %s", msg)
	}
}
