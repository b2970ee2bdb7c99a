package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time: -ldflags "-X main.version=v0.1.0".
var version = ""

func versionString() string {
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
	out := fmt.Sprintf("edgeway %s (%s, %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if commit != "" {
		out += " commit " + commit
	}
	return out
}
