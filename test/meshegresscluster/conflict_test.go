package meshegresscluster

import (
	"fmt"
	"testing"
	"time"
)

// hostConflictCondition is the condition the controller writes on a
// ServiceEntry that loses a host to another.
const hostConflictCondition = "gateway.edgeway.dev/HostConflict"

// checkHostConflict: two ServiceEntries in two namespaces, both exported
// everywhere, declare conflict.external.test. The older (created first,
// and first by namespace/name too, so the rule's tie-break agrees) keeps
// the host; the controller running in the cluster writes HostConflict on
// the other and leaves the winner without it.
func checkHostConflict(t *testing.T, e *env, x *egressScenario) {
	entry := func(ns, name string) string {
		return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s, namespace: %s}
spec:
  hosts: [conflict.external.test]
  location: MESH_EXTERNAL
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 3000}]
  resolution: STATIC
  endpoints: [{address: %s}]
`, name, ns, x.apiIP)
	}
	e.apply(t, entry(egressNS, "conflict-first"))
	// creationTimestamp has a resolution of one second: let the second
	// entry be strictly younger.
	time.Sleep(1100 * time.Millisecond)
	e.apply(t, entry(externalNS, "conflict-second"))

	eventually(t, time.Minute, "HostConflict on external/conflict-second", func() error {
		c, err := e.serviceEntryCondition(externalNS, "conflict-second", hostConflictCondition)
		if err != nil {
			return err
		}
		if c == nil || c["status"] != "True" {
			return fmt.Errorf("condition %v", c)
		}
		t.Logf("external/conflict-second: %s %s: %s", c["status"], c["reason"], c["message"])
		return nil
	})
	c, err := e.serviceEntryCondition(egressNS, "conflict-first", hostConflictCondition)
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		t.Errorf("the winner egress/conflict-first has %v", c)
	}
}
