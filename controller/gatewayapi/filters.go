package gatewayapi

import (
	"fmt"
	"strconv"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ir"
)

// compiledFilters is the IR form of a rule's filters.
type compiledFilters struct {
	request, response *ir.HeaderModifier
	redirect          *ir.Redirect
	rewrite           *ir.URLRewrite
	// needsPrefixMatch names the filter field using ReplacePrefixMatch, which
	// is only defined for PathPrefix matches.
	needsPrefixMatch string
	// mirrors are resolved by the rule (they need backend resolution).
	mirrors []mirrorFilter
	cors    *ir.CORS
}

// redirectCodes are the statusCode values RequestRedirect allows.
var redirectCodes = map[int]bool{301: true, 302: true, 303: true, 307: true, 308: true}

// compileFilters translates a rule's filters. An unsupported or malformed
// filter makes the whole rule invalid (it is dropped and reported): skipping a
// filter would serve traffic the user asked to be treated differently.
func compileFilters(field string, filters []gwv1.HTTPRouteFilter) (compiledFilters, problem) {
	var out compiledFilters
	unsupported := func(ff string, format string, args ...any) (compiledFilters, problem) {
		return out, problem{string(gwv1.RouteReasonUnsupportedValue), ff + ": " + fmt.Sprintf(format, args...)}
	}
	for k, f := range filters {
		ff := fmt.Sprintf("%s.filters[%d]", field, k)
		switch f.Type {
		case gwv1.HTTPRouteFilterRequestHeaderModifier:
			if f.RequestHeaderModifier == nil {
				return unsupported(ff+".requestHeaderModifier", "required for type RequestHeaderModifier")
			}
			var p problem
			if out.request, p = mergeHeaders(ff+".requestHeaderModifier", out.request, f.RequestHeaderModifier); !p.ok() {
				return out, p
			}
		case gwv1.HTTPRouteFilterResponseHeaderModifier:
			if f.ResponseHeaderModifier == nil {
				return unsupported(ff+".responseHeaderModifier", "required for type ResponseHeaderModifier")
			}
			var p problem
			if out.response, p = mergeHeaders(ff+".responseHeaderModifier", out.response, f.ResponseHeaderModifier); !p.ok() {
				return out, p
			}
		case gwv1.HTTPRouteFilterRequestRedirect:
			rr := f.RequestRedirect
			if rr == nil {
				return unsupported(ff+".requestRedirect", "required for type RequestRedirect")
			}
			if out.redirect != nil {
				return unsupported(ff, "RequestRedirect may appear only once per rule")
			}
			red := &ir.Redirect{StatusCode: 302}
			if rr.StatusCode != nil {
				if !redirectCodes[*rr.StatusCode] {
					return unsupported(ff+".requestRedirect.statusCode", "%d is not one of 301, 302, 303, 307, 308", *rr.StatusCode)
				}
				red.StatusCode = *rr.StatusCode
			}
			if rr.Scheme != nil {
				if *rr.Scheme != "http" && *rr.Scheme != "https" {
					return unsupported(ff+".requestRedirect.scheme", "%q is not http or https", *rr.Scheme)
				}
				red.Scheme = *rr.Scheme
			}
			if rr.Hostname != nil {
				red.Hostname = string(*rr.Hostname)
			}
			if rr.Port != nil {
				if *rr.Port < 1 || *rr.Port > 65535 {
					return unsupported(ff+".requestRedirect.port", "%d is not a valid port", *rr.Port)
				}
				port := uint32(*rr.Port)
				red.Port = &port
			}
			if rr.Path != nil {
				full, prefix, p := pathModifier(ff+".requestRedirect.path", rr.Path)
				if !p.ok() {
					return out, p
				}
				red.FullPath, red.ReplacePrefixMatch = full, prefix
				if prefix != nil {
					out.needsPrefixMatch = ff + ".requestRedirect.path"
				}
			}
			out.redirect = red
		case gwv1.HTTPRouteFilterURLRewrite:
			uw := f.URLRewrite
			if uw == nil {
				return unsupported(ff+".urlRewrite", "required for type URLRewrite")
			}
			if out.rewrite != nil {
				return unsupported(ff, "URLRewrite may appear only once per rule")
			}
			rw := &ir.URLRewrite{}
			if uw.Hostname != nil {
				rw.Hostname = string(*uw.Hostname)
			}
			if uw.Path != nil {
				full, prefix, p := pathModifier(ff+".urlRewrite.path", uw.Path)
				if !p.ok() {
					return out, p
				}
				rw.FullPath, rw.ReplacePrefixMatch = full, prefix
				if prefix != nil {
					out.needsPrefixMatch = ff + ".urlRewrite.path"
				}
			}
			out.rewrite = rw
		case gwv1.HTTPRouteFilterRequestMirror:
			if f.RequestMirror == nil {
				return unsupported(ff+".requestMirror", "required for type RequestMirror")
			}
			m, p := compileMirrorFraction(ff+".requestMirror", f.RequestMirror)
			if !p.ok() {
				return out, p
			}
			out.mirrors = append(out.mirrors, m)
		case gwv1.HTTPRouteFilterCORS:
			if f.CORS == nil {
				return unsupported(ff+".cors", "required for type CORS")
			}
			if out.cors != nil {
				return unsupported(ff, "CORS may appear only once per rule")
			}
			c, p := compileCORS(ff+".cors", f.CORS)
			if !p.ok() {
				return out, p
			}
			out.cors = c
		default:
			// ExternalAuth, ExtensionRef and unknown types.
			return unsupported(ff+".type", "filter type %q is not supported", f.Type)
		}
	}
	if out.redirect != nil && out.rewrite != nil {
		return out, problem{string(gwv1.RouteReasonIncompatibleFilters), field + ".filters: RequestRedirect and URLRewrite cannot be combined in one rule"}
	}
	return out, problem{}
}

