package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

// Route features of docs/xds-contract.md ("Route features"): retry_policy,
// per_try_timeout, request_mirror_policies, per weighted cluster headers,
// the CORS filter and its per-route policy, and the cluster retry budget.

const nameCORS = "envoy.filters.http.cors"

// Envoy's defaults for a retry policy and a retry budget.
const (
	defaultRetryBase             = 25 * time.Millisecond
	defaultRetryBudgetPercent    = 20.0
	defaultRetryBudgetMinRetries = 3
)

// RetryPolicy is a compiled retry_policy.
type RetryPolicy struct {
	// ConnectFailure: retry when no connection could be made.
	ConnectFailure bool
	// Reset: retry when the upstream closed or reset the connection, or the
	// attempt hit its per-try timeout, before any response header.
	Reset bool
	// Codes are the retriable_status_codes (with "retriable-status-codes").
	Codes []int
	// NumRetries is the maximum number of retries after the first attempt.
	NumRetries int
	// BaseInterval and MaxInterval bound the back-off between attempts.
	BaseInterval, MaxInterval time.Duration
}

// RetriableStatus reports whether a response status is to be retried.
func (p *RetryPolicy) RetriableStatus(code int) bool {
	for _, c := range p.Codes {
		if c == code {
			return true
		}
	}
	return false
}

// Mirror is one request_mirror_policies entry: a copy of the request goes to
// Cluster for Numerator out of Denominator requests (Denominator 0: all).
type Mirror struct {
	Cluster     string
	Numerator   uint64
	Denominator uint64
}

// Sampled reports whether the request with random number r is mirrored.
func (m *Mirror) Sampled(r uint64) bool {
	return m.Denominator == 0 || r%m.Denominator < m.Numerator
}

// CORSPolicy is a compiled envoy.extensions.filters.http.cors.v3.CorsPolicy.
type CORSPolicy struct {
	Origins          []StringMatch
	AllowMethods     string
	AllowHeaders     string
	ExposeHeaders    string
	MaxAge           string
	AllowCredentials bool
	// ForwardNotMatchingPreflights: a preflight from an origin the policy
	// does not allow goes to the upstream (true, Envoy's default when
	// unset) or is answered by the proxy without CORS headers (false).
	ForwardNotMatchingPreflights bool
}

// AllowsOrigin reports whether the Origin header value is allowed.
func (p *CORSPolicy) AllowsOrigin(origin string) bool {
	for i := range p.Origins {
		if p.Origins[i].Match(origin) {
			return true
		}
	}
	return false
}

// RetryBudget is a cluster's retry_budget: concurrent retries may be
// Percent of the active requests, and at least MinConcurrency.
type RetryBudget struct {
	Percent        float64
	MinConcurrency uint32
}

// compileHTTPFilters accepts [cors?, buffer?, router]; cors reports whether
// the CORS filter is present, maxBody the buffer filter's max_request_bytes
// (0: none; bodylimit.go).
func compileHTTPFilters(rep reporter, loc string, hf []*hcmv3.HttpFilter) (cors bool, maxBody uint32, _ error) {
	i := 0
	if len(hf) > i+1 && hf[i].GetName() == nameCORS && hf[i].GetTypedConfig().MessageIs(&corsv3.Cors{}) {
		cors = true
		i++
	}
	if len(hf) > i+1 && hf[i].GetName() == nameBuffer {
		m, err := compileBufferFilter(rep, fmt.Sprintf("%s[%d]", loc, i), hf[i])
		if err != nil {
			return false, 0, err
		}
		maxBody = m
		i++
	}
	if len(hf) != i+1 || hf[i].GetName() != nameRouter || hf[i].GetTypedConfig() == nil {
		return false, 0, rep.errf(loc, "the http filters must be %q (optional, with a Cors typed_config), %q (optional, with a Buffer typed_config), then %q with a Router typed_config", nameCORS, nameBuffer, nameRouter)
	}
	return cors, maxBody, nil
}

