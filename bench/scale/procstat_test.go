package main

import (
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestReadUsageOfThisProcess(t *testing.T) {
	u, err := readUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSS <= 0 || u.Anon <= 0 || u.Anon > u.RSS || u.PeakRSS < u.RSS || u.CPU < 0 {
		t.Errorf("readUsage(self) = %+v: want RSS > 0, 0 < anon <= RSS, peak >= RSS, CPU >= 0", u)
	}
}

func TestParseStatCPUCommandWithParentheses(t *testing.T) {
	// utime 250 and stime 50 ticks, after a command name with ") (" in it.
	stat := "42 (a) (b) S 1 42 42 0 -1 4194304 98 0 0 0 250 50 0 0 20 0 1 0 2227730 3133440 393\n"
	got, err := parseStatCPU([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if got != 3.0 {
		t.Errorf("parseStatCPU = %v, want 3 s", got)
	}
}

const fibTrie = `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     |-- 198.18.0.0
        /20 link UNICAST
Local:
  +-- 0.0.0.0/0 3 0 5
     +-- 127.0.0.0/8 2 0 2
           |-- 127.0.0.1
              /32 host LOCAL
     +-- 198.18.0.0/20 2 0 2
        |-- 198.18.0.7
           /32 host LOCAL
        |-- 198.18.15.255
           /32 link BROADCAST
`

func TestHasLocalAddress(t *testing.T) {
	for ip, want := range map[string]bool{
		"198.18.0.7":    true,
		"127.0.0.1":     true,
		"198.18.0.0":    false, // a route, not an address
		"198.18.15.255": false, // broadcast
		"198.18.0.8":    false,
	} {
		if got := hasLocalAddress(strings.NewReader(fibTrie), netip.MustParseAddr(ip)); got != want {
			t.Errorf("hasLocalAddress(%s) = %v, want %v", ip, got, want)
		}
	}
}

// The kernel's own fib_trie of this process's namespace lists loopback.
func TestHasLocalAddressOfThisNamespace(t *testing.T) {
	f, err := os.Open("/proc/self/net/fib_trie")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !hasLocalAddress(f, netip.MustParseAddr("127.0.0.1")) {
		t.Error("127.0.0.1 is not a local address in /proc/self/net/fib_trie")
	}
}
