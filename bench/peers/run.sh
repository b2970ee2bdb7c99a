#!/usr/bin/env bash
# make bench-peers: edgeway's data plane against nginx, HAProxy and Caddy on
# this machine, pinned, in one run (bench/peers/README.md). As root: it
# installs the peers from Debian and Caddy from the Go module proxy once.
#
# Settings (environment): BENCH_DURATION (10s; long: 30s; quick look: 5s),
# BENCH_WARMUP (1s), BENCH_ROUNDS (3; quick look: 1), BENCH_PROXY_CPU (0),
# BENCH_LOAD_CPU (1), BENCH_PORT_BASE (28000), BENCH_PROXIES, BENCH_SCENARIOS,
# BENCH_ROUTES (1: the 1000-route RSS run), BENCH_PROFILE (1: profile edgeway),
# BENCH_NICE (0; e.g. -10 gives the benchmark precedence on a shared machine).
# Arguments are passed to the driver (bench/peers/cmd/peerbench -h).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
bin=$root/.cache/bin
GO=${GO:-go}
CADDY_VERSION=${CADDY_VERSION:-v2.11.1}
mkdir -p "$bin"

# The peers and the load generators, from Debian. libnginx-mod-stream is
# nginx's stream module (TLS passthrough with ssl_preread).
need=()
command -v nginx >/dev/null || need+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
command -v haproxy >/dev/null || need+=(haproxy)
command -v wrk >/dev/null || need+=(wrk)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v openssl >/dev/null || need+=(openssl)
command -v taskset >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "bench-peers: ${need[*]} missing; run as root to install them (apt-get), or install them yourself" >&2
    exit 1
  fi
  echo "bench-peers: installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
# perf counts the wake-ups each proxy causes (the report's wakes/req). Optional: without it
# that column reads "?" and the rest of the run is the same.
if ! command -v perf >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "bench-peers: installing linux-perf (optional: wakes/req)"
  { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf; } ||
    echo "bench-peers: linux-perf could not be installed; wakes/req will read ?" >&2
fi

# Caddy, a pinned release, from the Go module proxy; only when the run
# includes it (the build takes minutes on two cores). A -proxies argument to
# the driver is not seen here: select proxies with BENCH_PROXIES.
# (`caddy version` says "unknown" for a go install build: read the build info.)
case ",${BENCH_PROXIES:-caddy}," in
*,caddy,*) want_caddy=1 ;;
*) want_caddy=0 ;;
esac
if [ "$want_caddy" = 1 ] && ! "$GO" version -m "$bin/caddy" 2>/dev/null | grep -Eq "^\s+mod\s+github.com/caddyserver/caddy/v2\s+$CADDY_VERSION\s"; then
  echo "bench-peers: building Caddy $CADDY_VERSION into $bin (once)"
  GOBIN=$bin GOFLAGS=-mod=mod "$GO" install "github.com/caddyserver/caddy/v2/cmd/caddy@$CADDY_VERSION"
fi

# edgeway and edgeway-dataplane as `make build` builds them (with hack/netpollfifo's runtime
# overlay unless NETPOLL_FIFO=0); the pprof build for the profiling pass
# (bench/peers/pprof/edgeway_pprof.go overlaid into cmd/edgeway-dataplane, in the same overlay); the
# backend, the xDS server of the data-plane-only run, and the driver.
version=$(git describe --tags --always --dirty 2>/dev/null || echo devel)
std=()
[ "${NETPOLL_FIFO:-1}" = 1 ] || std=(-standard-runtime)
flags=$("$GO" run ./hack/netpollfifo -go "$GO" "${std[@]}")
pprof_flags=$("$GO" run ./hack/netpollfifo -go "$GO" "${std[@]}" -tags peerbench_pprof \
  -also "$root/cmd/edgeway-dataplane/zz_peerbench_pprof.go=$root/bench/peers/pprof/edgeway_pprof.go")
# shellcheck disable=SC2086 # the flags are words without spaces (hack/netpollfifo refuses others)
"$GO" build $flags -ldflags "-X main.version=$version" -o "$bin/edgeway" ./cmd/edgeway
# shellcheck disable=SC2086
"$GO" build $flags -ldflags "-X main.version=$version" -o "$bin/edgeway-dataplane" ./cmd/edgeway-dataplane
# shellcheck disable=SC2086
"$GO" build $pprof_flags -ldflags "-X main.version=$version-pprof" -o "$bin/edgeway-dataplane-pprof" ./cmd/edgeway-dataplane
"$GO" build -o "$bin/peer-backend" ./bench/peers/backend
"$GO" build -o "$bin/peer-xds" ./bench/peers/xdsonly
"$GO" build -o "$bin/peerbench" ./bench/peers/cmd/peerbench

pprof=()
[ "${BENCH_PROFILE:-1}" = 1 ] && pprof=(-edgeway-pprof "$bin/edgeway-dataplane-pprof")
exec "$bin/peerbench" -bin "$bin" -out "$root/bench/results/peers" "${pprof[@]}" "$@"
