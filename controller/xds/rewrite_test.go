package xds

import (
	"regexp"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/controller/ir"
)

// applyRewrite does what Envoy does with the emitted rewrite, so the table
// below checks the resulting paths rather than the emitted fields.
func applyRewrite(t *testing.T, matched, path string, pr pathRewrite) string {
	t.Helper()
	switch {
	case pr.prefix != "":
		// prefix_rewrite replaces the characters the path specifier matched.
		return pr.prefix + strings.TrimPrefix(path, matched)
	case pr.regex != nil:
		re := regexp.MustCompile(pr.regex.Pattern.Regex)
		// RE2 rewrite syntax: "\\" is a literal backslash; no group
		// references are emitted.
		sub := strings.ReplaceAll(pr.regex.Substitution, `\\`, `\`)
		return re.ReplaceAllLiteralString(path, sub)
	}
	return path
}

// TestReplacePrefixMatch follows the table in the Gateway API
// HTTPPathModifier documentation, plus the root prefix.
func TestReplacePrefixMatch(t *testing.T) {
	for _, tc := range []struct {
		prefix, replacement, request, want string
	}{
		{"/foo", "/xyz", "/foo/bar", "/xyz/bar"},
		{"/foo", "/xyz/", "/foo/bar", "/xyz/bar"},
		{"/foo/", "/xyz", "/foo/bar", "/xyz/bar"},
		{"/foo/", "/xyz/", "/foo/bar", "/xyz/bar"},
		{"/foo", "/xyz", "/foo", "/xyz"},
		{"/foo", "/xyz", "/foo/", "/xyz/"},
		{"/foo", "", "/foo/bar", "/bar"},
		{"/foo", "", "/foo/", "/"},
		{"/foo", "", "/foo", "/"},
		{"/foo", "/", "/foo/", "/"},
		{"/foo", "/", "/foo", "/"},
		{"/foo", "/", "/foo/bar", "/bar"},
		{"/foo", "/", "/foo//bar", "/bar"},
		{"/foo/bar", "/xyz", "/foo/bar/baz", "/xyz/baz"},
		{"/a.b", "/", "/a.b/c", "/c"},
		{"/", "/xyz", "/bar", "/xyz/bar"},
		{"/", "/xyz/", "/bar", "/xyz/bar"},
		{"/", "/", "/bar", "/bar"},
		{"/", "", "/bar/baz", "/bar/baz"},
	} {
		repl := tc.replacement
		pr := pathRewriteFor(&ir.PathMatch{Type: ir.PathPrefix, Value: tc.prefix}, nil, &repl)
		matched := trimPrefix(tc.prefix)
		if got := applyRewrite(t, matched, tc.request, pr); got != tc.want {
			t.Errorf("prefix %q replaced by %q on %q: got %q, want %q (rewrite %+v)", tc.prefix, tc.replacement, tc.request, got, tc.want, pr)
		}
	}
}

func TestFullPathRewrite(t *testing.T) {
	full := `/new\path`
	pr := pathRewriteFor(&ir.PathMatch{Type: ir.PathExact, Value: "/old/x"}, &full, nil)
	if pr.prefix != "" || pr.regex == nil {
		t.Fatalf("want a regex_rewrite, got %+v", pr)
	}
	if got := applyRewrite(t, "", "/old/x", pr); got != full {
		t.Errorf("got %q, want %q", got, full)
	}
}
