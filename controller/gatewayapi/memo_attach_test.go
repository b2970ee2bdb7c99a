package gatewayapi

import (
	"bytes"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestTranslatorListenerWorldEdits: each edit of what attach reads besides
// the routes (a listener's allowed namespaces, selector, kinds, hostname or
// port; a Namespace's labels; a ListenerSet's listener or name; a
// Gateway's allowedListeners or name) changes some HTTPRoute's attachment without changing
// the route, so a Translator that kept the previous attachments would
// differ from Translate; and an edit that changes no listener (a route's
// status) reuses them. The random edits of TestTranslatorEqualsTranslate
// reach these too, but seldom in the one combination that shows a
// mistake; here each is made once, deliberately.
func TestTranslatorListenerWorldEdits(t *testing.T) {
	cases := []struct {
		input, name string
		edit        func(*snapshot.Snapshot)
		reuses      bool
	}{
		{"allowed-routes", "listener same: routes from All", func(s *snapshot.Snapshot) {
			all := gwv1.NamespacesFromAll
			gatewayListener(s, "shared", "same").AllowedRoutes = &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &all}}
		}, false},
		{"allowed-routes", "listener selector: selects team=b", func(s *snapshot.Snapshot) {
			gatewayListener(s, "shared", "selector").AllowedRoutes.Namespaces.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "b"}}
		}, false},
		{"allowed-routes", "Namespace team-b labelled team=a", func(s *snapshot.Snapshot) {
			namespace(s, "team-b").Labels = map[string]string{"team": "a"}
		}, false},
		{"allowed-routes", "listener all: another hostname", func(s *snapshot.Snapshot) {
			h := gwv1.Hostname("other.example.com")
			gatewayListener(s, "shared", "all").Hostname = &h
		}, false},
		{"allowed-routes", "listener kinds: TCPRoute only", func(s *snapshot.Snapshot) {
			gatewayListener(s, "shared", "kinds").AllowedRoutes.Kinds = []gwv1.RouteGroupKind{{Kind: "TCPRoute"}}
		}, false},
		{"allowed-routes", "listener kinds: port 9999", func(s *snapshot.Snapshot) {
			gatewayListener(s, "shared", "kinds").Port = 9999
		}, false},
		{"allowed-routes", "HTTPRoute a: status written", func(s *snapshot.Snapshot) {
			i := slices.IndexFunc(s.HTTPRoutes, func(r *gwv1.HTTPRoute) bool { return r.Name == "a" })
			r := s.HTTPRoutes[i].DeepCopy()
			r.ResourceVersion = nextVersion()
			r.Status.Parents = nil
			s.HTTPRoutes = slices.Clone(s.HTTPRoutes)
			s.HTTPRoutes[i] = r
		}, true},
		{"listenersets", "Namespace team-b labelled listeners=allowed", func(s *snapshot.Snapshot) {
			namespace(s, "team-b").Labels = map[string]string{"listeners": "allowed"}
		}, false},
		{"listenersets", "Gateway shared: ListenerSets from all namespaces", func(s *snapshot.Snapshot) {
			all := gwv1.NamespacesFromAll
			gateway(s, "shared").Spec.AllowedListeners = &gwv1.AllowedListeners{Namespaces: &gwv1.ListenerNamespaces{From: &all}}
		}, false},
		{"listenersets", "ListenerSet first: listener shop on another hostname", func(s *snapshot.Snapshot) {
			i := slices.IndexFunc(s.ListenerSets, func(l *gwv1.ListenerSet) bool { return l.Name == "first" })
			ls := s.ListenerSets[i].DeepCopy()
			h := gwv1.Hostname("store.example.com")
			ls.Spec.Listeners[0].Hostname = &h
			s.ListenerSets = slices.Clone(s.ListenerSets)
			s.ListenerSets[i] = ls
		}, false},
		{"listenersets", "ListenerSet first renamed", func(s *snapshot.Snapshot) {
			i := slices.IndexFunc(s.ListenerSets, func(l *gwv1.ListenerSet) bool { return l.Name == "first" })
			ls := s.ListenerSets[i].DeepCopy()
			ls.Name, ls.UID = "renamed", "listenerset/renamed"
			s.ListenerSets = slices.Clone(s.ListenerSets)
			s.ListenerSets[i] = ls
			s.Sort()
		}, false},
		{"allowed-routes", "Gateway shared renamed", func(s *snapshot.Snapshot) {
			g := gateway(s, "shared")
			g.Name, g.UID = "renamed", "gateway/renamed"
		}, false},
	}
	for _, c := range cases {
		t.Run(c.input+"/"+c.name, func(t *testing.T) {
			base := loadVersioned(t, "testdata/"+c.input+".in.yaml")
			var tr Translator
			tr.Translate(base)
			edited := *base
			c.edit(&edited)
			wantIR, wantSt := Translate(&edited)
			gotIR, gotSt := tr.Translate(&edited)
			want, got := render(t, wantIR, wantSt), render(t, gotIR, gotSt)
			if !bytes.Equal(got, want) {
				t.Fatalf("the Translator's output differs from Translate's\n%s", diff(string(want), string(got)))
			}
			if c.reuses != (tr.AttachReused > 0) {
				t.Fatalf("the Translator reused %d attachments; want reuse: %v", tr.AttachReused, c.reuses)
			}
		})
	}
}

// gateway replaces the Gateway name in s by a copy and returns the copy.
func gateway(s *snapshot.Snapshot, name string) *gwv1.Gateway {
	i := slices.IndexFunc(s.Gateways, func(g *gwv1.Gateway) bool { return g.Name == name })
	g := s.Gateways[i].DeepCopy()
	g.ResourceVersion = nextVersion()
	g.Generation++
	s.Gateways = slices.Clone(s.Gateways)
	s.Gateways[i] = g
	return g
}

// gatewayListener is the listener of a copy of Gateway gw (gateway).
func gatewayListener(s *snapshot.Snapshot, gw, listener string) *gwv1.Listener {
	g := gateway(s, gw)
	return &g.Spec.Listeners[slices.IndexFunc(g.Spec.Listeners, func(l gwv1.Listener) bool { return string(l.Name) == listener })]
}

// namespace replaces the Namespace name in s by a copy and returns the copy.
func namespace(s *snapshot.Snapshot, name string) *corev1.Namespace {
	i := slices.IndexFunc(s.Namespaces, func(n *corev1.Namespace) bool { return n.Name == name })
	n := s.Namespaces[i].DeepCopy()
	n.ResourceVersion = nextVersion()
	s.Namespaces = slices.Clone(s.Namespaces)
	s.Namespaces[i] = n
	return n
}
