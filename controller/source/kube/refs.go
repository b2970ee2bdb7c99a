package kube

import (
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// references are the keys ("<ns>/<name>") of the objects translation looks
// up by reference rather than reading all of them: Services (route
// backendRefs and mirror backends), Secrets (listener certificateRefs,
// Gateway spec.tls.backend client certificates, CA bundles, and for ACME
// listeners the state Secret of their certificate and their ACMEIssuer's
// EAB key, CA bundle and DNS credentials) and ConfigMaps (CA bundles of
// spec.tls.frontend, BackendTLSPolicy and ACMEIssuers). A key is recorded
// whether the object exists or not, so that creating it later marks the
// world dirty.
//
// Why not field indexes: each event would then ask an index "does anything
// reference me", which is the same question answered with an index per
// referring kind, kept up to date on every event, and impossible to add for
// a CRD installed after the manager started (indexers must exist before an
// informer starts). The sets are recomputed by every Snapshot build instead,
// from the objects that build read anyway.
type references struct {
	services, secrets, configMaps map[string]bool
}

func newReferences() references {
	return references{services: map[string]bool{}, secrets: map[string]bool{}, configMaps: map[string]bool{}}
}

// collectReferences walks every object that can refer to a Service, Secret
// or ConfigMap. It over-approximates (a reference of a kind translation will
// refuse is recorded too) but never misses one: TestReferencesLoseNothing
// translates every golden input with and without the filter.
func collectReferences(s *snapshot.Snapshot) references {
	r := newReferences()
	r.meshGateways(s)
	for _, gw := range s.Gateways {
		if gw == nil {
			continue
		}
		for _, l := range gw.Spec.Listeners {
			if l.TLS != nil {
				for _, c := range l.TLS.CertificateRefs {
					r.secretRef(gw.Namespace, c)
				}
				r.acmeListener(s, gw.Namespace, l.TLS)
			}
		}
		if tls := gw.Spec.TLS; tls != nil {
			if tls.Backend != nil && tls.Backend.ClientCertificateRef != nil {
				r.secretRef(gw.Namespace, *tls.Backend.ClientCertificateRef)
			}
			if fe := tls.Frontend; fe != nil {
				r.validation(gw.Namespace, fe.Default.Validation)
				for _, pp := range fe.PerPort {
					r.validation(gw.Namespace, pp.TLS.Validation)
				}
			}
		}
	}
	for _, ls := range s.ListenerSets {
		if ls == nil {
			continue
		}
		for _, l := range ls.Spec.Listeners {
			if l.TLS != nil {
				for _, c := range l.TLS.CertificateRefs {
					r.secretRef(ls.Namespace, c)
				}
				r.acmeListener(s, ls.Namespace, l.TLS)
			}
		}
	}
	for _, p := range s.BackendTLSPolicies {
		if p == nil {
			continue
		}
		for _, c := range p.Spec.Validation.CACertificateRefs {
			r.objectRef(p.Namespace, gwv1.ObjectReference{Group: c.Group, Kind: c.Kind, Name: c.Name})
		}
	}
	for _, rt := range s.HTTPRoutes {
		if rt == nil {
			continue
		}
		for _, rule := range rt.Spec.Rules {
			r.httpFilters(rt.Namespace, rule.Filters)
			for _, b := range rule.BackendRefs {
				r.backend(rt.Namespace, b.BackendObjectReference)
				r.httpFilters(rt.Namespace, b.Filters)
			}
		}
	}
	for _, rt := range s.GRPCRoutes {
		if rt == nil {
			continue
		}
		for _, rule := range rt.Spec.Rules {
			r.grpcFilters(rt.Namespace, rule.Filters)
			for _, b := range rule.BackendRefs {
				r.backend(rt.Namespace, b.BackendObjectReference)
				r.grpcFilters(rt.Namespace, b.Filters)
			}
		}
	}
	for _, rt := range s.TLSRoutes {
		if rt != nil {
			for _, rule := range rt.Spec.Rules {
				r.backends(rt.Namespace, rule.BackendRefs)
			}
		}
	}
	for _, rt := range s.TCPRoutes {
		if rt != nil {
			for _, rule := range rt.Spec.Rules {
				r.backends(rt.Namespace, rule.BackendRefs)
			}
		}
	}
	for _, rt := range s.UDPRoutes {
		if rt != nil {
			for _, rule := range rt.Spec.Rules {
				r.backends(rt.Namespace, rule.BackendRefs)
			}
		}
	}
	return r
}

func refNamespace(from string, ns *gwv1.Namespace) string {
	if ns != nil && *ns != "" {
		return string(*ns)
	}
	return from
}

func (r references) secretRef(from string, ref gwv1.SecretObjectReference) {
	if (ref.Group == nil || *ref.Group == "") && (ref.Kind == nil || *ref.Kind == "Secret") {
		r.secrets[refNamespace(from, ref.Namespace)+"/"+string(ref.Name)] = true
	}
}

// objectRef records a CA bundle reference: a core ConfigMap or Secret.
func (r references) objectRef(from string, ref gwv1.ObjectReference) {
	if ref.Group != "" {
		return
	}
	k := refNamespace(from, ref.Namespace) + "/" + string(ref.Name)
	switch ref.Kind {
	case "ConfigMap":
		r.configMaps[k] = true
	case "Secret":
		r.secrets[k] = true
	}
}

func (r references) validation(from string, v *gwv1.FrontendTLSValidation) {
	if v == nil {
		return
	}
	for _, c := range v.CACertificateRefs {
		r.objectRef(from, c)
	}
}

func (r references) backend(from string, ref gwv1.BackendObjectReference) {
	if (ref.Group == nil || *ref.Group == "") && (ref.Kind == nil || *ref.Kind == "Service") {
		ns := refNamespace(from, ref.Namespace)
		// Many routes name one Service: looking the key up first costs no
		// allocation (a short key is built on the stack), inserting it one.
		if !r.services[ns+"/"+string(ref.Name)] {
			r.services[ns+"/"+string(ref.Name)] = true
		}
	}
}

func (r references) backends(from string, refs []gwv1.BackendRef) {
	for _, b := range refs {
		r.backend(from, b.BackendObjectReference)
	}
}

func (r references) httpFilters(from string, fs []gwv1.HTTPRouteFilter) {
	for _, f := range fs {
		if f.RequestMirror != nil {
			r.backend(from, f.RequestMirror.BackendRef)
		}
	}
}

func (r references) grpcFilters(from string, fs []gwv1.GRPCRouteFilter) {
	for _, f := range fs {
		if f.RequestMirror != nil {
			r.backend(from, f.RequestMirror.BackendRef)
		}
	}
}

// filter keeps only the referenced Services (and their EndpointSlices),
// Secrets and ConfigMaps of s, in place. The Kubernetes source never lists
// the others into a Snapshot; tests use filter to prove nothing is lost.
func (r references) filter(s *snapshot.Snapshot) {
	keep := func(set map[string]bool, ns, name string) bool { return set[ns+"/"+name] }
	svcs := s.Services[:0]
	for _, o := range s.Services {
		if o != nil && keep(r.services, o.Namespace, o.Name) {
			svcs = append(svcs, o)
		}
	}
	s.Services = svcs
	slices := s.EndpointSlices[:0]
	for _, o := range s.EndpointSlices {
		if o != nil && keep(r.services, o.Namespace, o.Labels[serviceNameLabel]) {
			slices = append(slices, o)
		}
	}
	s.EndpointSlices = slices
	secrets := s.Secrets[:0]
	for _, o := range s.Secrets {
		if o != nil && keep(r.secrets, o.Namespace, o.Name) {
			secrets = append(secrets, o)
		}
	}
	s.Secrets = secrets
	cms := s.ConfigMaps[:0]
	for _, o := range s.ConfigMaps {
		if o != nil && keep(r.configMaps, o.Namespace, o.Name) {
			cms = append(cms, o)
		}
	}
	s.ConfigMaps = cms
}
