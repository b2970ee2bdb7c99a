package status

import (
	"context"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	metaistio "istio.io/api/meta/v1alpha1"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/edgeway/edgeway/controller/gatewayapi"
)

// serviceEntries writes edgeway's condition types (those starting with
// gatewayapi.ServiceEntryConditionPrefix: HostConflict, EgressUnserved) into the status.conditions of the
// ServiceEntries that lose a host, and removes it from those that no
// longer do. Every other condition (Istio's own, other controllers') is
// left as it is: a ServiceEntry's status belongs to Istio.
func (w *Writer) serviceEntries(ctx context.Context, in *Input) []error {
	var errs []error
	done := map[string]bool{}
	for _, s := range in.Statuses.ServiceEntries {
		done[s.Namespace+"/"+s.Name] = true
		errs = append(errs, w.serviceEntry(ctx, s.Namespace, s.Name, s.Conditions))
	}
	for _, se := range in.Snapshot.ServiceEntries {
		if se != nil && !done[se.Namespace+"/"+se.Name] && hasOurSECondition(se.Status.Conditions) {
			errs = append(errs, w.serviceEntry(ctx, se.Namespace, se.Name, nil))
		}
	}
	return errs
}

func (w *Writer) serviceEntry(ctx context.Context, ns, name string, desired []metav1.Condition) error {
	now := w.now()
	err := w.write(ctx, client.ObjectKey{Namespace: ns, Name: name}, &istionet.ServiceEntry{}, func(o client.Object) bool {
		se := o.(*istionet.ServiceEntry)
		next := serviceEntryConditions(se.Status.Conditions, desired, now)
		if istioConditionsEqual(se.Status.Conditions, next) {
			return false
		}
		se.Status.Conditions = next
		return true
	})
	if apierrors.IsForbidden(err) {
		// A report, not a function: without the RBAC rule (patch
		// networking.istio.io serviceentries/status) the pass must not
		// fail and retry forever.
		w.log.Warn("cannot report on a ServiceEntry: grant patch on networking.istio.io serviceentries/status to the controller", "serviceentry", ns+"/"+name, "error", err)
		return nil
	}
	return err
}

func isOurSECondition(typ string) bool {
	return strings.HasPrefix(typ, gatewayapi.ServiceEntryConditionPrefix)
}

func hasOurSECondition(live []*metaistio.IstioCondition) bool {
	for _, c := range live {
		if c != nil && isOurSECondition(c.Type) {
			return true
		}
	}
	return false
}

// serviceEntryConditions is live without our condition type, followed by
// desired (ours) converted to Istio's condition type; a condition whose
// status did not change keeps its lastTransitionTime.
func serviceEntryConditions(live []*metaistio.IstioCondition, desired []metav1.Condition, now metav1.Time) []*metaistio.IstioCondition {
	var out []*metaistio.IstioCondition
	var ours []*metaistio.IstioCondition
	for _, c := range live {
		if c == nil {
			continue
		}
		if isOurSECondition(c.Type) {
			ours = append(ours, c)
			continue
		}
		out = append(out, c)
	}
	for _, d := range desired {
		c := &metaistio.IstioCondition{
			Type:               d.Type,
			Status:             string(d.Status),
			Reason:             d.Reason,
			Message:            d.Message,
			ObservedGeneration: d.ObservedGeneration,
			LastTransitionTime: timestamppb.New(now.Time),
		}
		for _, l := range ours {
			if l.Type == c.Type && l.Status == c.Status && l.LastTransitionTime != nil {
				c.LastTransitionTime = l.LastTransitionTime
			}
		}
		out = append(out, c)
	}
	return out
}

func istioConditionsEqual(a, b []*metaistio.IstioCondition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
