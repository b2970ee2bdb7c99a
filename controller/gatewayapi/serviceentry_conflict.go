package gatewayapi

import (
	"fmt"
	"sort"
	"strings"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Hostname conflicts between ServiceEntries. Two ServiceEntries conflict on
// a host when both declare it (the same string, case-insensitive: Istio
// compares hosts literally, so "*.example.com" and "a.example.com" do not
// conflict) and some namespace sees both (their exportTo sets intersect).
// The rule is Istio's: the oldest entry (creationTimestamp, then
// namespace/name) wins the host in those namespaces. Where it matters:
//
//   - host lookups (the egress allow-list, egress.go) take the winner;
//   - a backendRef names its ServiceEntry explicitly, so it is not
//     ambiguous and keeps using the entry it names;
//   - the loser is reported: a condition of type ServiceEntryHostConflict
//     in Statuses.ServiceEntries, written by the status writer into the
//     ServiceEntry's status.conditions (Kubernetes) and shown by
//     /api/status and `edgeway status` (standalone). Entries without a
//     problem get no status from edgeway.

// ServiceEntryConditionPrefix starts every condition type edgeway writes on
// ServiceEntries: the status writer owns exactly those.
const ServiceEntryConditionPrefix = "gateway.edgeway.dev/"

// ServiceEntryHostConflict is the condition type edgeway sets on a
// ServiceEntry that loses a host to an older one.
const ServiceEntryHostConflict = ServiceEntryConditionPrefix + "HostConflict"

// ServiceEntryStatus is edgeway's part of one ServiceEntry's status.
type ServiceEntryStatus struct {
	Namespace  string             `json:"namespace" yaml:"namespace"`
	Name       string             `json:"name" yaml:"name"`
	Conditions []metav1.Condition `json:"conditions" yaml:"conditions"`
}

// seHostOwner is the winner of one host in one namespace.
func (t *translator) seForHost(host, ns string) *istionet.ServiceEntry {
	var best *istionet.ServiceEntry
	for _, se := range t.snap.ServiceEntries {
		if se == nil || !exportedTo(se, ns) || !declaresHost(se, host) {
			continue
		}
		if best == nil || olderFirst(se, best) {
			best = se
		}
	}
	return best
}

func declaresHost(se *istionet.ServiceEntry, host string) bool {
	for _, h := range se.Spec.Hosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// serviceEntryConflicts reports every ServiceEntry that loses a host.
func (t *translator) serviceEntryConflicts() {
	var entries []*istionet.ServiceEntry
	for _, se := range t.snap.ServiceEntries {
		if se != nil {
			entries = append(entries, se)
		}
	}
	sort.SliceStable(entries, func(i, j int) bool { return olderFirst(entries[i], entries[j]) })
	byHost := map[string][]*istionet.ServiceEntry{} // oldest first
	for _, se := range entries {
		seen := map[string]bool{}
		for _, h := range se.Spec.Hosts {
			h = strings.ToLower(h)
			if h != "" && !seen[h] {
				seen[h] = true
				byHost[h] = append(byHost[h], se)
			}
		}
	}
	for _, se := range entries {
		vis := visibilityOf(se)
		var lost []string
		seen := map[string]bool{}
		for _, h := range se.Spec.Hosts {
			h = strings.ToLower(h)
			if h == "" || seen[h] {
				continue
			}
			seen[h] = true
			for _, older := range byHost[h] {
				if older == se {
					break
				}
				if both := vis.intersect(visibilityOf(older)); !both.empty() {
					lost = append(lost, fmt.Sprintf("host %q to ServiceEntry %s/%s in %s", h, older.Namespace, older.Name, both))
					break
				}
			}
		}
		if len(lost) == 0 {
			continue
		}
		t.seCondition(se, cond(ServiceEntryHostConflict, true, "HostConflict",
			"loses "+strings.Join(lost, "; ")+": the ServiceEntry created first (then first by namespace/name) wins a host where both are visible; rename the host, narrow spec.exportTo, or delete one of them",
			se.Generation))
	}
}

// seCondition adds one of edgeway's conditions to a ServiceEntry's status.
func (t *translator) seCondition(se *istionet.ServiceEntry, c metav1.Condition) {
	for i := range t.statuses.ServiceEntries {
		s := &t.statuses.ServiceEntries[i]
		if s.Namespace == se.Namespace && s.Name == se.Name {
			s.Conditions = append(s.Conditions, c)
			return
		}
	}
	t.statuses.ServiceEntries = append(t.statuses.ServiceEntries, ServiceEntryStatus{Namespace: se.Namespace, Name: se.Name, Conditions: []metav1.Condition{c}})
}
