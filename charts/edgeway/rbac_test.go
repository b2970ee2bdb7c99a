package chart_test

import (
	"reflect"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// The controller's permissions, rule by rule. A change here is a change of what edgeway may do
// in every cluster that installs it: templates/rbac-*.yaml explains each rule.
var (
	read = []string{"get", "list", "watch"}

	wantClusterRules = []rbacv1.PolicyRule{
		{APIGroups: []string{"gateway.networking.k8s.io"}, Verbs: read, Resources: []string{
			"gatewayclasses", "gateways", "listenersets", "httproutes", "grpcroutes", "tlsroutes",
			"tcproutes", "udproutes", "referencegrants", "backendtlspolicies"}},
		{APIGroups: []string{"gateway.networking.k8s.io"}, Verbs: []string{"patch"}, Resources: []string{
			"gatewayclasses/status", "gateways/status", "listenersets/status", "httproutes/status",
			"grpcroutes/status", "tlsroutes/status", "tcproutes/status", "udproutes/status",
			"backendtlspolicies/status"}},
		{APIGroups: []string{"gateway.networking.k8s.io"}, Verbs: []string{"update"}, Resources: []string{"gateways/finalizers"}},
		{APIGroups: []string{""}, Verbs: read, Resources: []string{"services", "secrets", "configmaps", "namespaces", "serviceaccounts"}},
		{APIGroups: []string{"discovery.k8s.io"}, Verbs: read, Resources: []string{"endpointslices"}},
		{APIGroups: []string{"networking.istio.io"}, Verbs: read, Resources: []string{"serviceentries"}},
		{APIGroups: []string{"networking.istio.io"}, Verbs: []string{"patch"}, Resources: []string{"serviceentries/status"}},
		{APIGroups: []string{"gateway.edgeway.dev"}, Verbs: read, Resources: []string{"edgewayconfigs", "acmeissuers"}},
		{APIGroups: []string{"apps"}, Verbs: []string{"get", "list", "watch", "create", "patch"}, Resources: []string{"deployments"}},
		{APIGroups: []string{"policy"}, Verbs: []string{"get", "list", "watch", "create", "patch"}, Resources: []string{"poddisruptionbudgets"}},
		{APIGroups: []string{""}, Verbs: []string{"create", "patch"}, Resources: []string{"services", "serviceaccounts", "secrets"}},
		{APIGroups: []string{"networking.k8s.io"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}, Resources: []string{"networkpolicies"}},
		{APIGroups: []string{"events.k8s.io"}, Verbs: []string{"create", "patch"}, Resources: []string{"events"}},
	}
	wantNamespaceRules = []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Verbs: []string{"get", "create", "update"}, Resources: []string{"leases"}},
		{APIGroups: []string{""}, Verbs: []string{"create", "patch"}, Resources: []string{"events"}},
		{APIGroups: []string{""}, Verbs: []string{"create", "update", "delete"}, Resources: []string{"configmaps"}},
		{APIGroups: []string{""}, Verbs: []string{"update"}, Resources: []string{"secrets"}, ResourceNames: []string{"edgeway-xds-ca"}},
	}
)

func TestRBACExactRules(t *testing.T) {
	r := render(t, nil)
	cr := one[*rbacv1.ClusterRole](t, r)
	role := one[*rbacv1.Role](t, r)
	compareRules(t, "ClusterRole", cr.Rules, wantClusterRules)
	compareRules(t, "Role", role.Rules, wantNamespaceRules)
	if role.Namespace != namespace {
		t.Errorf("Role namespace %q, want the release namespace", role.Namespace)
	}
	if crb := one[*rbacv1.ClusterRoleBinding](t, r); crb.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr.Name}) {
		t.Errorf("ClusterRoleBinding roleRef %+v", crb.RoleRef)
	}
	if rb := one[*rbacv1.RoleBinding](t, r); rb.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}) || rb.Namespace != namespace {
		t.Errorf("RoleBinding %s roleRef %+v", rb.Namespace, rb.RoleRef)
	}
}

func compareRules(t *testing.T, what string, got, want []rbacv1.PolicyRule) {
	t.Helper()
	for i, r := range got {
		checkNoWildcardOrEscalation(t, what, r)
		if i >= len(want) {
			t.Errorf("%s: unexpected rule %d: %+v", what, i, r)
			continue
		}
		if !reflect.DeepEqual(normalize(r), normalize(want[i])) {
			t.Errorf("%s rule %d:\n got %+v\nwant %+v", what, i, r, want[i])
		}
	}
	if len(got) < len(want) {
		t.Errorf("%s: %d rules, want %d; missing %+v", what, len(got), len(want), want[len(got):])
	}
}

// normalize makes nil and empty lists equal.
func normalize(r rbacv1.PolicyRule) rbacv1.PolicyRule {
	for _, l := range []*[]string{&r.APIGroups, &r.Resources, &r.ResourceNames, &r.NonResourceURLs, &r.Verbs} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	return r
}

// checkNoWildcardOrEscalation holds for any rule, whatever the expected table says.
func checkNoWildcardOrEscalation(t *testing.T, what string, r rbacv1.PolicyRule) {
	t.Helper()
	for _, l := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.ResourceNames} {
		if slices.Contains(l, "*") {
			t.Errorf("%s: wildcard in %+v", what, r)
		}
	}
	if len(r.NonResourceURLs) > 0 {
		t.Errorf("%s: nonResourceURLs %v", what, r.NonResourceURLs)
	}
	for _, v := range []string{"escalate", "bind", "impersonate", "deletecollection"} {
		if slices.Contains(r.Verbs, v) {
			t.Errorf("%s: verb %s in %+v", what, v, r)
		}
	}
	for _, res := range r.Resources {
		switch res {
		case "roles", "rolebindings", "clusterroles", "clusterrolebindings", "pods/exec", "nodes", "customresourcedefinitions":
			t.Errorf("%s: the controller never needs %s: %+v", what, res, r)
		}
	}
}
