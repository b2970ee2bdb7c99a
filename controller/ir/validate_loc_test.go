package ir

import (
	"fmt"
	"testing"
)

// TestLocRendersLikeSprintf: a lazily rendered location reads exactly as
// the fmt.Sprintf("%s.field[%q]") / ("%s.field[%d]") chain it replaced,
// names with quotes and non-ASCII included.
func TestLocRendersLikeSprintf(t *testing.T) {
	for _, name := range []string{"rt", `we"ird`, "ünï\tcode", ""} {
		l := root.key("routeTables", name).key(".virtualHosts", name).idx(".routes", 3).idx(".forward.backends", 0).f(".requestHeaders")
		want := fmt.Sprintf("%s.forward.backends[%d].requestHeaders",
			fmt.Sprintf("%s.routes[%d]", fmt.Sprintf("%s.virtualHosts[%q]", fmt.Sprintf("routeTables[%q]", name), name), 3), 0)
		if got := l.String(); got != want {
			t.Errorf("location renders as %s, want %s", got, want)
		}
	}
	if got := root.String(); got != "" {
		t.Errorf("the root location renders as %q, want empty", got)
	}
}
