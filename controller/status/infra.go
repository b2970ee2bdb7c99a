package status

import (
	"context"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Infrastructure is what the status writer needs from the per-Gateway
// infrastructure provisioner (controller/infra, part C of issue 4). The
// interface lives here, with its consumer, so that controller/infra does not
// have to import this package: any type with this method satisfies it.
//
// GatewayAddresses is called by the leader for every Gateway of our classes
// on each status pass (after every debounced change; Service events are
// watched, so a load balancer ingress appearing triggers a pass). It must be
// cheap (read from an informer cache, no API round trips per call) and safe
// for concurrent use.
//
//   - addresses: what clients use to reach the Gateway (Service
//     status.loadBalancer.ingress IPs/hostnames, or the addresses spec.addresses
//     asked for once the Service honours them); written to Gateway
//     status.addresses as given (the writer does not sort or filter them).
//   - reason, message: empty reason means the infrastructure is in place.
//     Otherwise the Gateway's Programmed condition becomes False with this
//     reason (gwv1.GatewayReasonAddressNotAssigned, AddressNotUsable,
//     NoResources or Pending) and message, whatever the data plane ACKed.
//
// A nil Infrastructure (no provisioner wired) leaves status.addresses as
// the translation computed them and never blocks Programmed.
type Infrastructure interface {
	GatewayAddresses(ctx context.Context, gw *gwv1.Gateway) (addresses []gwv1.GatewayStatusAddress, reason gwv1.GatewayConditionReason, message string)
}
