package proxy

import (
	"math/rand/v2"
	"net/url"
	"reflect"
	"testing"
)

// splitSimplePath gives what net/url gives, or leaves the path to it.
func TestSplitSimplePathMatchesNetURL(t *testing.T) {
	paths := []string{
		"/", "/a", "/a/b/c", "/a?", "/a??", "/a?b?", "/a?b=c&d=e", "/a?b c", "//host/p",
		"/a:b@c;d=e,f+g$h&i", "/~user/._-", "/a%20b", "/a b", "/a#frag", "/a?x#y",
		"/é", "/a\x7f", "/a?\x01", "/a\t", "/(x)", "/a*b", "/a!b", "/a'b", "/a\"b", "/a<b>",
		"*", "a/b", "", "/a?%zz", "/%zz",
	}
	alphabet := "ab/?%#:@;=,+$&~._- 0\x7f\x01é!*()'\"<>[]{}|\\^`"
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := []byte{'/'}
		for n := r.IntN(8); n > 0; n-- {
			b = append(b, alphabet[r.IntN(len(alphabet))])
		}
		paths = append(paths, string(b))
	}
	simple := 0
	for _, p := range paths {
		var got url.URL
		if !splitSimplePath(p, &got) {
			continue
		}
		simple++
		want, err := url.ParseRequestURI(p)
		if err != nil {
			t.Fatalf("splitSimplePath(%q) = %#v; net/url refuses it: %v", p, got, err)
		}
		if !reflect.DeepEqual(&got, want) {
			t.Fatalf("splitSimplePath(%q) = %#v, net/url %#v", p, got, *want)
		}
		if got.String() != want.String() || got.RequestURI() != want.RequestURI() {
			t.Fatalf("%q: String/RequestURI differ", p)
		}
	}
	if simple < 1000 {
		t.Errorf("only %d of %d paths took the simple split", simple, len(paths))
	}
	var u url.URL
	for _, p := range []string{"/a%20b", "/a b", "/a#f", "/é", "/a?\x01", "*"} {
		if splitSimplePath(p, &u) {
			t.Errorf("splitSimplePath(%q) = true, want it left to net/url", p)
		}
	}
}
