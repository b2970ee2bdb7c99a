package kubecontroller

import (
	"context"
	"fmt"
	"testing"
	"time"

	metaistio "istio.io/api/meta/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/gatewayapi"
)

// TestServiceEntryConflictStatus: against a real kube-apiserver with
// Istio's ServiceEntry CRD, the leader reports a host conflict on the
// losing ServiceEntry's status.conditions (its own condition type only,
// an existing condition of Istio's kept) and removes it once the winner is
// gone.
func TestServiceEntryConflictStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver; not in -short")
	}
	api := apiserver.Start(t)
	c := api.Client
	startController(t, api.Config, nil)
	ns := namespace(t, c, "se-conflict")
	se := func(name string) *istionet.ServiceEntry {
		o := &istionet.ServiceEntry{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		o.Spec.Hosts = []string{"api.example.com"}
		o.Spec.Resolution = networking.ServiceEntry_STATIC
		o.Spec.Ports = []*networking.ServicePort{{Number: 80, Name: "http", Protocol: "HTTP"}}
		o.Spec.Endpoints = []*networking.WorkloadEntry{{Address: "198.18.0.20"}}
		return o
	}
	// Created in order; within one second the tie goes to the name: "a"
	// wins either way.
	create(t, c, se("a"))
	create(t, c, se("b"))

	// Istio's own condition on the loser, written as Istio would.
	istioCond := &metaistio.IstioCondition{Type: "Reconciled", Status: "True", Reason: "Istio", Message: "theirs"}
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		o := &istionet.ServiceEntry{}
		if err := get(t, c, ns, "b", o); err != nil {
			return err
		}
		o.Status.Conditions = append(o.Status.Conditions, istioCond)
		return c.Status().Update(context.Background(), o)
	}); err != nil {
		t.Fatal(err)
	}

	conds := func(name string) (ours, theirs *metaistio.IstioCondition, err error) {
		o := &istionet.ServiceEntry{}
		if err := get(t, c, ns, name, o); err != nil {
			return nil, nil, err
		}
		for _, x := range o.Status.Conditions {
			switch x.Type {
			case gatewayapi.ServiceEntryHostConflict:
				ours = x
			case "Reconciled":
				theirs = x
			}
		}
		return ours, theirs, nil
	}
	eventually(t, 20*time.Second, "HostConflict on the loser", func() error {
		ours, theirs, err := conds("b")
		if err != nil {
			return err
		}
		if ours == nil || ours.Status != "True" || ours.Reason != "HostConflict" || ours.LastTransitionTime == nil {
			return fmt.Errorf("our condition %v", ours)
		}
		if theirs == nil || theirs.Message != "theirs" {
			return fmt.Errorf("Istio's condition was not kept: %v", theirs)
		}
		return nil
	})
	if ours, _, err := conds("a"); err != nil || ours != nil {
		t.Fatalf("the winner got a condition %v (%v)", ours, err)
	}

	// The winner goes: the conflict is over, our condition leaves, Istio's stays.
	if err := c.Delete(context.Background(), se("a"), client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "HostConflict removed", func() error {
		ours, theirs, err := conds("b")
		if err != nil {
			return err
		}
		if ours != nil {
			return fmt.Errorf("our condition is still there: %v", ours)
		}
		if theirs == nil {
			return fmt.Errorf("Istio's condition was removed")
		}
		return nil
	})
}
