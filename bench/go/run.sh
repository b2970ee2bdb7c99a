#!/usr/bin/env bash
# The in-code benchmarks (bench/go/README.md): route matcher and config
# compiler (dataplane/config), proxy hot path (dataplane/proxy), translation
# of 10..5000 HTTPRoutes (controller/gatewayapi, controller/xds).
#
# Runs each package on its own (one test binary at a time: the machine may be
# shared), writes the raw `go test -bench` output, which is benchstat's input
# format, to bench/results/go/<UTC date and time>-<commit>.txt, and prints
# benchstat of the previous results file against the new one.
#
#   bench/go/run.sh                          everything, -count 6, -benchtime 1s
#   COUNT=3 bench/go/run.sh                  fewer runs (benchstat wants >= 6 for tight intervals)
#   BENCHTIME=2s bench/go/run.sh             longer runs per benchmark
#   BENCH='Forward' PKGS=./dataplane/proxy bench/go/run.sh   a subset
#   BASELINE=bench/results/go/X.txt bench/go/run.sh          compare with X instead of the previous file
#
# benchstat is golang.org/x/perf/cmd/benchstat at the pinned version below,
# built once from the Go module proxy into .cache/bin (nothing is installed
# globally). Without it the results are still written.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
export GOTOOLCHAIN=local

COUNT=${COUNT:-6}
BENCHTIME=${BENCHTIME:-1s}
BENCH=${BENCH:-.}
PKGS=${PKGS:-./dataplane/config ./dataplane/proxy ./controller/gatewayapi ./controller/xds}
BENCHSTAT_VERSION=v0.0.0-20260908200009-22c9c6c9d4da
results="$repo/bench/results/go"

# The commit the numbers belong to; "-dirty" when the benchmarked packages
# (or their benchmarks) differ from it.
rev=$(git rev-parse --short HEAD)
# shellcheck disable=SC2086 # PKGS is a list of package paths
if ! git diff --quiet HEAD -- $(for p in $PKGS; do echo "${p#./}"; done); then
  rev="$rev-dirty"
fi
mkdir -p "$results"
out="$results/$(date -u +%Y%m%d-%H%M%S)-$rev.txt"
previous=${BASELINE:-$(find "$results" -maxdepth 1 -name '*.txt' | sort | tail -n 1)}

# How the numbers were taken, as "#" lines: benchstat ignores them. (A
# "key: value" line would be a benchstat configuration key, and files whose
# keys differ, such as the commit, land in separate tables instead of being
# compared.)
{
  echo "# commit $(git rev-parse HEAD)$( [[ $rev == *-dirty ]] && echo ' with uncommitted changes in the benchmarked packages')"
  echo "# $(go env GOVERSION), count $COUNT, benchtime $BENCHTIME, $(nproc 2>/dev/null || echo '?') CPUs"
  echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
} >"$out"

status=0
for pkg in $PKGS; do
  echo "== $pkg (count $COUNT, benchtime $BENCHTIME)" >&2
  # -p 1: one test binary at a time; -timeout: 5000-route translation runs
  # take seconds each.
  if ! go test -p 1 -run '^$' -bench "$BENCH" -benchmem -count "$COUNT" -benchtime "$BENCHTIME" -timeout 60m "$pkg" | tee -a "$out"; then
    echo "bench/go/run.sh: benchmarks of $pkg failed; the results file is incomplete" >&2
    status=1
  fi
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)" >>"$out"
echo "results: ${out#"$repo"/}" >&2

# benchstat: on PATH, else built once into .cache/bin at the pinned version.
benchstat_bin() {
  if command -v benchstat >/dev/null 2>&1; then
    command -v benchstat
    return
  fi
  local bin="$repo/.cache/bin/benchstat"
  if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -q "golang.org/x/perf.*$BENCHSTAT_VERSION"; then
    echo "$bin"
    return
  fi
  echo "building benchstat $BENCHSTAT_VERSION into .cache/bin" >&2
  GOBIN="$repo/.cache/bin" GOFLAGS= go install "golang.org/x/perf/cmd/benchstat@$BENCHSTAT_VERSION" >&2 || return 1
  echo "$bin"
}

if [ -z "$previous" ] || [ "$previous" = "$out" ]; then
  echo "no earlier results in ${results#"$repo"/} to compare with" >&2
  exit "$status"
fi
if ! bs=$(benchstat_bin); then
  echo "benchstat could not be built (no module proxy?); compare by hand: benchstat $previous $out" >&2
  exit "$status"
fi
# Relative names: they head benchstat's columns.
previous=$(realpath --relative-to="$repo" "$previous")
out=${out#"$repo"/}
echo "== benchstat $previous $out" >&2
"$bs" "$previous" "$out" || status=1
exit "$status"
