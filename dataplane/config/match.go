package config

import (
	"net/http"
	"regexp"
	"strings"
)

// PathKind is the path specifier of a route match.
type PathKind int

const (
	PathPrefix          PathKind = iota // prefix: plain string prefix
	PathExact                           // path: whole path equal
	PathSeparatedPrefix                 // path_separated_prefix: prefix ending at a segment boundary
	PathRegex                           // safe_regex: RE2 full match
)

// RouteMatch is a compiled RouteMatch: the path specifier and all header
// and query parameter conditions must hold.
type RouteMatch struct {
	Kind    PathKind
	Path    string
	Regex   *regexp.Regexp // PathRegex, anchored at both ends
	Headers []HeaderMatch
	Query   []QueryMatch
}

// StringMatch is exact or full-regex string matching.
type StringMatch struct {
	Exact string
	Regex *regexp.Regexp // anchored; nil means Exact
}

// Match reports whether s matches.
func (m *StringMatch) Match(s string) bool {
	if m.Regex != nil {
		return m.Regex.MatchString(s)
	}
	return s == m.Exact
}

// HeaderMatch matches one request header; pseudo headers (:method,
// :authority, :path, :scheme) read the corresponding request properties.
type HeaderMatch struct {
	Name      string // as configured, lower-case
	canonical string // net/http canonical form for Header lookups
	Value     StringMatch
}

// QueryMatch matches the first value of one query parameter, undecoded as
// in Envoy.
type QueryMatch struct {
	Name  string
	Value StringMatch
}

// Matches reports whether req satisfies the whole match.
func (m *RouteMatch) Matches(req *Request) bool {
	if !m.matchPath(req.Path) {
		return false
	}
	for i := range m.Headers {
		if !m.Headers[i].matches(req) {
			return false
		}
	}
	for i := range m.Query {
		q := &m.Query[i]
		v, ok := queryValue(req.RawQuery, q.Name)
		if !ok || !q.Value.Match(v) {
			return false
		}
	}
	return true
}

func (m *RouteMatch) matchPath(p string) bool {
	switch m.Kind {
	case PathExact:
		return p == m.Path
	case PathSeparatedPrefix:
		// "/foo" matches "/foo" and "/foo/..." but never "/foobar".
		return strings.HasPrefix(p, m.Path) && (len(p) == len(m.Path) || p[len(m.Path)] == '/')
	case PathRegex:
		return m.Regex.MatchString(p)
	default:
		return strings.HasPrefix(p, m.Path)
	}
}

func (h *HeaderMatch) matches(req *Request) bool {
	var v string
	switch h.Name {
	case ":method":
		v = req.Method
	case ":authority", "host":
		v = req.Authority
	case ":path":
		v = req.Path
		if req.RawQuery != "" {
			v += "?" + req.RawQuery
		}
	case ":scheme":
		v = req.Scheme
	default:
		vals := req.Header[h.canonical]
		switch len(vals) {
		case 0:
			return false
		case 1:
			v = vals[0]
		default:
			// Envoy matches repeated headers as one comma-joined value.
			v = strings.Join(vals, ",")
		}
	}
	return h.Value.Match(v)
}

// queryValue returns the first raw value of name in a raw query string
// without allocating.
func queryValue(rawQuery, name string) (string, bool) {
	for rawQuery != "" {
		var kv string
		kv, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k == name {
			return v, true
		}
	}
	return "", false
}

func newHeaderMatch(name string, v StringMatch) HeaderMatch {
	name = strings.ToLower(name)
	return HeaderMatch{Name: name, canonical: http.CanonicalHeaderKey(name), Value: v}
}
