package ir

import (
	"maps"
	"slices"
)

// Equal reports whether a and b serve the same: the publisher skips the
// xDS translation of a Gateway whose IR equals the one it published last.
// A nil and an empty list are equal (they translate alike).
//
// It is written out per type rather than reflect.DeepEqual, which at
// thousands of routes spent ~30 ms per change recording every pointer it
// followed; TestEqualComparesEveryField fails when a field is added to an
// IR type and not compared here.
func Equal(a, b *IR) bool {
	return ptrEqual(a, b, func(a, b *IR) bool {
		return sliceEqual(a.Listeners, b.Listeners, listenerEqual) &&
			sliceEqual(a.RouteTables, b.RouteTables, routeTableEqual) &&
			sliceEqual(a.Clusters, b.Clusters, clusterEqual) &&
			sliceEqual(a.Secrets, b.Secrets, func(a, b *Secret) bool { return *a == *b })
	})
}

// ptrEqual compares two pointers: both nil, the same or eq.
func ptrEqual[T any](a, b *T, eq func(a, b *T) bool) bool {
	if a == nil || b == nil || a == b {
		return a == b
	}
	return eq(a, b)
}

// sliceEqual compares two lists of pointers element by element.
func sliceEqual[T any](a, b []*T, eq func(a, b *T) bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !ptrEqual(a[i], b[i], eq) {
			return false
		}
	}
	return true
}

// valuesEqual compares two lists of structs element by element.
func valuesEqual[T any](a, b []T, eq func(a, b *T) bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !eq(&a[i], &b[i]) {
			return false
		}
	}
	return true
}

func listenerEqual(a, b *Listener) bool {
	return a.Name == b.Name && a.Address == b.Address && a.Port == b.Port &&
		a.ProxyProtocol == b.ProxyProtocol &&
		slices.Equal(a.Gateways, b.Gateways) &&
		ptrEqual(a.HTTP, b.HTTP, func(a, b *HTTPChain) bool { return *a == *b }) &&
		sliceEqual(a.TLS, b.TLS, tlsChainEqual) &&
		ptrEqual(a.TCP, b.TCP, tcpChainEqual) &&
		ptrEqual(a.UDP, b.UDP, func(a, b *UDPChain) bool { return valuesEqual(a.Backends, b.Backends, weightedEqual) })
}

func tcpChainEqual(a, b *TCPChain) bool {
	return valuesEqual(a.Backends, b.Backends, weightedEqual)
}

func tlsChainEqual(a, b *TLSChain) bool {
	return a.Name == b.Name && a.Refuse == b.Refuse &&
		slices.Equal(a.ServerNames, b.ServerNames) &&
		ptrEqual(a.Terminate, b.Terminate, terminateEqual) &&
		ptrEqual(a.Passthrough, b.Passthrough, tcpChainEqual) &&
		ptrEqual(a.ACMEChallenge, b.ACMEChallenge, func(a, b *ACMEChallenge) bool { return *a == *b })
}

func terminateEqual(a, b *TLSTerminate) bool {
	return slices.Equal(a.Certificates, b.Certificates) &&
		ptrEqual(a.ClientValidation, b.ClientValidation, func(a, b *ClientValidation) bool { return *a == *b }) &&
		ptrEqual(a.HTTP, b.HTTP, func(a, b *HTTPChain) bool { return *a == *b }) &&
		ptrEqual(a.TCP, b.TCP, tcpChainEqual)
}

func routeTableEqual(a, b *RouteTable) bool {
	return a.Name == b.Name && sliceEqual(a.VirtualHosts, b.VirtualHosts, virtualHostEqual)
}

// VirtualHostEqual reports whether a and b serve the same: the xDS server
// reuses the translation of a virtual host equal to the one it published.
func VirtualHostEqual(a, b *VirtualHost) bool {
	return ptrEqual(a, b, virtualHostEqual)
}

func virtualHostEqual(a, b *VirtualHost) bool {
	return a.Name == b.Name && slices.Equal(a.Domains, b.Domains) && sliceEqual(a.Routes, b.Routes, routeEqual)
}

