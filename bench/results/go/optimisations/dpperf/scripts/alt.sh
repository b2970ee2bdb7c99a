#!/usr/bin/env bash
# usage: alt.sh OUTDIR BENCHREGEX COUNT BENCHTIME BIN_A BIN_B  (alternated, one run each per round)
out=$1 re=$2 count=$3 bt=$4; shift 4
mkdir -p $out
cd /work/wt-perf-dpperf/dataplane/proxy
for i in $(seq $count); do
  for bin in "$@"; do
    name=$(basename $bin .test)
    uptime >> $out/$name.load
    $bin -test.run '^$' -test.bench "$re" -test.benchtime $bt -test.count 1 2>/dev/null | grep -E '^(Benchmark|goos|goarch|pkg|cpu)' >> $out/$name.txt
  done
done
vmstat 1 5 > $out/vmstat-end.txt
