#!/usr/bin/env bash
# bench/dataplane-rss/run.sh: the resident memory of the data plane alone
# (`edgeway dataplane` and `edgeway-dataplane`, in the builds and runtime
# settings below) serving N generated HTTPRoutes, as a Gateway's Pod runs it:
# the configuration comes over xDS from peer-xds, another process. For each
# case: VmRSS/RssAnon/RssFile from /proc once the first and the last route
# answer 200 and 2 s have passed, then a fixed wrk load to the last route
# (64 connections) and the process's CPU per request from /proc/PID/stat
# (utime+stime over wrk's request count), and VmRSS/VmHWM after it.
#
#   bench/dataplane-rss/run.sh [ROUNDS [ROUTES...]]   (default: 3 rounds, 1000 5000 routes)
#
# Loopback only (127.0.0.1, ports 37801-37804). Prints a markdown table.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-3}
shift || true
routes=("${@:-1000 5000}")
read -r -a routes <<<"${routes[*]}"
GO=${GO:-go}
WRK_SECONDS=${WRK_SECONDS:-5}
backend_port=37801 xds_port=37802 http_port=37803 admin_port=37804

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# The binaries: edgeway as `make build` builds it, edgeway-dataplane the
# same way and stripped (-trimpath -ldflags "-s -w").
bin=$work/bin
(
	cd "$root"
	$GO build -o "$bin/edgeway" ./cmd/edgeway
	$GO build -o "$bin/edgeway-dataplane" ./cmd/edgeway-dataplane
	$GO build -trimpath -ldflags "-s -w" -o "$bin/edgeway-dataplane-stripped" ./cmd/edgeway-dataplane
	$GO build -o "$bin/peer-xds" ./bench/peers/xdsonly
	$GO build -o "$bin/peer-backend" ./bench/peers/backend
)

# config DIR N: a Gateway with one HTTP listener and N HTTPRoutes, host
# rNNNNN.bench.test each, to one static backend.
config() {
	local dir=$1 n=$2
	mkdir -p "$dir"
	cat >"$dir/gateway.yaml" <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: edgeway}
spec: {controllerName: edgeway.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bench}
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - {name: http, protocol: HTTP, port: $http_port, allowedRoutes: {kinds: [{kind: HTTPRoute}]}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: backend}
spec:
  hosts: [backend.bench.internal]
  ports: [{number: $backend_port, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
YAML
	for ((i = 0; i < n; i++)); do
		printf -- '---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: route-%05d}\nspec:\n  parentRefs: [{name: bench, sectionName: http}]\n  hostnames: [r%05d.bench.test]\n  rules:\n  - matches: [{path: {type: PathPrefix, value: /}}]\n    backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: backend, port: %d}]\n' "$i" "$i" "$backend_port"
	done >"$dir/routes.yaml"
}

status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

wait_served() {
	local host=$1 deadline=$((SECONDS + 180))
	until [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $host" "http://127.0.0.1:$http_port/" || true)" = 200 ]; do
		if ((SECONDS > deadline)); then
			echo "run.sh: $host not served 180 s after start: see $work/dp.log" >&2
			tail -20 "$work/dp.log" >&2
			exit 1
		fi
		sleep 0.2
	done
}

# measure N NAME ENV... -- ARGV...: one case, one table row.
measure() {
	local n=$1 name=$2 envs=() argv
	shift 2
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	argv=("$@")
	env "${envs[@]}" "${argv[@]}" --xds-server "127.0.0.1:$xds_port" --admin-address "127.0.0.1:$admin_port" \
		--access-log off --drain-delay 0 --drain-timeout 1s >"$work/dp.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	local last
	last=$(printf 'r%05d.bench.test' $((n - 1)))
	wait_served r00000.bench.test
	wait_served "$last"
	sleep 2
	local rss anon file
	rss=$(status_kib "$pid" VmRSS) anon=$(status_kib "$pid" RssAnon) file=$(status_kib "$pid" RssFile)
	local t0 t1 reqs
	t0=$(cpu_ticks "$pid")
	reqs=$(wrk -t1 -c64 -d"${WRK_SECONDS}s" -H "Host: $last" "http://127.0.0.1:$http_port/" | awk '/requests in/ {print $1}')
	t1=$(cpu_ticks "$pid")
	local after hwm
	after=$(status_kib "$pid" VmRSS) hwm=$(status_kib "$pid" VmHWM)
	kill -TERM "$pid"
	wait "$pid" || true
	local us
	us=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v r="$reqs" 'BEGIN {printf "%.1f", t / hz * 1e6 / r}')
	printf '| %s | %d | %s | %s | %s | %s | %s | %s |\n' "$name" "$n" "$(mib "$rss")" "$(mib "$anon")" "$(mib "$file")" "$(mib "$after")" "$(mib "$hwm")" "$us"
}

"$bin/peer-backend" -http "a=127.0.0.1:$backend_port" >"$work/backend.log" 2>&1 &
pids+=($!)

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; $($GO version)"
echo "binary sizes: edgeway $(stat -c %s "$bin/edgeway") B, edgeway-dataplane $(stat -c %s "$bin/edgeway-dataplane") B, stripped $(stat -c %s "$bin/edgeway-dataplane-stripped") B"
echo
echo "| case | routes | idle VmRSS MiB | RssAnon | RssFile | VmRSS after load | VmHWM | CPU µs/request |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for n in "${routes[@]}"; do
	config "$work/config-$n" "$n"
	"$bin/peer-xds" -config-dir "$work/config-$n" -xds-address "127.0.0.1:$xds_port" >"$work/xds-$n.log" 2>&1 &
	xds=$!
	pids+=("$xds")
	for ((r = 0; r < rounds; r++)); do
		measure "$n" "edgeway dataplane" -- "$bin/edgeway" dataplane
		measure "$n" "edgeway-dataplane" -- "$bin/edgeway-dataplane"
		measure "$n" "edgeway-dataplane -trimpath -s -w" -- "$bin/edgeway-dataplane-stripped"
		measure "$n" "stripped, GOGC=50" GOGC=50 -- "$bin/edgeway-dataplane-stripped"
		measure "$n" "stripped, GOMEMLIMIT=48MiB" GOMEMLIMIT=48MiB -- "$bin/edgeway-dataplane-stripped"
	done
	kill "$xds"
	wait "$xds" 2>/dev/null || true
done
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
