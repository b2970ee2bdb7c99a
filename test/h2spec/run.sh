#!/bin/sh
# Runs h2spec (github.com/summerwind/h2spec, every case including the strict
# ones) against the data plane's HTTP/2 server, h2c and TLS, and against
# x/net/http2's server with the same backend (dataplane/proxy TestH2Spec):
# the test fails on a case only the data plane fails. h2spec is built from
# the Go module proxy (its version below; it is no dependency of the module).
# Usage: test/h2spec/run.sh [output dir for h2spec's text reports]
set -eu
H2SPEC_VERSION=v2.2.1+incompatible
cd "$(dirname "$0")/../.."
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN="$bin" GOFLAGS=-mod=mod go install "github.com/summerwind/h2spec/cmd/h2spec@$H2SPEC_VERSION"
out=${1:-}
if [ -n "$out" ]; then mkdir -p "$out"; fi
H2SPEC="$bin/h2spec" H2SPEC_OUT="$out" go test -count=1 -v -run '^TestH2Spec$' ./dataplane/proxy
