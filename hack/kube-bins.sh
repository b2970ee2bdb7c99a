#!/usr/bin/env bash
# Builds the real control plane the integration tests run against, from the Go
# module proxy only: kube-apiserver, kube-controller-manager and kubectl
# (k8s.io/kubernetes), etcd (go.etcd.io/etcd/server/v3) and helm, at the
# versions pinned in conformance/tools/go.mod.
#
# The binaries land in a cache directory keyed by a hash of that go.mod/go.sum
# and of this script's build recipe, so a version bump builds into a fresh
# directory and an unchanged one is reused. Only missing binaries are built.
#
#   hack/kube-bins.sh              build what is missing, print the directory last
#   hack/kube-bins.sh --print-dir  print the directory, build nothing
#
# EDGEWAY_KUBE_BINS_DIR overrides the directory (e.g. binaries built elsewhere).
# A cold build costs ~1,300-1,500 CPU-seconds (12-25 min on 2 cores); see docs/kube-bins.md.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tools="$repo/conformance/tools"
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=readonly

# Bump when the build flags below change, so old caches are not reused.
recipe=1

# name=package; the order is the build order (kubectl first: a failure there is cheap).
bins=(
  "kubectl=k8s.io/kubernetes/cmd/kubectl"
  "kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver"
  "kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager"
  "etcd=go.etcd.io/etcd/server/v3"
  "helm=helm.sh/helm/v4/cmd/helm"
)

cache_dir() {
  if [ -n "${EDGEWAY_KUBE_BINS_DIR:-}" ]; then
    echo "$EDGEWAY_KUBE_BINS_DIR"
    return
  fi
  local base key
  base="${XDG_CACHE_HOME:-${HOME:-$repo}/.cache}"
  key=$({ cat "$tools/go.mod" "$tools/go.sum"; echo "recipe=$recipe $(go env GOOS GOARCH)"; } |
    sha256sum | cut -c1-16)
  echo "$base/edgeway/kube-bins/$key"
}

dir=$(cache_dir)
if [ "${1:-}" = "--print-dir" ]; then
  echo "$dir"
  exit 0
fi
mkdir -p "$dir"

# Two builds at once (make kube-bins while tests build) would double a
# multi-gigabyte, many-minute job: the second waits and then finds the binaries.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$dir/.build.lock"
  flock 9
fi

missing=()
for b in "${bins[@]}"; do
  name=${b%%=*}
  if [ -x "$dir/$name" ]; then
    echo "kube-bins: $name present"
  else
    missing+=("$b")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  cd "$tools"
  kube=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)   # v1.37.1
  helm=$(go list -m -f '{{.Version}}' helm.sh/helm/v4)     # v4.3.1
  major=${kube#v}; major=${major%%.*}
  minor=${kube#v"$major".}; minor=${minor%%.*}
  # The servers report these (kubectl version, /version); without them they
  # claim v0.0.0-master, which clients and version checks reject.
  ldflags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$kube -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  ldflags+=" -X helm.sh/helm/v4/internal/version.version=$helm"
  ldflags+=" -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
  # go build fetches the modules it needs (~1 GB on a cold module cache).
  # One go build for all: the link of one binary overlaps the compiles of
  # the next, and a package they share is compiled once either way.
  pkgs=() names=()
  for b in "${missing[@]}"; do
    names+=("${b%%=*}") pkgs+=("${b#*=}")
    echo "kube-bins: building ${b%%=*} from ${b#*=}"
  done
  echo "kube-bins: into $dir (versions: conformance/tools/go.mod; module proxy: $(go env GOPROXY))"
  start=$(date +%s)
  # Into a scratch directory, then renamed: a killed build never leaves a
  # half-written binary that a later run would take as present.
  tmp="$dir/.build"
  rm -rf "$tmp" && mkdir -p "$tmp"
  go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}"
  for i in "${!pkgs[@]}"; do
    # go names a binary after its package path, without a /vN suffix
    # (go.etcd.io/etcd/server/v3 -> server).
    out=${pkgs[$i]%/v[0-9]*}
    mv "$tmp/${out##*/}" "$dir/${names[$i]}"
  done
  rmdir "$tmp"
  echo "kube-bins: built ${names[*]} in $(( $(date +%s) - start ))s"
fi

"$dir/kube-apiserver" --version
echo "$dir"
