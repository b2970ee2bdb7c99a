#!/usr/bin/env bash
# Records the CPU and allocation profiles bench/go/PROFILE.md analyses, into
# bench/results/go/profiles/, with a `go tool pprof -top` summary of each:
#
#   forward.cpu.pprof     BenchmarkForward (proxied keep-alive HTTP/1.1 GET), 10s
#   forward.alloc.pprof   the same, every allocation recorded (-memprofilerate 1), 20000 requests
#   direct.cpu.pprof      BenchmarkDirect (same client and backend, no proxy): the baseline
#   translate-5000.*      controller/gatewayapi BenchmarkTranslate/routes=5000, one translation
#   compile-5000.cpu.pprof  dataplane/config BenchmarkCompile/routes=5000, 20 compilations
#
#   bench/go/profile.sh             record and summarise
#   SUMMARY_ONLY=1 bench/go/profile.sh   rewrite the summaries of the recorded profiles
#
# Client, proxy and backend share one process in the proxy benchmarks; the
# summaries are whole-process, PROFILE.md explains how to split them.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
export GOTOOLCHAIN=local
out=bench/results/go/profiles
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

record() { # name package benchmark benchtime extra-flags...
  local name=$1 pkg=$2 bench=$3 benchtime=$4
  shift 4
  echo "== $name: $bench in $pkg" >&2
  go test -run '^$' -bench "$bench" -benchmem -benchtime "$benchtime" -o "$tmp/bench.test" "$@" "$pkg" |
    grep '^Benchmark' >"$out/$name.run.txt"
  cat "$out/$name.run.txt" >&2
}

if [ -z "${SUMMARY_ONLY:-}" ]; then
  git rev-parse --short HEAD >"$out/commit.txt"
  record forward.cpu ./dataplane/proxy '^BenchmarkForward$' 10s -cpuprofile "$out/forward.cpu.pprof"
  record forward.alloc ./dataplane/proxy '^BenchmarkForward$' 20000x -memprofile "$out/forward.alloc.pprof" -memprofilerate 1
  record direct.cpu ./dataplane/proxy '^BenchmarkDirect$' 10s -cpuprofile "$out/direct.cpu.pprof"
  record translate-5000 ./controller/gatewayapi 'BenchmarkTranslate/routes=5000$' 1x \
    -cpuprofile "$out/translate-5000.cpu.pprof" -memprofile "$out/translate-5000.alloc.pprof"
  record compile-5000 ./dataplane/config 'BenchmarkCompile/routes=5000$' 20x -cpuprofile "$out/compile-5000.cpu.pprof"
fi

top() { # summary-file title pprof-flags... profile
  local file=$1 title=$2
  shift 2
  {
    echo
    echo "# $title"
    echo "# go tool pprof $*"
    go tool pprof "$@" 2>/dev/null | sed -n '/flat  flat%/,$p'
  } >>"$file"
}

handler='proxy.\(\*socket\).ServeHTTP'
f=$out/forward.cpu.top.txt
{
  echo "# BenchmarkForward CPU profile, commit $(cat "$out/commit.txt"); the run:"
  sed 's/^/# /' "$out/forward.cpu.run.txt"
  go tool pprof -top "$out/forward.cpu.pprof" 2>/dev/null | sed -n '1,/flat  flat%/p' | sed '$d'
} >"$f"
top "$f" "flat, whole process (client, proxy, backend)" -top -nodecount=50 "$out/forward.cpu.pprof"
top "$f" "cumulative, whole process" -top -cum -nodecount=70 "$out/forward.cpu.pprof"
top "$f" "cumulative, the proxy's request handler only" -top -cum -nodecount=50 -focus="$handler" "$out/forward.cpu.pprof"

f=$out/direct.cpu.top.txt
{
  echo "# BenchmarkDirect CPU profile (the baseline: client and backend only), commit $(cat "$out/commit.txt"); the run:"
  sed 's/^/# /' "$out/direct.cpu.run.txt"
} >"$f"
top "$f" "flat" -top -nodecount=40 "$out/direct.cpu.pprof"
top "$f" "cumulative" -top -cum -nodecount=50 "$out/direct.cpu.pprof"

f=$out/forward.alloc.top.txt
{
  echo "# BenchmarkForward allocation profile (every allocation: -memprofilerate 1), commit $(cat "$out/commit.txt"); the run:"
  sed 's/^/# /' "$out/forward.alloc.run.txt"
  echo "# divide by the request count of the run (20000) for per-request figures"
} >"$f"
top "$f" "objects, flat, whole process" -sample_index=alloc_objects -top -nodecount=60 "$out/forward.alloc.pprof"
top "$f" "bytes, flat, whole process" -sample_index=alloc_space -top -nodecount=40 "$out/forward.alloc.pprof"
top "$f" "objects, cumulative, the proxy's request handler only" -sample_index=alloc_objects -top -cum -nodecount=60 -focus="$handler" "$out/forward.alloc.pprof"

f=$out/translate-5000.top.txt
{
  echo "# controller/gatewayapi BenchmarkTranslate/routes=5000 profiles, commit $(cat "$out/commit.txt"); the run:"
  sed 's/^/# /' "$out/translate-5000.run.txt"
  echo "# the profiles also hold the setup (snapshot.Parse of the generated YAML and one checking translation); focus on Translate"
} >"$f"
top "$f" "CPU, cumulative, Translate only" -top -cum -nodecount=40 -focus='gatewayapi.Translate$' "$out/translate-5000.cpu.pprof"
top "$f" "CPU, flat, Translate only" -top -nodecount=30 -focus='gatewayapi.Translate$' "$out/translate-5000.cpu.pprof"
top "$f" "allocated bytes, cumulative, Translate only" -sample_index=alloc_space -top -cum -nodecount=30 -focus='gatewayapi.Translate$' "$out/translate-5000.alloc.pprof"

f=$out/compile-5000.top.txt
{
  echo "# dataplane/config BenchmarkCompile/routes=5000 CPU profile, commit $(cat "$out/commit.txt"); the run:"
  sed 's/^/# /' "$out/compile-5000.run.txt"
  echo "# the profile also holds the setup (generating the resources); focus on Compile"
} >"$f"
top "$f" "cumulative, Compile only" -top -cum -nodecount=45 -focus='config.Compile$' "$out/compile-5000.cpu.pprof"
top "$f" "flat, Compile only" -top -nodecount=30 -focus='config.Compile$' "$out/compile-5000.cpu.pprof"
echo "summaries: $out/*.top.txt" >&2
