#!/usr/bin/env bash
tag=$1; rounds=$2; shift 2
for r in $(seq $rounds); do
  for b in "$@"; do
    cp --remove-destination $b /work/wt-perf-h1sys/.cache/bin/edgeway
    /tmp/h1sys/syscount.sh edgeway http1 $tag-$(basename $b)-$r >/dev/null 2>&1
  done
done