func routeEqual(a, b *Route) bool {
	return a.Name == b.Name &&
		ptrEqual(a.Match.Path, b.Match.Path, func(a, b *PathMatch) bool { return *a == *b }) &&
		slices.Equal(a.Match.Headers, b.Match.Headers) &&
		slices.Equal(a.Match.QueryParams, b.Match.QueryParams) &&
		a.Match.Method == b.Match.Method &&
		ptrEqual(a.Forward, b.Forward, forwardEqual) &&
		ptrEqual(a.Redirect, b.Redirect, redirectEqual) &&
		ptrEqual(a.DirectResponse, b.DirectResponse, func(a, b *DirectResponse) bool { return *a == *b }) &&
		ptrEqual(a.RequestHeaders, b.RequestHeaders, headerModifierEqual) &&
		ptrEqual(a.ResponseHeaders, b.ResponseHeaders, headerModifierEqual) &&
		ptrEqual(a.CORS, b.CORS, corsEqual)
}

func forwardEqual(a, b *Forward) bool {
	return valuesEqual(a.Backends, b.Backends, weightedEqual) &&
		ptrEqual(a.Rewrite, b.Rewrite, func(a, b *URLRewrite) bool {
			return a.Hostname == b.Hostname && valueEqual(a.FullPath, b.FullPath) && valueEqual(a.ReplacePrefixMatch, b.ReplacePrefixMatch)
		}) &&
		ptrEqual(a.Timeouts, b.Timeouts, func(a, b *Timeouts) bool {
			return valueEqual(a.RequestMillis, b.RequestMillis) && valueEqual(a.BackendRequestMillis, b.BackendRequestMillis)
		}) &&
		ptrEqual(a.Retry, b.Retry, func(a, b *Retry) bool {
			return a.Attempts == b.Attempts && a.BackoffMillis == b.BackoffMillis && slices.Equal(a.Codes, b.Codes)
		}) &&
		slices.Equal(a.Mirrors, b.Mirrors)
}

// valueEqual compares two optional values.
func valueEqual[T comparable](a, b *T) bool {
	return ptrEqual(a, b, func(a, b *T) bool { return *a == *b })
}

func redirectEqual(a, b *Redirect) bool {
	return a.Scheme == b.Scheme && a.Hostname == b.Hostname && a.StatusCode == b.StatusCode &&
		valueEqual(a.Port, b.Port) && valueEqual(a.FullPath, b.FullPath) && valueEqual(a.ReplacePrefixMatch, b.ReplacePrefixMatch)
}

func headerModifierEqual(a, b *HeaderModifier) bool {
	return slices.Equal(a.Set, b.Set) && slices.Equal(a.Add, b.Add) && slices.Equal(a.Remove, b.Remove)
}

func corsEqual(a, b *CORS) bool {
	return slices.Equal(a.AllowOrigins, b.AllowOrigins) && slices.Equal(a.AllowMethods, b.AllowMethods) &&
		slices.Equal(a.AllowHeaders, b.AllowHeaders) && slices.Equal(a.ExposeHeaders, b.ExposeHeaders) &&
		a.MaxAgeSeconds == b.MaxAgeSeconds && a.AllowCredentials == b.AllowCredentials
}

func weightedEqual(a, b *WeightedCluster) bool {
	return a.Cluster == b.Cluster && a.Weight == b.Weight &&
		ptrEqual(a.RequestHeaders, b.RequestHeaders, headerModifierEqual) &&
		ptrEqual(a.ResponseHeaders, b.ResponseHeaders, headerModifierEqual)
}

func clusterEqual(a, b *Cluster) bool {
	return a.Name == b.Name && a.Discovery == b.Discovery && a.ConnectTimeoutMillis == b.ConnectTimeoutMillis &&
		a.Protocol == b.Protocol && a.MeshInternal == b.MeshInternal &&
		slices.Equal(a.Endpoints, b.Endpoints) &&
		ptrEqual(a.TLS, b.TLS, upstreamTLSEqual)
}

func upstreamTLSEqual(a, b *UpstreamTLS) bool {
	return a.SNI == b.SNI && a.CACertificates == b.CACertificates && a.SystemCAs == b.SystemCAs &&
		a.ClientCertificate == b.ClientCertificate && a.ClientCertificateRequired == b.ClientCertificateRequired &&
		slices.Equal(a.SubjectAltNames, b.SubjectAltNames) &&
		maps.Equal(a.ClientCertificateByGateway, b.ClientCertificateByGateway) &&
		slices.Equal(a.ALPN, b.ALPN)
}
