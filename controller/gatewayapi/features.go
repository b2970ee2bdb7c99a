package gatewayapi

import (
	"sort"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/features"
)

// supportedFeatures are the Gateway API features (names of gateway-api
// v1.6.3 pkg/features) that translation and the data plane implement, as
// the README's feature tables state them. The Kubernetes status writer
// publishes them in GatewayClass status.supportedFeatures; the conformance
// suite runs exactly these tests, so a name goes here only once its
// behaviour is implemented end to end.
//
// GatewayStaticAddresses: spec.addresses reach the Service (cluster IP, or
// the load balancer annotation EdgewayConfig spec.service.addressAnnotation
// names; controller/infra), a non-IP type is UnsupportedAddress, an IP the
// Service did not get is AddressNotUsable.
//
// GatewayInfrastructure: spec.infrastructure labels and annotations on the
// provisioned objects, parametersRef to an EdgewayConfig (anything else is
// Accepted=False InvalidParameters, params.go). GatewayAddressEmpty: an
// address entry without a value gets one from the load balancer.
//
// ListenerSet: listeners of attached ListenerSets are the Gateway's, after
// its own in precedence (listenerset.go); their ports reach the Gateway's
// Service (controller/infra).
//
// TLSRouteModeMixed: TLS listeners in Passthrough and in Terminate mode
// share a port, SNI picks the chain, and a listener's hostname never falls
// through to a chain of the other mode (tlsmixed.go).
//
// Not claimed: Mesh* (no mesh data plane).
var supportedFeatures = []features.FeatureName{
	features.SupportGateway,
	features.SupportGatewayPort8080,
	features.SupportGatewayStaticAddresses,
	features.SupportGatewayAddressEmpty,
	features.SupportGatewayInfrastructure,
	features.SupportGatewayHTTPSListenerDetectMisdirectedRequests,
	features.SupportGatewayBackendClientCertificate,
	features.SupportGatewayHTTPListenerIsolation,
	features.SupportGatewayFrontendClientCertificateValidation,
	features.SupportGatewayFrontendClientCertificateValidationInsecureFallback,
	features.SupportReferenceGrant,
	features.SupportListenerSet,

	features.SupportHTTPRoute,
	features.SupportHTTPRouteQueryParamMatching,
	features.SupportHTTPRouteMethodMatching,
	features.SupportHTTPRouteResponseHeaderModification,
	features.SupportHTTPRouteBackendRequestHeaderModification,
	features.SupportHTTPRoutePortRedirect,
	features.SupportHTTPRouteSchemeRedirect,
	features.SupportHTTPRoutePathRedirect,
	features.SupportHTTPRouteHostRewrite,
	features.SupportHTTPRoutePathRewrite,
	features.SupportHTTPRoute303RedirectStatusCode,
	features.SupportHTTPRoute307RedirectStatusCode,
	features.SupportHTTPRoute308RedirectStatusCode,
	features.SupportHTTPRouteRequestMirror,
	features.SupportHTTPRouteRequestMultipleMirrors,
	features.SupportHTTPRouteRequestPercentageMirror,
	features.SupportHTTPRouteRequestTimeout,
	features.SupportHTTPRouteBackendTimeout,
	features.SupportHTTPRouteRetry,
	features.SupportHTTPRouteRetryBackendTimeout,
	features.SupportHTTPRouteRetryConnectionError,
	features.SupportHTTPRouteParentRefPort,
	features.SupportHTTPRouteDestinationPortMatching,
	features.SupportHTTPRouteBackendProtocolH2C,
	features.SupportHTTPRouteBackendProtocolWebSocket,
	features.SupportHTTPRouteNamedRouteRule,
	features.SupportHTTPRouteCORS,

	features.SupportGRPCRoute,
	features.SupportGRPCRouteNamedRouteRule,
	features.SupportTLSRoute,
	features.SupportTLSRouteModeTerminate,
	features.SupportTLSRouteModeMixed,
	features.SupportTCPRoute,
	features.SupportUDPRoute,
	features.SupportBackendTLSPolicy,
	features.SupportBackendTLSPolicySANValidation,
}

// SupportedFeatures returns status.supportedFeatures for our GatewayClasses:
// sorted by name, as the API requires.
func SupportedFeatures() []gwv1.SupportedFeature {
	out := make([]gwv1.SupportedFeature, 0, len(supportedFeatures))
	for _, f := range supportedFeatures {
		out = append(out, gwv1.SupportedFeature{Name: gwv1.FeatureName(f)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
