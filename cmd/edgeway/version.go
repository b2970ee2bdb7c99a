package main

import "github.com/edgeway/edgeway/dataplane/run"

// version is set at build time: -ldflags "-X main.version=v0.1.0".
var version = ""

func versionString() string { return run.Version("edgeway", version) }
