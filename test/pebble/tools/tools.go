//go:build tools

// Package tools pins the Pebble commands the test/pebble harness builds, so
// that go.mod and go.sum list everything they need and `go build` works on a
// machine with nothing but Go and the module proxy.
package tools

import (
	_ "github.com/letsencrypt/pebble/v2/cmd/pebble"
	_ "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv"
)
