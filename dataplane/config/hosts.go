package config

import (
	"sort"
	"strings"
)

// hostTable implements Envoy's name selection, shared by virtual host domains
// and filter chain server names: an exact name first, then the longest
// matching suffix wildcard ("*.example.com", "*-bar.example.com"; the "*"
// must match at least one character), then the longest prefix wildcard
// ("example.*", virtual hosts only), then the catch-all. Names are compared
// case-insensitively; entries are stored lower-cased.
type hostTable[T any] struct {
	exact map[string]T
	// changed overrides exact, which is then shared with the table this
	// one was made from by a few changes (indexHostsFrom) and never
	// written: a name in changed is that value, or no exact name at all
	// when gone.
	changed  map[string]hostChange[T]
	suffixes []hostPattern[T] // longest suffix first
	prefixes []hostPattern[T] // longest prefix first
	fallback T
	hasFall  bool
}

type hostChange[T any] struct {
	val  T
	gone bool
}

type hostPattern[T any] struct {
	affix string
	val   T
}

// add registers name; it reports false when the same name is already taken.
// An empty name or "*" is the fallback.
func (t *hostTable[T]) add(name string, v T) bool {
	return t.addLower(strings.ToLower(name), v)
}

// addLower is add of a name that is lower-case already (a compiled
// virtual host's domain): a route table adds thousands per update.
func (t *hostTable[T]) addLower(name string, v T) bool {
	switch {
	case name == "" || name == "*":
		if t.hasFall {
			return false
		}
		t.fallback, t.hasFall = v, true
	case strings.HasPrefix(name, "*"):
		for _, p := range t.suffixes {
			if p.affix == name[1:] {
				return false
			}
		}
		t.suffixes = append(t.suffixes, hostPattern[T]{name[1:], v})
	case strings.HasSuffix(name, "*"):
		for _, p := range t.prefixes {
			if p.affix == name[:len(name)-1] {
				return false
			}
		}
		t.prefixes = append(t.prefixes, hostPattern[T]{name[:len(name)-1], v})
	default:
		if t.exact == nil {
			t.exact = map[string]T{}
		}
		if _, dup := t.exact[name]; dup {
			return false
		}
		t.exact[name] = v
	}
	return true
}

// seal orders the wildcards so that lookup can stop at the first match.
func (t *hostTable[T]) seal() {
	sort.SliceStable(t.suffixes, func(i, j int) bool { return len(t.suffixes[i].affix) > len(t.suffixes[j].affix) })
	sort.SliceStable(t.prefixes, func(i, j int) bool { return len(t.prefixes[i].affix) > len(t.prefixes[j].affix) })
}

// lookup expects a lower-case name (see lowerASCII) and never allocates.
func (t *hostTable[T]) lookup(name string) (T, bool) {
	if v, ok := t.exactName(name); ok {
		return v, true
	}
	for _, p := range t.suffixes {
		if len(name) > len(p.affix) && strings.HasSuffix(name, p.affix) {
			return p.val, true
		}
	}
	for _, p := range t.prefixes {
		if len(name) > len(p.affix) && strings.HasPrefix(name, p.affix) {
			return p.val, true
		}
	}
	return t.fallback, t.hasFall
}

// exactName looks name up among the exact names only.
func (t *hostTable[T]) exactName(name string) (T, bool) {
	if len(t.changed) != 0 {
		if c, ok := t.changed[name]; ok {
			return c.val, !c.gone
		}
	}
	v, ok := t.exact[name]
	return v, ok
}

// lowerASCII lower-cases s, allocating only when s has an upper-case letter.
func lowerASCII(s string) string {
	for i := range len(s) {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// validHostPattern rejects names with a '*' anywhere but as the whole name,
// the first or the last character: Envoy has no other wildcard form.
func validHostPattern(name string, allowPrefix bool) bool {
	if name == "*" {
		return true
	}
	i := strings.IndexByte(name, '*')
	if i < 0 {
		return name != ""
	}
	if strings.Count(name, "*") != 1 {
		return false
	}
	return i == 0 || (allowPrefix && i == len(name)-1)
}
