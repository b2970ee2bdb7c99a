package infra

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// GatewayAddresses tells the status writer where gw is reachable and
// whether its infrastructure is in place (status.Infrastructure in
// controller/status). It reads the Service from the informer cache and the
// problem the last reconcile recorded: no API round trip.
//
//   - LoadBalancer: each status.loadBalancer.ingress entry, an IPAddress or
//     a Hostname; none yet is AddressNotAssigned (also when spec.addresses
//     asked for IPs the load balancer cannot give: it then gives none);
//   - ClusterIP and NodePort: the Service's cluster IPs;
//   - an IP of spec.addresses that the Service did not get is
//     AddressNotUsable.
func (p *Provisioner) GatewayAddresses(ctx context.Context, gw *gwv1.Gateway) ([]gwv1.GatewayStatusAddress, gwv1.GatewayConditionReason, string) {
	prob := p.problem(gw)
	key := types.NamespacedName{Namespace: gw.Namespace, Name: ResourceName(gw.Name)}
	var svc corev1.Service
	if err := p.client.Get(ctx, key, &svc); err != nil {
		if prob != nil {
			return nil, prob.Reason, prob.Message
		}
		if apierrors.IsNotFound(err) {
			return nil, gwv1.GatewayReasonAddressNotAssigned, fmt.Sprintf("the data plane Service %s does not exist yet", key)
		}
		return nil, gwv1.GatewayReasonAddressNotAssigned, fmt.Sprintf("reading the data plane Service %s: %v", key, err)
	}
	if !controlledBy(&svc, gw) {
		return nil, gwv1.GatewayReasonNoResources, notOurs("Service", key)
	}
	addrs, pending := serviceAddresses(&svc)
	switch {
	case prob != nil:
		return addrs, prob.Reason, prob.Message
	case pending != "" && svc.Spec.Type == corev1.ServiceTypeLoadBalancer && len(requestedIPs(gw)) > 0:
		// The load balancer gives no address at all when it can give none
		// of those asked for (MetalLB, say): it is not merely slow.
		return nil, gwv1.GatewayReasonAddressNotAssigned, fmt.Sprintf(
			"spec.addresses: the load balancer has given the Service %s none of %s (its status.loadBalancer.ingress is empty); the Service's events say why",
			key, strings.Join(requestedIPs(gw), ", "))
	case pending != "":
		return nil, gwv1.GatewayReasonAddressNotAssigned, pending
	}
	var missing []string
	for _, ip := range requestedIPs(gw) {
		if !slices.ContainsFunc(addrs, func(a gwv1.GatewayStatusAddress) bool { return a.Value == ip }) {
			missing = append(missing, ip)
		}
	}
	if len(missing) > 0 {
		var got []string
		for _, a := range addrs {
			got = append(got, a.Value)
		}
		return addrs, gwv1.GatewayReasonAddressNotUsable, fmt.Sprintf(
			"spec.addresses: the Service %s did not get %s (it has %s)", key, strings.Join(missing, ", "), strings.Join(got, ", "))
	}
	return addrs, "", ""
}

// serviceAddresses are the addresses clients use to reach svc, or why there
// is none yet.
func serviceAddresses(svc *corev1.Service) ([]gwv1.GatewayStatusAddress, string) {
	ipType, hostType := gwv1.IPAddressType, gwv1.HostnameAddressType
	var out []gwv1.GatewayStatusAddress
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, in := range svc.Status.LoadBalancer.Ingress {
			switch {
			case in.IP != "":
				out = append(out, gwv1.GatewayStatusAddress{Type: &ipType, Value: in.IP})
			case in.Hostname != "":
				out = append(out, gwv1.GatewayStatusAddress{Type: &hostType, Value: in.Hostname})
			}
		}
		if len(out) == 0 {
			return nil, fmt.Sprintf("waiting for a load balancer to assign an address to the Service %s/%s (its status.loadBalancer.ingress is empty)",
				svc.Namespace, svc.Name)
		}
		return out, ""
	}
	for _, ip := range svc.Spec.ClusterIPs {
		if ip != "" && ip != corev1.ClusterIPNone {
			out = append(out, gwv1.GatewayStatusAddress{Type: &ipType, Value: ip})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Sprintf("the Service %s/%s has no cluster IP yet", svc.Namespace, svc.Name)
	}
	return out, ""
}

func notOurs(kind string, key types.NamespacedName) string {
	return fmt.Sprintf("%s %s exists but is not owned by this Gateway: edgeway does not take over objects it did not create; rename or delete it", kind, key)
}
