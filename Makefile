# edgeway: the two commands a new user needs are `make run` and `make test`.
GO       ?= go
BIN      ?= bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS  := -X main.version=$(VERSION)
PKGS     ?= ./...
FUZZTIME ?= 30s
# Each input that finds new coverage is minimized before fuzzing goes on;
# go test's default allows 60 s per input, which kept FuzzTranslate (its
# seeds are whole golden files) minimizing all the time: 46 inputs run in
# 30 s, none new, against 9687 and 96 with 100 tries.
FUZZMINIMIZE ?= 100x
# The go build flags of hack/netpollfifo's runtime overlay (empty with NETPOLL_FIFO=0 or off Linux).
NETPOLL_FIFO ?= 1
NETPOLL_FLAGS = if [ "$(NETPOLL_FIFO)" = 1 ]; then $(GO) run ./hack/netpollfifo -go $(GO); fi

.PHONY: bench bench-peers bench-scale conformance all build run test test-unit test-e2e test-h2spec test-mesh-cluster vet golden crds apis fuzz clean cluster-up cluster-down

all: build

## build: bin/edgeway (every command) and bin/edgeway-dataplane (the data plane alone: the same
## flags as `edgeway dataplane`, a third of the binary and half the memory; bench/results/dataplane-rss.md).
## Both are built with hack/netpollfifo's overlay of the Go runtime on Linux (its poller wakes
## connections in the order they became ready: plain HTTP/1.1's p90 and p99 a tenth lower under
## load, bench/peers/README.md); NETPOLL_FIFO=0 builds them with the standard runtime.
build:
	flags=$$($(NETPOLL_FLAGS)) && \
	$(GO) build $$flags -ldflags "$(LDFLAGS)" -o $(BIN)/edgeway ./cmd/edgeway && \
	$(GO) build $$flags -ldflags "$(LDFLAGS)" -o $(BIN)/edgeway-dataplane ./cmd/edgeway-dataplane
	$(GO) build -o $(BIN)/demo-backends ./examples/backends

## run: the gateway in standalone mode on examples/quickstart, with its demo backends.
run: build
	./examples/quickstart/run.sh $(BIN)

## test: everything CI runs: vet, unit and golden tests, fuzz seed corpora, end-to-end tests
## (the real binary built with -race), integration tests against a real kube-apiserver + etcd,
## the concurrent packages again under -race, the data plane's packages again with the runtime its
## binaries are built with (hack/netpollfifo), and the upstream conformance suite (make conformance).
test: vet kube-bins
	$(GO) test -count=1 -timeout 45m $$($(GO) list $(PKGS) | grep -v '/conformance/upstream$$')
	$(GO) test -race -count=1 -timeout 10m ./dataplane/... ./controller/xds/... ./controller/source/... ./test/securexds/...
	flags=$$($(NETPOLL_FLAGS)) && $(GO) test -count=1 $$flags ./dataplane/...
	$(MAKE) test-h2spec
	$(MAKE) conformance

## test-unit: quick iteration, no end-to-end tests.
test-unit:
	$(GO) test -short $(PKGS)

## test-e2e: only the end-to-end tests (real binary, real sockets).
test-e2e:
	$(GO) test -count=1 -v ./test/e2e/...

## test-h2spec: h2spec (every case, strict ones included) against the data plane's HTTP/2
## server over h2c and TLS, compared case by case with x/net/http2's server; h2spec is built
## from the Go module proxy (test/h2spec/run.sh, about a minute).
test-h2spec:
	./test/h2spec/run.sh

## test-mesh-cluster: issue 8 end to end on a fresh local cluster (as root, about a minute): mTLS
## into a STRICT-sidecar-like backend, the egress gateway, ServiceEntry host conflicts
## (test/meshegresscluster; `make test` runs it too).
test-mesh-cluster: kube-bins
	$(GO) test -count=1 -v -timeout 15m ./test/meshegresscluster/

