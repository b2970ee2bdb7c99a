package upstream

import (
	"net/netip"
	"testing"
)

func TestHighestFree(t *testing.T) {
	block := netip.MustParsePrefix("198.18.16.0/20")
	a := netip.MustParseAddr
	for _, c := range []struct {
		used []string
		want string
	}{
		{nil, "198.18.31.254"},
		{[]string{"198.18.31.254", "198.18.31.253"}, "198.18.31.252"},
		{[]string{"198.18.16.2", "198.18.31.254"}, "198.18.31.253"},
	} {
		used := map[netip.Addr]bool{}
		for _, u := range c.used {
			used[a(u)] = true
		}
		got, err := highestFree(block, used)
		if err != nil || got != a(c.want) {
			t.Errorf("used %v: %s, %v; want %s", c.used, got, err, c.want)
		}
	}
	// A /30: network, gateway, one address, broadcast.
	small := netip.MustParsePrefix("198.18.0.0/30")
	if got, err := highestFree(small, nil); err != nil || got != a("198.18.0.2") {
		t.Errorf("/30: %s, %v; want 198.18.0.2", got, err)
	}
	if got, err := highestFree(small, map[netip.Addr]bool{a("198.18.0.2"): true}); err == nil {
		t.Errorf("/30 with its one address used: %s; want an error", got)
	}
}
