#!/usr/bin/env bash
# make bench-scale: edgeway's control plane at 10, 100, 1000 and 5000
# HTTPRoutes on the local cluster (bench/scale/README.md). As root: the
# local cluster creates network namespaces and links.
#
# Settings (environment):
#   BENCH_SCALE_SIZES=10,100,1000,5000   route counts, measured in ascending order
#   BENCH_SCALE_CHANGES=100              propagation samples per size
#   BENCH_SCALE_CHURN=30s                churn under load at the largest size (0 skips it)
#   BENCH_SCALE_CHURN_CONNS=4            load generator connections during the churn
#   BENCH_SCALE_CHURN_WRITES=20          route writes per second during the churn
#   BENCH_SCALE_CREATE_WORKERS=16        parallel creates when a size is set up
#   BENCH_SCALE_STATUS_WAIT=5m           wait at most this long for the size's route statuses before
#                                        the propagation samples (0: sample while they are written)
#   BENCH_SCALE_OUT=DIR                  results directory (default bench/results/scale/<UTC time>)
#   BENCH_SCALE_NOTE='...'               a line for summary.md (e.g. the machine was loaded)
#   BENCH_SCALE_PERF=1                   perf-profile the controller and the data plane during the
#                                        propagation samples (perf-<process>-<routes>.txt; needs perf)
#   EDGEWAY_KUBECONFIG=FILE              a running cluster (make cluster-up) instead of a fresh one
#
# A quick run: BENCH_SCALE_SIZES=10,100 BENCH_SCALE_CHANGES=20 BENCH_SCALE_CHURN=5s bench/scale/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
if [ "$(id -u)" != 0 ]; then
  echo "bench-scale: the local cluster needs root (network namespaces, links, mounts): run it with sudo" >&2
  exit 1
fi
# kube-apiserver, etcd, helm ... (cached; a cold build takes minutes).
./hack/kube-bins.sh >/dev/null
bin=.cache/bin/bench-scale
mkdir -p .cache/bin
go build -o "$bin" ./bench/scale
exec "$bin" "$@"
