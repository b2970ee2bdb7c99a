package run

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/edgeway/edgeway/dataplane/netpollorder"
)

// Version is what `version` prints for program: version is the one set at
// build time (-ldflags "-X main.version=v0.1.0"), else the module version
// go records, else "devel"; with the Go version, the platform, whether the
// runtime was built with hack/netpollfifo's overlay (`make build` does), and
// the VCS commit when the build recorded one.
func Version(program, version string) string {
	v := version
	commit := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				commit = s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	poller := ""
	if netpollorder.ReadinessOrder() {
		poller = ", netpoll in readiness order"
	}
	out := fmt.Sprintf("%s %s (%s, %s/%s%s)", program, v, runtime.Version(), runtime.GOOS, runtime.GOARCH, poller)
	if commit != "" {
		out += " commit " + commit
	}
	return out
}