func pathModifier(field string, pm *gwv1.HTTPPathModifier) (full, prefix *string, p problem) {
	switch pm.Type {
	case gwv1.FullPathHTTPPathModifier:
		if pm.ReplaceFullPath == nil {
			return nil, nil, problem{string(gwv1.RouteReasonUnsupportedValue), field + ".replaceFullPath: required for type ReplaceFullPath"}
		}
		v := *pm.ReplaceFullPath
		return &v, nil, problem{}
	case gwv1.PrefixMatchHTTPPathModifier:
		if pm.ReplacePrefixMatch == nil {
			return nil, nil, problem{string(gwv1.RouteReasonUnsupportedValue), field + ".replacePrefixMatch: required for type ReplacePrefixMatch"}
		}
		v := *pm.ReplacePrefixMatch
		return nil, &v, problem{}
	}
	return nil, nil, problem{string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf("%s.type: unsupported value %q", field, pm.Type)}
}

// mergeHeaders appends a header filter to the IR modifier (the API allows one
// filter per type per rule; merging keeps a second one meaningful). Host is
// refused: the data plane, as Envoy, changes it only by a hostname rewrite.
func mergeHeaders(field string, m *ir.HeaderModifier, f *gwv1.HTTPHeaderFilter) (*ir.HeaderModifier, problem) {
	if m == nil {
		m = &ir.HeaderModifier{}
	}
	host := func(list, name string, i int) problem {
		if !strings.EqualFold(name, "host") {
			return problem{}
		}
		return unsupportedValue(field+"."+list+"["+strconv.Itoa(i)+"]", "the Host header cannot be changed by a header modifier; to rewrite it, use a URLRewrite filter's hostname")
	}
	for i, h := range f.Set {
		if p := host("set", string(h.Name), i); !p.ok() {
			return nil, p
		}
		m.Set = append(m.Set, ir.Header{Name: string(h.Name), Value: h.Value})
	}
	for i, h := range f.Add {
		if p := host("add", string(h.Name), i); !p.ok() {
			return nil, p
		}
		m.Add = append(m.Add, ir.Header{Name: string(h.Name), Value: h.Value})
	}
	for i, name := range f.Remove {
		if p := host("remove", name, i); !p.ok() {
			return nil, p
		}
	}
	m.Remove = append(m.Remove, f.Remove...)
	return m, problem{}
}
