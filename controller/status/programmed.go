package status

import (
	"context"
	"fmt"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Acks tells which xDS versions the data planes of a node applied, one map
// (type URL -> version) per view: this replica's xDS server and, with
// SharedAcks, the reports of the other replicas (a data plane may be
// connected to any of them).
type Acks interface {
	Acked(nodeID string) []map[string]string
}

// LocalAcks adapts one xDS server ((*xds.Server).Acked) to Acks.
type LocalAcks struct {
	Server interface {
		Acked(nodeID string) map[string]string
	}
}

func (l LocalAcks) Acked(nodeID string) []map[string]string {
	if a := l.Server.Acked(nodeID); a != nil {
		return []map[string]string{a}
	}
	return nil
}

// notProgrammed is why a Gateway that translation found servable is not
// (yet) Programmed; the zero value means it is.
type notProgrammed struct {
	reason, message string
}

// programmed decides Programmed for one Gateway beyond translation:
//  1. the xDS server accepted the translated config (PublishErrors);
//  2. the infrastructure reports no problem (Infrastructure);
//  3. a data plane of the node applied the published listeners: the ACKed
//     LDS version equals the published one, and every other type has been
//     applied in some version. Later route, cluster, endpoint or certificate
//     changes do not flip Programmed (they do not change which listeners are
//     programmed); a listener change does, until it is applied.
func (w *Writer) programmed(in *Input, node string, infraReason gwv1.GatewayConditionReason, infraMessage string) notProgrammed {
	if err := in.PublishErrors[node]; err != nil {
		return notProgrammed{string(gwv1.GatewayReasonInvalid), "the translated configuration was refused by the xDS server (the previous one stays in force): " + err.Error()}
	}
	if infraReason != "" {
		return notProgrammed{string(infraReason), infraMessage}
	}
	published := in.Versions[node]
	if published == nil {
		return notProgrammed{string(gwv1.GatewayReasonPending), "the configuration is not published yet"}
	}
	var views []map[string]string
	if w.opts.Acks != nil {
		views = w.opts.Acks.Acked(node)
	}
	for _, acked := range views {
		if applied(acked, published) {
			return notProgrammed{}
		}
	}
	return notProgrammed{string(gwv1.GatewayReasonPending), fmt.Sprintf("waiting for a data plane of xDS node %q to apply listener version %s", node, published[resource.ListenerType])}
}

// applied: the published listeners are in force, and every type has been
// applied in some version.
func applied(acked, published map[string]string) bool {
	if acked[resource.ListenerType] != published[resource.ListenerType] {
		return false
	}
	for typ := range published {
		if acked[typ] == "" {
			return false
		}
	}
	return true
}

// gateProgrammed turns the Gateway's and its listeners' Programmed=True
// conditions to False with np's reason.
func gateProgrammed(st *gwv1.GatewayStatus, np notProgrammed) {
	if np.reason == "" {
		return
	}
	flip := func(cs []metav1.Condition, reason string) {
		for i := range cs {
			if cs[i].Type == string(gwv1.GatewayConditionProgrammed) && cs[i].Status == metav1.ConditionTrue {
				cs[i].Status, cs[i].Reason, cs[i].Message = metav1.ConditionFalse, reason, np.message
			}
		}
	}
	flip(st.Conditions, np.reason)
	// Listener Programmed knows only Invalid and Pending.
	listenerReason := string(gwv1.ListenerReasonPending)
	if np.reason == string(gwv1.GatewayReasonInvalid) {
		listenerReason = string(gwv1.ListenerReasonInvalid)
	}
	for i := range st.Listeners {
		flip(st.Listeners[i].Conditions, listenerReason)
	}
}

// gateListenerSetProgrammed is gateProgrammed for a ListenerSet of the
// Gateway np is about.
func gateListenerSetProgrammed(st *gwv1.ListenerSetStatus, np notProgrammed) {
	if np.reason == "" {
		return
	}
	gw := gwv1.GatewayStatus{Conditions: st.Conditions}
	for _, l := range st.Listeners {
		gw.Listeners = append(gw.Listeners, gwv1.ListenerStatus{Name: l.Name, Conditions: l.Conditions})
	}
	gateProgrammed(&gw, np)
	// The ListenerSet's Programmed reasons: Pending, or Invalid.
	for i := range st.Conditions {
		if c := &st.Conditions[i]; c.Type == string(gwv1.ListenerSetConditionProgrammed) && c.Status == metav1.ConditionFalse && c.Reason == np.reason && np.reason != string(gwv1.GatewayReasonInvalid) {
			c.Reason = string(gwv1.ListenerSetReasonPending)
		}
	}
}

// infrastructure asks the provisioner for a Gateway's addresses, if one is
// wired.
func (w *Writer) infrastructure(ctx context.Context, gw *gwv1.Gateway, st *gwv1.GatewayStatus) (gwv1.GatewayConditionReason, string) {
	if w.opts.Infrastructure == nil || gw == nil {
		return "", ""
	}
	addrs, reason, msg := w.opts.Infrastructure.GatewayAddresses(ctx, gw)
	st.Addresses = addrs
	return reason, msg
}
