package kube

import (
	"github.com/edgeway/edgeway/certs/mesh"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// meshGateways records what the translation reads for a Gateway with an
// Istio mesh identity (controller/gatewayapi/mesh.go): the cacerts Secret
// its effective EdgewayConfig names, or the root ConfigMap and token
// Secret of Istio's CA, and the identity Secret
// (mesh.SecretName) the mesh Manager lays over the Snapshot, so that a
// Secret of that name written by someone else still marks the world dirty.
func (r references) meshGateways(s *snapshot.Snapshot) {
	for _, gw := range s.Gateways {
		if gw == nil {
			continue
		}
		cfg, _ := mesh.GatewayConfig(s, gw)
		if cfg == nil {
			continue
		}
		if cfg.CASecret.Name != "" {
			r.secrets[cfg.CASecret.String()] = true
		}
		if ic := cfg.IstioCA; ic != nil {
			r.configMaps[ic.RootCert.String()] = true
			r.secrets[ic.TokenSecret.String()] = true
		}
		r.secrets[gw.Namespace+"/"+mesh.SecretName(gw.Name)] = true
	}
}
