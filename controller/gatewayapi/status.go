package gatewayapi

import (
	"slices"
	"sort"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Statuses is the status half of a translation: one entry per object this
// controller owns a status for. The status writer merges these into the live
// objects, touching only its own entries (routes: only RouteParentStatus
// entries whose controllerName is ours).
type Statuses struct {
	GatewayClasses []GatewayClassStatus `json:"gatewayClasses,omitempty" yaml:"gatewayClasses,omitempty"` // sorted by name
	Gateways       []GatewayStatus      `json:"gateways,omitempty" yaml:"gateways,omitempty"`             // sorted by namespace, name
	Routes         []RouteStatus        `json:"routes,omitempty" yaml:"routes,omitempty"`                 // sorted by kind, namespace, name
	// ListenerSets are the statuses of ListenerSets whose parent is one of
	// our Gateways; sorted by namespace, name.
	ListenerSets []ListenerSetStatus `json:"listenerSets,omitempty" yaml:"listenerSets,omitempty"`
	// Policies are the statuses of policies (BackendTLSPolicy) with at
	// least one of our Gateways as an ancestor; sorted by kind, namespace, name.
	Policies []PolicyStatus `json:"policies,omitempty" yaml:"policies,omitempty"`
	// ServiceEntries are the ServiceEntries that lose a host to an older
	// one (serviceentry_conflict.go); sorted by namespace, name.
	ServiceEntries []ServiceEntryStatus `json:"serviceEntries,omitempty" yaml:"serviceEntries,omitempty"`
}

// GatewayClassStatus is the status of one GatewayClass whose controllerName is ours.
type GatewayClassStatus struct {
	Name   string                  `json:"name" yaml:"name"`
	Status gwv1.GatewayClassStatus `json:"status" yaml:"status"`
}

// GatewayStatus is the status of one Gateway of one of our GatewayClasses.
type GatewayStatus struct {
	Namespace string             `json:"namespace" yaml:"namespace"`
	Name      string             `json:"name" yaml:"name"`
	Status    gwv1.GatewayStatus `json:"status" yaml:"status"`
}

// ListenerSetStatus is the status of one ListenerSet whose parentRef names
// one of our Gateways ("<ns>/<name>" in Gateway).
type ListenerSetStatus struct {
	Namespace string                 `json:"namespace" yaml:"namespace"`
	Name      string                 `json:"name" yaml:"name"`
	Gateway   string                 `json:"gateway" yaml:"gateway"`
	Status    gwv1.ListenerSetStatus `json:"status" yaml:"status"`
}

// RouteStatus holds the RouteParentStatus entries for the parentRefs of one
// route that point at our Gateways (in parentRefs order). Kind is HTTPRoute,
// GRPCRoute, TLSRoute, TCPRoute or UDPRoute.
type RouteStatus struct {
	Kind      string           `json:"kind" yaml:"kind"`
	Namespace string           `json:"namespace" yaml:"namespace"`
	Name      string           `json:"name" yaml:"name"`
	Status    gwv1.RouteStatus `json:"status" yaml:"status"`
}

func (s *Statuses) sort() {
	sort.SliceStable(s.GatewayClasses, func(i, j int) bool { return s.GatewayClasses[i].Name < s.GatewayClasses[j].Name })
	sort.SliceStable(s.Gateways, func(i, j int) bool {
		a, b := s.Gateways[i], s.Gateways[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	sort.SliceStable(s.ListenerSets, func(i, j int) bool {
		a, b := s.ListenerSets[i], s.ListenerSets[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	// Thousands of routes: sorted in place, without sort.SliceStable's
	// reflection (the same stable order), and not at all when they came
	// sorted (HTTPRoutes alone, as the Snapshot lists them).
	// Equal kinds and namespaces (the usual neighbours) are told by ==,
	// which finds the same string at once, not by a comparison of bytes.
	routeOrder := func(a, b RouteStatus) int {
		if a.Kind != b.Kind {
			return strings.Compare(a.Kind, b.Kind)
		}
		if a.Namespace != b.Namespace {
			return strings.Compare(a.Namespace, b.Namespace)
		}
		return strings.Compare(a.Name, b.Name)
	}
	if !slices.IsSortedFunc(s.Routes, routeOrder) {
		slices.SortStableFunc(s.Routes, routeOrder)
	}
	sortPolicies(s.Policies)
	sort.SliceStable(s.ServiceEntries, func(i, j int) bool {
		a, b := s.ServiceEntries[i], s.ServiceEntries[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}