// compileForwardFeatures compiles retry_policy and request_mirror_policies.
func compileForwardFeatures(rep reporter, loc string, a *routev3.RouteAction, f *Forward) error {
	if rp := a.GetRetryPolicy(); rp != nil {
		ploc := loc + ".retry_policy"
		p := &RetryPolicy{NumRetries: 1, BaseInterval: defaultRetryBase}
		for _, on := range strings.Split(rp.GetRetryOn(), ",") {
			switch strings.TrimSpace(on) {
			case "":
			case "connect-failure":
				p.ConnectFailure = true
			case "reset":
				p.Reset = true
			case "retriable-status-codes":
				for i, c := range rp.GetRetriableStatusCodes() {
					if c < 100 || c > 599 {
						return rep.errf(fmt.Sprintf("%s.retriable_status_codes[%d]", ploc, i), "%d is not an HTTP status code", c)
					}
					p.Codes = append(p.Codes, int(c))
				}
			default:
				return rep.errf(ploc+".retry_on", "unsupported retry condition %q (connect-failure, reset and retriable-status-codes are)", on)
			}
		}
		if n := rp.GetNumRetries(); n != nil {
			if n.GetValue() > 100 {
				return rep.errf(ploc+".num_retries", "%d exceeds 100", n.GetValue())
			}
			p.NumRetries = int(n.GetValue())
		}
		var err error
		if f.PerTryTimeout, err = duration(rep, ploc+".per_try_timeout", rp.GetPerTryTimeout()); err != nil {
			return err
		}
		if b := rp.GetRetryBackOff(); b != nil {
			if p.BaseInterval, err = duration(rep, ploc+".retry_back_off.base_interval", b.GetBaseInterval()); err != nil {
				return err
			}
			if p.BaseInterval <= 0 {
				return rep.errf(ploc+".retry_back_off.base_interval", "must be a positive duration")
			}
			if p.MaxInterval, err = duration(rep, ploc+".retry_back_off.max_interval", b.GetMaxInterval()); err != nil {
				return err
			}
			if p.MaxInterval != 0 && p.MaxInterval < p.BaseInterval {
				return rep.errf(ploc+".retry_back_off.max_interval", "must not be below base_interval")
			}
		}
		if p.MaxInterval == 0 {
			p.MaxInterval = 10 * p.BaseInterval
		}
		if p.ConnectFailure || p.Reset || len(p.Codes) > 0 {
			f.Retry = p
		}
	}
	for i, mp := range a.GetRequestMirrorPolicies() {
		mloc := fmt.Sprintf("%s.request_mirror_policies[%d]", loc, i)
		m := Mirror{Cluster: mp.GetCluster()}
		if m.Cluster == "" {
			return rep.errf(mloc+".cluster", "cluster name is empty")
		}
		if rf := mp.GetRuntimeFraction(); rf != nil {
			dv := rf.GetDefaultValue()
			switch dv.GetDenominator() {
			case typev3.FractionalPercent_HUNDRED:
				m.Denominator = 100
			case typev3.FractionalPercent_TEN_THOUSAND:
				m.Denominator = 10000
			case typev3.FractionalPercent_MILLION:
				m.Denominator = 1000000
			default:
				return rep.errf(mloc+".runtime_fraction.default_value.denominator", "unsupported value %v", dv.GetDenominator())
			}
			m.Numerator = uint64(dv.GetNumerator())
			if m.Numerator >= m.Denominator {
				m.Denominator = 0 // Envoy caps the fraction at 100%
			}
		}
		f.Mirrors = append(f.Mirrors, m)
	}
	return nil
}

// compileCORSPolicy reads the route's typed_per_filter_config (the
// allowlist admits only the CORS filter's key and CorsPolicy values).
func compileCORSPolicy(rep reporter, loc string, pr *routev3.Route) (*CORSPolicy, error) {
	a, ok := pr.GetTypedPerFilterConfig()[nameCORS]
	if !ok {
		return nil, nil
	}
	ploc := fmt.Sprintf("%s.typed_per_filter_config[%q]", loc, nameCORS)
	cp := &corsv3.CorsPolicy{}
	if err := a.UnmarshalTo(cp); err != nil {
		return nil, rep.errf(ploc, "invalid CorsPolicy: %v", err)
	}
	p := &CORSPolicy{AllowMethods: cp.GetAllowMethods(), AllowHeaders: cp.GetAllowHeaders(),
		ExposeHeaders: cp.GetExposeHeaders(), MaxAge: cp.GetMaxAge(), AllowCredentials: cp.GetAllowCredentials().GetValue(),
		ForwardNotMatchingPreflights: cp.GetForwardNotMatchingPreflights() == nil || cp.GetForwardNotMatchingPreflights().GetValue()}
	for i, sm := range cp.GetAllowOriginStringMatch() {
		m, err := compileStringMatch(rep, fmt.Sprintf("%s.allow_origin_string_match[%d]", ploc, i), sm)
		if err != nil {
			return nil, err
		}
		p.Origins = append(p.Origins, m)
	}
	for _, v := range []string{p.AllowMethods, p.AllowHeaders, p.ExposeHeaders} {
		if !validHeaderValue(v) {
			return nil, rep.errf(ploc, "invalid header value %q", v)
		}
	}
	if p.MaxAge != "" {
		if _, err := strconv.ParseUint(p.MaxAge, 10, 32); err != nil {
			return nil, rep.errf(ploc+".max_age", "%q is not a number of seconds", p.MaxAge)
		}
	}
	return p, nil
}

// compileRetryBudget reads circuit_breakers: at most one threshold, with
// only a retry_budget (unset fields take Envoy's defaults).
func compileRetryBudget(rep reporter, cb *clusterv3.CircuitBreakers) (RetryBudget, error) {
	// Without a retry_budget Envoy allows 3 concurrent retries (max_retries).
	b := RetryBudget{MinConcurrency: defaultRetryBudgetMinRetries}
	th := cb.GetThresholds()
	if len(th) > 1 {
		return b, rep.errf("circuit_breakers.thresholds", "at most one threshold is supported")
	}
	if len(th) == 1 && th[0].GetRetryBudget() != nil {
		rb := th[0].GetRetryBudget()
		b.Percent = defaultRetryBudgetPercent
		if p := rb.GetBudgetPercent(); p != nil {
			if p.GetValue() < 0 || p.GetValue() > 100 {
				return b, rep.errf("circuit_breakers.thresholds[0].retry_budget.budget_percent", "%v is not in [0, 100]", p.GetValue())
			}
			b.Percent = p.GetValue()
		}
		if m := rb.GetMinRetryConcurrency(); m != nil {
			b.MinConcurrency = m.GetValue()
		}
	}
	return b, nil
}

// linkMirrors checks that every mirror cluster exists.
func linkMirrors(rep reporter, loc string, f *Forward, clusters map[string]*Cluster) error {
	for i, m := range f.Mirrors {
		if _, ok := clusters[m.Cluster]; !ok {
			return rep.missing(fmt.Sprintf("%s.request_mirror_policies[%d]", loc, i), "cluster %q not present", m.Cluster)
		}
	}
	return nil
}
