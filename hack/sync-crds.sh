#!/usr/bin/env bash
# Copies the CRDs of the pinned sigs.k8s.io/gateway-api and istio.io/api module
# versions (go.mod) into the repository. File mode validates objects against
# them (controller/snapshot/crds), and the Helm chart installs them (charts/edgeway).
# Run after changing either module version; the result is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
gw=$(go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)
istio=$(go list -m -f '{{.Dir}}' istio.io/api)
out=controller/snapshot/crds
rm -rf "$out" && mkdir -p "$out"
# The experimental channel: edgeway serves experimental fields (HTTPRoute retry, the
# HTTPRouteRetry* features its GatewayClass claims), which the standard channel's CRDs
# prune on write. It is a superset of the standard channel for these kinds; the
# gateway.networking.x-k8s.io kinds are not copied (edgeway serves none of them).
for f in "$gw"/config/crd/experimental/gateway.networking.k8s.io_*.yaml; do
  case "$f" in *vap_*) continue ;; esac   # a ValidatingAdmissionPolicy, not a CRD
  cp "$f" "$out/"
done
# Only the ServiceEntry CRD of Istio's 15.
awk 'BEGIN{RS="\n---\n"; ORS=""} /name: serviceentries.networking.istio.io/ {print "---\n" $0 "\n"}' \
  "$istio"/kubernetes/customresourcedefinitions.gen.yaml > "$out/networking.istio.io_serviceentries.yaml"
chmod 644 "$out"/*.yaml
echo "CRDs of $(go list -m sigs.k8s.io/gateway-api) and $(go list -m istio.io/api) -> $out"

# The Helm chart: Helm installs everything in crds/ (the Gateway API CRDs beside edgeway's own
# gateway.edgeway.dev CRD, which is not touched here). The ServiceEntry CRD goes to files/:
# crds/ cannot be conditional, so templates/serviceentry-crd.yaml renders it only when
# serviceEntryCRD.install is set.
chart=charts/edgeway
rm -f "$chart"/crds/gateway.networking.k8s.io_*.yaml
mkdir -p "$chart/crds" "$chart/files"
cp "$out"/gateway.networking.k8s.io_*.yaml "$chart/crds/"
sed '1{/^---$/d}' "$out/networking.istio.io_serviceentries.yaml" > "$chart/files/networking.istio.io_serviceentries.yaml"
chmod 644 "$chart"/crds/*.yaml "$chart"/files/*.yaml
echo "Gateway API CRDs -> $chart/crds, ServiceEntry CRD -> $chart/files"
