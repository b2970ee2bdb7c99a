package mesh

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// Defaults of spec.mesh.
const (
	DefaultTrustDomain   = "cluster.local"
	DefaultClusterDomain = "cluster.local"
	DefaultValidity      = 24 * time.Hour
	// MinValidity keeps renewals (every two thirds) far apart from the
	// time a new certificate takes to reach the data plane.
	MinValidity = 10 * time.Second
)

// AnnotationSPIFFEID on the identity Secret names the identity it holds.
const AnnotationSPIFFEID = "gateway.edgeway.dev/spiffe-id"

// SecretName is the kubernetes.io/tls Secret, in the Gateway's namespace,
// that holds the workload certificate of the Gateway named gateway. The
// Manager lays it over the Snapshot, replacing a Secret of that name.
func SecretName(gateway string) string { return gateway + "-edgeway-mesh-identity" }

// SPIFFEID is Istio's identity of a service account:
// spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>.
func SPIFFEID(trustDomain, namespace, serviceAccount string) *url.URL {
	return &url.URL{Scheme: "spiffe", Host: trustDomain, Path: "/ns/" + namespace + "/sa/" + serviceAccount}
}

// Config is a Gateway's effective spec.mesh, defaults applied.
type Config struct {
	TrustDomain, ClusterDomain string
	// ServiceAccount is "" when unset: the caller's default applies
	// (the ServiceAccount controller/infra provisions).
	ServiceAccount string
	// CASecret is the cacerts Secret; zero when Istio's CA signs.
	CASecret types.NamespacedName
	// IstioCA is set when Istio's CA signs instead.
	IstioCA  *IstioCAConfig
	Validity time.Duration
	// From names the EdgewayConfig it comes from ("<ns>/<name>"), for
	// messages.
	From string
}

// IstioCAConfig is spec.mesh.istioCA, defaults applied.
type IstioCAConfig struct {
	Address     string
	RootCert    types.NamespacedName // ConfigMap, key root-cert.pem
	TokenSecret types.NamespacedName // key "token"
	ClusterID   string
}

// Defaults of spec.mesh.istioCA.
const (
	DefaultIstioCAAddress    = "istiod.istio-system.svc:15012"
	DefaultRootCertConfigMap = "istio-ca-root-cert"
	KeyToken                 = "token"
)

// GatewayConfig is the effective spec.mesh of gw: that of the EdgewayConfig
// of the Gateway's spec.infrastructure.parametersRef if it sets one, else
// that of its GatewayClass's parametersRef (the precedence controller/infra
// applies to every field). nil: no mesh identity. The error is a spec.mesh
// that cannot be used (its message names the field).
func GatewayConfig(snap *snapshot.Snapshot, gw *gwv1.Gateway) (*Config, error) {
	var ec *v1alpha1.EdgewayConfig
	if ref := gw.Spec.Infrastructure; ref != nil && ref.ParametersRef != nil &&
		string(ref.ParametersRef.Group) == v1alpha1.GroupName && string(ref.ParametersRef.Kind) == v1alpha1.KindEdgewayConfig {
		ec = findConfig(snap, gw.Namespace, ref.ParametersRef.Name)
	}
	if ec == nil || ec.Spec.Mesh == nil {
		ec = classConfig(snap, string(gw.Spec.GatewayClassName))
	}
	if ec == nil || ec.Spec.Mesh == nil {
		return nil, nil
	}
	m := ec.Spec.Mesh
	c := &Config{TrustDomain: m.TrustDomain, ClusterDomain: m.ClusterDomain, ServiceAccount: m.ServiceAccount,
		Validity: DefaultValidity, From: ec.Namespace + "/" + ec.Name}
	if r := m.CASecretRef; r != nil {
		c.CASecret = types.NamespacedName{Namespace: r.Namespace, Name: r.Name}
		if c.CASecret.Namespace == "" {
			c.CASecret.Namespace = ec.Namespace
		}
	}
	if ic := m.IstioCA; ic != nil {
		c.IstioCA = &IstioCAConfig{Address: ic.Address, ClusterID: ic.ClusterID,
			RootCert:    types.NamespacedName{Namespace: gw.Namespace, Name: DefaultRootCertConfigMap},
			TokenSecret: types.NamespacedName{Namespace: ic.TokenSecretRef.Namespace, Name: ic.TokenSecretRef.Name}}
		if c.IstioCA.Address == "" {
			c.IstioCA.Address = DefaultIstioCAAddress
		}
		if r := ic.RootCertConfigMapRef; r != nil {
			c.IstioCA.RootCert.Name = r.Name
			if r.Namespace != "" {
				c.IstioCA.RootCert.Namespace = r.Namespace
			}
		}
		if c.IstioCA.TokenSecret.Namespace == "" {
			c.IstioCA.TokenSecret.Namespace = gw.Namespace
		}
	}
	if c.TrustDomain == "" {
		c.TrustDomain = DefaultTrustDomain
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = DefaultClusterDomain
	}
	if errs := validation.IsDNS1123Subdomain(c.ClusterDomain); len(errs) > 0 || longLabel(c.ClusterDomain) {
		return c, fmt.Errorf("EdgewayConfig %s spec.mesh.clusterDomain: %q is not a DNS domain: it must be labels of 1-63 lower-case letters, digits and '-', joined by dots (the cluster's, e.g. %s)", c.From, c.ClusterDomain, DefaultClusterDomain)
	}
	if m.WorkloadCertificateValidity != nil {
		c.Validity = m.WorkloadCertificateValidity.Duration
		if c.Validity < MinValidity {
			return c, fmt.Errorf("EdgewayConfig %s spec.mesh.workloadCertificateValidity: %s is shorter than the minimum %s", c.From, c.Validity, MinValidity)
		}
	}
	switch {
	case (c.CASecret.Name == "") == (c.IstioCA == nil):
		return c, fmt.Errorf("EdgewayConfig %s spec.mesh: set exactly one of caSecretRef (the mesh's cacerts Secret) and istioCA (Istio's CA signing API)", c.From)
	case c.IstioCA != nil && c.IstioCA.TokenSecret.Name == "":
		return c, fmt.Errorf("EdgewayConfig %s spec.mesh.istioCA.tokenSecretRef.name: required (a Secret with a ServiceAccount token of the Gateway's identity)", c.From)
	}
	return c, nil
}

func findConfig(snap *snapshot.Snapshot, ns, name string) *v1alpha1.EdgewayConfig {
	for _, c := range snap.EdgewayConfigs {
		if c != nil && c.Namespace == ns && c.Name == name {
			return c
		}
	}
	return nil
}

func classConfig(snap *snapshot.Snapshot, class string) *v1alpha1.EdgewayConfig {
	for _, gc := range snap.GatewayClasses {
		if gc == nil || gc.Name != class {
			continue
		}
		ref := gc.Spec.ParametersRef
		if ref == nil || ref.Namespace == nil || string(ref.Group) != v1alpha1.GroupName || string(ref.Kind) != v1alpha1.KindEdgewayConfig {
			return nil
		}
		return findConfig(snap, string(*ref.Namespace), ref.Name)
	}
	return nil
}

// longLabel reports a label longer than DNS allows (63), which
// IsDNS1123Subdomain does not check.
func longLabel(name string) bool {
	for label := range strings.SplitSeq(name, ".") {
		if len(label) > 63 {
			return true
		}
	}
	return false
}
