package config

import "strings"

// RewritePath returns the upstream path for a request that matched m,
// applying prefix_rewrite or regex_rewrite; the query string is not part of
// path and is kept by the caller.
func (f *Forward) RewritePath(m *RouteMatch, path string) string {
	switch {
	case f.HasPrefixRewrite:
		return rewritePrefix(m, path, f.PrefixRewrite)
	case f.RegexRewrite != nil:
		return f.RegexRewrite.ReplaceAllString(path, f.RegexSubstitution)
	}
	return path
}

// rewritePrefix replaces the part of path matched by the path specifier, as
// Envoy does: for prefix and path_separated_prefix the configured prefix, for
// an exact path the whole path.
func rewritePrefix(m *RouteMatch, path, replacement string) string {
	switch m.Kind {
	case PathExact:
		return replacement
	case PathPrefix, PathSeparatedPrefix:
		if strings.HasPrefix(path, m.Path) {
			return replacement + path[len(m.Path):]
		}
	}
	return path
}

// re2Substitution converts an RE2 rewrite string (\0..\9 refer to groups, \\
// is a backslash) to regexp.Expand syntax, escaping literal '$'.
func re2Substitution(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '$':
			b.WriteString("$$")
		case c == '\\' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			b.WriteString("${")
			b.WriteByte(s[i+1])
			b.WriteString("}")
			i++
		case c == '\\' && i+1 < len(s) && s[i+1] == '\\':
			b.WriteByte('\\')
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
