package status

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
	metaistio "istio.io/api/meta/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeway/edgeway/controller/gatewayapi"
)

// TestServiceEntryConditions: Istio's and other controllers' conditions are
// kept untouched, ours is replaced (keeping its time while its status holds)
// and removed when translation no longer reports it.
func TestServiceEntryConditions(t *testing.T) {
	then := timestamppb.New(time.Unix(1000, 0))
	now := metav1.NewTime(time.Unix(2000, 0))
	istio := &metaistio.IstioCondition{Type: "Reconciled", Status: "True", LastTransitionTime: then}
	ours := &metaistio.IstioCondition{Type: gatewayapi.ServiceEntryHostConflict, Status: "True", Reason: "HostConflict", Message: "old", LastTransitionTime: then}
	desired := []metav1.Condition{{Type: gatewayapi.ServiceEntryHostConflict, Status: metav1.ConditionTrue, Reason: "HostConflict", Message: "new", ObservedGeneration: 3}}

	got := serviceEntryConditions([]*metaistio.IstioCondition{istio, ours}, desired, now)
	if len(got) != 2 || got[0] != istio || got[1].Message != "new" || got[1].ObservedGeneration != 3 || !got[1].LastTransitionTime.AsTime().Equal(then.AsTime()) {
		t.Fatalf("replace: %v", got)
	}
	got = serviceEntryConditions([]*metaistio.IstioCondition{istio}, desired, now)
	if len(got) != 2 || !got[1].LastTransitionTime.AsTime().Equal(now.Time) {
		t.Fatalf("add: %v", got)
	}
	got = serviceEntryConditions([]*metaistio.IstioCondition{istio, ours}, nil, now)
	if len(got) != 1 || got[0] != istio {
		t.Fatalf("remove: %v", got)
	}
	if !istioConditionsEqual([]*metaistio.IstioCondition{istio}, got) {
		t.Fatal("equal lists compare unequal: the writer would write forever")
	}
}
