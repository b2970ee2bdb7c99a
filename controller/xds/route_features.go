package xds

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/edgeway/edgeway/controller/ir"
)

// This file maps the route traffic features of the IR onto Envoy: timeouts,
// retry_policy, request_mirror_policies, per-weighted-cluster headers and the
// CORS per-route config. See "Route features" in docs/xds-contract.md.

// Retry triggers: connection failures and resets (which include an attempt
// that hit per_try_timeout before any response) are always retried, as
// Gateway API asks for connection errors; listed status codes too.
const (
	retryOnErrors = "connect-failure,reset"
	retryOnCodes  = "retriable-status-codes," + retryOnErrors
)

func millis(ms uint64) *durationpb.Duration {
	return durationpb.New(time.Duration(ms) * time.Millisecond)
}

// routeFeatures completes a route action with timeouts, retries and mirrors.
//
// timeouts.request is the route timeout (0 disables it). A backendRequest
// timeout without a request timeout disables the route timeout: each
// attempt is then bounded by per_try_timeout, and Envoy's 15s default must
// not cut a longer per-attempt bound.
func routeFeatures(out *routev3.RouteAction, f *ir.Forward) {
	var perTry *durationpb.Duration
	if t := f.Timeouts; t != nil {
		switch {
		case t.RequestMillis != nil:
			out.Timeout = millis(*t.RequestMillis)
		case t.BackendRequestMillis != nil && *t.BackendRequestMillis > 0:
			out.Timeout = millis(0)
		}
		if b := t.BackendRequestMillis; b != nil && *b > 0 {
			perTry = millis(*b)
		}
	}
	if f.Retry != nil || perTry != nil {
		rp := &routev3.RetryPolicy{PerTryTimeout: perTry, NumRetries: wrapperspb.UInt32(0)}
		if r := f.Retry; r != nil {
			rp.RetryOn = retryOnErrors
			if len(r.Codes) > 0 {
				rp.RetryOn = retryOnCodes
				rp.RetriableStatusCodes = append([]uint32(nil), r.Codes...)
			}
			rp.NumRetries = wrapperspb.UInt32(r.Attempts)
			if r.BackoffMillis > 0 {
				rp.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: millis(r.BackoffMillis)}
			}
		}
		out.RetryPolicy = rp
	}
	for _, m := range f.Mirrors {
		mp := &routev3.RouteAction_RequestMirrorPolicy{Cluster: m.Cluster}
		if m.Denominator != 0 {
			mp.RuntimeFraction = &corev3.RuntimeFractionalPercent{DefaultValue: fraction(m.Numerator, m.Denominator)}
		}
		out.RequestMirrorPolicies = append(out.RequestMirrorPolicies, mp)
	}
}

// fraction expresses n/d with Envoy's fixed denominators: exactly when d
// divides 100, 10^4 or 10^6, else rounded down to millionths.
func fraction(n, d uint32) *typev3.FractionalPercent {
	for _, den := range []struct {
		v uint64
		e typev3.FractionalPercent_DenominatorType
	}{{100, typev3.FractionalPercent_HUNDRED}, {10000, typev3.FractionalPercent_TEN_THOUSAND}, {1000000, typev3.FractionalPercent_MILLION}} {
		if den.v%uint64(d) == 0 {
			return &typev3.FractionalPercent{Numerator: uint32(uint64(n) * (den.v / uint64(d))), Denominator: den.e}
		}
	}
	return &typev3.FractionalPercent{Numerator: uint32(uint64(n) * 1000000 / uint64(d)), Denominator: typev3.FractionalPercent_MILLION}
}

// hasBackendHeaders: a single backend with its own header filters still
// needs weighted_clusters, the only place Envoy has per-backend headers.
func hasBackendHeaders(bs []ir.WeightedCluster) bool {
	for _, b := range bs {
		if b.RequestHeaders != nil || b.ResponseHeaders != nil {
			return true
		}
	}
	return false
}

// clusterWeight is one weighted_clusters entry with its own headers.
func clusterWeight(b ir.WeightedCluster) *routev3.WeightedCluster_ClusterWeight {
	out := &routev3.WeightedCluster_ClusterWeight{Name: b.Cluster, Weight: wrapperspb.UInt32(b.Weight)}
	if h := b.RequestHeaders; h != nil {
		out.RequestHeadersToAdd = headersToAdd(h)
		out.RequestHeadersToRemove = append([]string(nil), h.Remove...)
	}
	if h := b.ResponseHeaders; h != nil {
		out.ResponseHeadersToAdd = headersToAdd(h)
		out.ResponseHeadersToRemove = append([]string(nil), h.Remove...)
	}
	return out
}

// corsPerRoute is the route's typed_per_filter_config for the CORS filter
// that every HTTP connection manager carries. A preflight from an origin
// the policy does not allow is answered by the proxy without CORS headers
// instead of being forwarded (Envoy's default): Gateway API makes the
// gateway, not the backend, answer the route's preflights.
func (t *translator) corsPerRoute(c *ir.CORS) map[string]*anypb.Any {
	p := &corsv3.CorsPolicy{
		AllowMethods:                 strings.Join(c.AllowMethods, ","),
		AllowHeaders:                 strings.Join(c.AllowHeaders, ","),
		ExposeHeaders:                strings.Join(c.ExposeHeaders, ","),
		ForwardNotMatchingPreflights: wrapperspb.Bool(false),
	}
	for _, o := range c.AllowOrigins {
		p.AllowOriginStringMatch = append(p.AllowOriginStringMatch, originMatcher(o))
	}
	if c.MaxAgeSeconds > 0 {
		p.MaxAge = strconv.Itoa(int(c.MaxAgeSeconds))
	}
	if c.AllowCredentials {
		p.AllowCredentials = wrapperspb.Bool(true)
	}
	return map[string]*anypb.Any{wellknown.CORS: t.any(p)}
}

// originMatcher: an exact origin is an exact match; "*" alone matches
// every origin; a "*" in the host ("https://*.example.com", "https://*")
// becomes an RE2 (Envoy matches it against the whole value) where it
// matches any run of host characters, any number of labels and dots
// included, but never the ":port" or a "/": "https://*" does not allow
// "https://a.example:8443" (Gateway API CORSOrigin wildcard semantics).
func originMatcher(o string) *matcherv3.StringMatcher {
	if o == "*" {
		return regexMatcher(".*")
	}
	if !strings.Contains(o, "*") {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: o}}
	}
	parts := strings.Split(o, "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexMatcher(strings.Join(parts, "[^/:]*"))
}

func regexMatcher(re string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{
		SafeRegex: &matcherv3.RegexMatcher{Regex: re},
	}}
}

// Retry budget of every cluster: concurrent retries may be up to 20% of the
// cluster's active requests, and at least 3 (Envoy's retry_budget
// defaults, written out so that Envoy and the data plane agree). It keeps
// retries from multiplying the load on a failing backend.
const (
	retryBudgetPercent        = 20.0
	retryBudgetMinConcurrency = 3
)

func retryBudget() *clusterv3.CircuitBreakers {
	return &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
		RetryBudget: &clusterv3.CircuitBreakers_Thresholds_RetryBudget{
			BudgetPercent:       &typev3.Percent{Value: retryBudgetPercent},
			MinRetryConcurrency: wrapperspb.UInt32(retryBudgetMinConcurrency),
		},
	}}}
}
