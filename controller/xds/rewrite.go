package xds

import (
	"regexp"
	"strings"

	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/edgeway/edgeway/controller/ir"
)

// fullPathPattern matches the whole path (Envoy applies regex_rewrite to the
// path without the query string, so the query is kept).
const fullPathPattern = `^/.*$`

// pathRewrite is the Envoy form of a Gateway API path modifier: at most one
// of prefix (prefix_rewrite) and regex (regex_rewrite) is set.
type pathRewrite struct {
	prefix string
	regex  *matcherv3.RegexMatchAndSubstitute
}

// pathRewriteFor translates FullPath / ReplacePrefixMatch (Validate ensures at
// most one is set and that ReplacePrefixMatch comes with a PathPrefix match).
//
// Envoy's prefix_rewrite replaces the matched characters literally, which is
// only right when the replacement does not end in "/": replacing "/foo" by
// "/" on "/foo/bar" would give "//bar" where Gateway API wants "/bar". Those
// cases use regex_rewrite, which also swallows the slashes after the prefix:
//
//	prefix "/foo", replacement "/xyz"  -> prefix_rewrite "/xyz"     /foo/bar -> /xyz/bar, /foo -> /xyz
//	prefix "/foo", replacement "/xyz/" -> regex ^/foo/* -> "/xyz/"  /foo/bar -> /xyz/bar, /foo -> /xyz/
//	prefix "/foo", replacement "/"     -> regex ^/foo/* -> "/"      /foo/bar -> /bar,     /foo -> /
//	prefix "/",    replacement "/xyz"  -> regex ^/ -> "/xyz/"       /bar -> /xyz/bar,     /    -> /xyz/
//	prefix "/",    replacement "/"     -> no rewrite
//
// An empty replacement means "/" (the matched prefix is removed).
func pathRewriteFor(path *ir.PathMatch, fullPath, replacePrefix *string) pathRewrite {
	switch {
	case fullPath != nil:
		return pathRewrite{regex: regexRewrite(fullPathPattern, *fullPath)}
	case replacePrefix == nil || path == nil:
		return pathRewrite{}
	}
	prefix := trimPrefix(path.Value)
	repl := *replacePrefix
	if repl == "" {
		repl = "/"
	}
	switch {
	case prefix == "/" && repl == "/":
		return pathRewrite{}
	case prefix == "/":
		// The root prefix matched nothing but the leading slash: keep the
		// whole path below the replacement.
		return pathRewrite{regex: regexRewrite("^/", strings.TrimRight(repl, "/")+"/")}
	case !strings.HasSuffix(repl, "/"):
		return pathRewrite{prefix: repl}
	default:
		return pathRewrite{regex: regexRewrite("^"+regexp.QuoteMeta(prefix)+"/*", repl)}
	}
}

// regexRewrite builds a regex_rewrite. The substitution is RE2 rewrite
// syntax, in which a backslash starts a group reference, so literal
// backslashes are doubled.
func regexRewrite(pattern, substitution string) *matcherv3.RegexMatchAndSubstitute {
	return &matcherv3.RegexMatchAndSubstitute{
		Pattern:      &matcherv3.RegexMatcher{Regex: pattern},
		Substitution: strings.ReplaceAll(substitution, `\`, `\\`),
	}
}

// trimPrefix normalizes a Gateway API PathPrefix value: a trailing slash is
// not significant ("/foo/" matches "/foo"), and the empty result is the root.
func trimPrefix(v string) string {
	if t := strings.TrimRight(v, "/"); t != "" {
		return t
	}
	return "/"
}
