// Package gatewayapi translates a Snapshot into the IR and the statuses of the
// Gateway API objects this controller owns. Translation is a pure function: no
// clocks, no I/O, no goroutines; the same Snapshot always yields the same IR
// and statuses. Invalid input never fails the whole translation: the offending
// listener, route or rule gets a condition naming the field, the rest is served.
package gatewayapi

import (
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// Options configure a translation. ControllerName "" means
// snapshot.DefaultControllerName. Translate reads it from
// Snapshot.ControllerName, which sources fill in from their Options.
type Options struct{ ControllerName string }

// controllerName resolves the controller name a translation serves.
func (o Options) controllerName() string {
	if o.ControllerName == "" {
		return snapshot.DefaultControllerName
	}
	return o.ControllerName
}

// translator carries the indexes and the accumulating output of one Translate call.
type translator struct {
	snap           *snapshot.Snapshot
	controllerName string

	services       map[string]*corev1.Service
	slices         map[string][]*discoveryv1.EndpointSlice // by "<ns>/<service-name>"
	secrets        map[string]*corev1.Secret
	namespaces     map[string]*corev1.Namespace
	serviceEntries map[string]*istionet.ServiceEntry
	acmeIssuers    map[string]*v1alpha1.ACMEIssuer
	acmeIssuerRefs map[string]acmeIssuerResult // by issuer key (acme_issuer.go)

	classes  map[string]bool        // names of accepted GatewayClasses that are ours
	gateways []*gatewayCtx          // ours, oldest first (merge precedence)
	byKey    map[string]*gatewayCtx // "<ns>/<name>"
	// listenerSets are the ListenerSets of our Gateways, in precedence
	// order (listenerset.go); setByKey indexes them by "<ns>/<name>".
	listenerSets []*listenerSetCtx
	setByKey     map[string]*listenerSetCtx

	sockets  map[string]*socket // by name
	clusters map[string]*ir.Cluster
	certs    map[string]*ir.Secret
	// crossLosers: HTTPRoutes/GRPCRoutes rejected per listener by cross
	// serving (crossserving.go), by route key.
	crossLosers map[*listenerCtx]map[string]string
	// crossAttached: resolving cross serving attached every route, so
	// their keys are in the listeners' attached sets already.
	crossAttached bool
	// acmeGroups are the ACME certificates, by Secret (acme.go).
	acmeGroups map[types.NamespacedName]*acmeGroup
	mesh       *meshState // lazily (mesh.go)

	// memo is the Translator's state this translation reads and renews,
	// nil for Translate; recording collects the backend resolutions of
	// the HTTPRoute being compiled for it (memo.go).
	memo       *Translator
	tablesPrev map[string]*routeTableMemo
	recording  *compiledHTTPRoute
	// attachSame: the listener world is the previous translation's, so
	// its HTTPRoute attachments hold (memo_attach.go).
	attachSame bool
	// prevRoutes are the previous translation's HTTPRoutes, walked in
	// order (prevNext) beside this one's; depsSame: every object a
	// backend resolution reads is the previous translation's
	// (memo_routes.go); routesUnique: the HTTPRoutes are sorted, each
	// name once.
	prevRoutes   []httpRouteMemo
	prevNext     int
	depsSame     bool
	routesUnique bool
	world        worldListeners
	// httpSlab: HTTP attachments are allocated from it, a block at a time.
	httpSlab []httpAttachment
	// nameScratch is where serviceCluster builds its map keys.
	nameScratch []byte

	statuses Statuses
}

// Translate turns a Snapshot into the IR and the statuses of the objects whose
// GatewayClass names our controller (snap.ControllerName, or
// snapshot.DefaultControllerName if empty). It never fails and never panics:
// invalid objects are reported in the statuses and left out of the IR.
func Translate(snap *snapshot.Snapshot) (*ir.IR, *Statuses) {
	return newTranslator(snap).translate()
}

// translate runs every step of a translation.
func (t *translator) translate() (*ir.IR, *Statuses) {
	t.index()
	t.translateGatewayClasses()
	t.serviceEntryConflicts()
	t.translateListeners()
	t.assignSockets()
	t.collectACME()
	t.resolveCrossServing()
	t.attachHTTPRoutes()
	t.attachGRPCRoutes()
	t.attachTLSRoutes()
	t.attachTCPRoutes()
	t.attachUDPRoutes()
	t.attachEgress()
	out := t.buildIR()
	t.gatewayStatuses()
	t.listenerSetStatuses()
	t.statuses.sort()
	return out, &t.statuses
}

// translateListeners validates every listener of our Gateways and of the
// ListenerSets attached to them, with the conflicts between them.
func (t *translator) translateListeners() {
	t.translateGateways()
	t.translateListenerSets()
	t.resolveACMEConflicts()
}

func newTranslator(snap *snapshot.Snapshot) *translator {
	if snap == nil {
		snap = &snapshot.Snapshot{}
	}
	return &translator{
		snap:           snap,
		controllerName: Options{ControllerName: snap.ControllerName}.controllerName(),
		services:       map[string]*corev1.Service{},
		slices:         map[string][]*discoveryv1.EndpointSlice{},
		secrets:        map[string]*corev1.Secret{},
		namespaces:     map[string]*corev1.Namespace{},
		serviceEntries: map[string]*istionet.ServiceEntry{},
		acmeIssuers:    map[string]*v1alpha1.ACMEIssuer{},
		acmeIssuerRefs: map[string]acmeIssuerResult{},
		classes:        map[string]bool{},
		byKey:          map[string]*gatewayCtx{},
		clusters:       map[string]*ir.Cluster{},
		certs:          map[string]*ir.Secret{},
	}
}

// index builds the lookup maps. Nil entries (possible in hand-built or fuzzed
// snapshots) are skipped everywhere.
func (t *translator) index() {
	for _, s := range t.snap.Services {
		if s != nil {
			t.services[key(s.Namespace, s.Name)] = s
		}
	}
	for _, es := range t.snap.EndpointSlices {
		if es == nil {
			continue
		}
		if svc := es.Labels[discoveryv1.LabelServiceName]; svc != "" {
			k := key(es.Namespace, svc)
			t.slices[k] = append(t.slices[k], es)
		}
	}
	for _, s := range t.snap.Secrets {
		if s != nil {
			t.secrets[key(s.Namespace, s.Name)] = s
		}
	}
	for _, n := range t.snap.Namespaces {
		if n != nil {
			t.namespaces[n.Name] = n
		}
	}
	for _, se := range t.snap.ServiceEntries {
		if se != nil {
			t.serviceEntries[key(se.Namespace, se.Name)] = se
		}
	}
	for _, is := range t.snap.ACMEIssuers {
		if is != nil {
			t.acmeIssuers[key(is.Namespace, is.Name)] = is
		}
	}
}

func key(namespace, name string) string { return namespace + "/" + name }

// gatewayGroup is the API group of every Gateway API kind.
const gatewayGroup = gwv1.GroupName