## kube-bins: build (once, cached) the kube-apiserver, kube-controller-manager, kubectl, etcd
## and helm the integration tests run, from the Go module proxy (docs/kube-bins.md).
kube-bins:
	./hack/kube-bins.sh

## conformance: the upstream Gateway API conformance suite (five Gateway profiles) against edgeway
## installed by its Helm chart in a fresh local cluster (as root); writes the report and a
## summary under conformance/reports/. Suite flags: make conformance CONFORMANCE_ARGS='-run-test X'.
## Against a running `make cluster-up` cluster: add EDGEWAY_KUBECONFIG=.cache/cluster/kubeconfig.
CONFORMANCE_ARGS ?=
conformance: kube-bins
	$(GO) test -count=1 -timeout 80m ./conformance/upstream -args $(CONFORMANCE_ARGS)
	@cat conformance/reports/v1.6.3/summary.txt

## cluster-up: a local Kubernetes cluster without Docker, in the background (as root; docs in
## conformance/cluster), with edgeway installed by its Helm chart: prints
## `export KUBECONFIG=.cache/cluster/kubeconfig`. Logs: .cache/cluster/*.log.
## cluster-down: stop it and remove every namespace, link, route and process it created (also after a crash).
CLUSTER_BIN := .cache/bin/edgeway-cluster
cluster-up: kube-bins
	$(GO) build -o $(CLUSTER_BIN) ./conformance/cmd/edgeway-cluster
	$(CLUSTER_BIN) up
	$(CLUSTER_BIN) install-edgeway
cluster-down:
	$(GO) build -o $(CLUSTER_BIN) ./conformance/cmd/edgeway-cluster
	$(CLUSTER_BIN) down

## bench: the in-code benchmarks (route matcher, config compiler, translation of 5000 routes,
## proxy hot path) with allocations, in benchstat format under bench/results/go/.
## bench-peers: edgeway's data plane against nginx, HAProxy and Caddy, pinned, in one run
## (installs the peers; as root); results under bench/results/peers/.
## bench-scale: the controller at 10..5000 HTTPRoutes on the local cluster (as root): memory,
## CPU, propagation p50/p99, errors during churn; results under bench/results/scale/.
bench:
	./bench/go/run.sh
bench-peers:
	./bench/peers/run.sh
bench-scale: kube-bins
	./bench/scale/run.sh

vet:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## golden: regenerate every golden file (review the diff!).
golden:
	$(GO) test ./controller/gatewayapi/... ./controller/xds/... -update
	$(GO) test ./controller/infra -run 'Golden' -update
	$(GO) test ./charts/edgeway -run TestValuesSchemaFollowsEdgewayConfigCRD -update

## crds: re-copy the CRDs of the pinned gateway-api / istio.io/api versions.
crds:
	./hack/sync-crds.sh

## apis: regenerate deepcopy and the EdgewayConfig CRD from controller/apis (controller-gen
## built once from the module proxy into .cache/bin).
CONTROLLER_GEN := .cache/bin/controller-gen
apis: $(CONTROLLER_GEN)
	$(CONTROLLER_GEN) object paths=./controller/apis/...
	$(CONTROLLER_GEN) crd paths=./controller/apis/... output:crd:dir=charts/edgeway/crds
	cp charts/edgeway/crds/gateway.edgeway.dev_edgewayconfigs.yaml controller/apis/v1alpha1/crd.yaml && cp charts/edgeway/crds/gateway.edgeway.dev_acmeissuers.yaml controller/apis/v1alpha1/acmeissuer_crd.yaml
$(CONTROLLER_GEN):
	GOBIN=$(CURDIR)/.cache/bin GOFLAGS=-mod=mod $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@v0.21.0

## fuzz: run each fuzz target for FUZZTIME (minimizing new inputs with FUZZMINIMIZE tries).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf $(BIN)
