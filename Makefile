# flyte-admission — developer entry points. `make help` lists the targets.

GO ?= go
# Builds (once, then cached) kube-apiserver + etcd from the Go module proxy for
# envtest; prints their directory as the last line of stdout.
CONTROL_PLANE_SCRIPT ?= hack/build-control-plane.sh
TEST_TIMEOUT ?= 30m
# Extra flags for `go test` (shell words), e.g.
#   make test TEST_FLAGS="-run 'TestEnv|TestFiles' -v"
TEST_FLAGS ?=

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec
.DEFAULT_GOAL := help

# Shell snippet: set $assets to the control-plane directory or fail loudly.
define control_plane
assets="$$($(CONTROL_PLANE_SCRIPT) | tail -n1)" || { \
  echo "make: building the control plane with $(CONTROL_PLANE_SCRIPT) failed (messages above)" >&2; exit 1; }; \
if [ ! -x "$$assets/kube-apiserver" ] || [ ! -x "$$assets/etcd" ]; then \
  echo "make: $(CONTROL_PLANE_SCRIPT) printed '$$assets', which has no kube-apiserver and etcd" >&2; exit 1; fi
endef

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

# The chart's tests and the real-cluster test use Helm's Go SDK; each is its
# own module (replacing the main one with this checkout) so that Helm's large
# dependency tree stays out of the main go.mod. go test ./... at the root
# skips them; make test and make lint run them.
HELM_MODULES = test/chart test/cluster

.PHONY: lint
lint: ## Fail if gofmt -l lists any file, then run go vet ./...
	@out="$$(git ls-files -z -co --exclude-standard -- '*.go' | xargs -0 -r gofmt -l)"; \
	if [ -n "$$out" ]; then echo "gofmt: these files are not formatted (run gofmt -w):" >&2; echo "$$out" >&2; exit 1; fi
	$(GO) vet ./...
	@for m in $(HELM_MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

.PHONY: control-plane
control-plane: ## Build kube-apiserver + etcd for envtest (cached) and print their directory.
	@$(control_plane); echo "$$assets"

.PHONY: test
test: ## Run all tests against a real kube-apiserver + etcd (builds the control plane and the node binaries first, cached), hack/image's and the short fuzz runs.
	@export WITH_NODE=1; $(control_plane); \
	echo "KUBEBUILDER_ASSETS=$$assets"; \
	KUBEBUILDER_ASSETS="$$assets" $(GO) test ./... -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS); \
	for m in $(HELM_MODULES); do (cd $$m && KUBEBUILDER_ASSETS="$$assets" $(GO) test ./... -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS)) || exit 1; done
	@$(MAKE) --no-print-directory image-test
	@$(MAKE) --no-print-directory fuzz-short

# Fuzz targets of the decoders of untrusted input and of the JSON encoders:
# package and target name.
FUZZ_TARGETS = ./task:FuzzAppendStruct ./task:FuzzDecodeTemplate ./task:FuzzDecodeExecution ./internal/pbjson:FuzzUnmarshal ./internal/jsonvalue:FuzzDecode ./internal/jsonvalue:FuzzDecodeSelected ./internal/jsonenc:FuzzAppend ./internal/jsonenc:FuzzAppendDecoded ./config:FuzzParse ./expand:FuzzExpandRaw ./webhook:FuzzMutate ./webhook:FuzzValidate ./webhook:FuzzDecodeReview ./podspec:FuzzIsDNS1123Label
FUZZ_SHORT ?= 1000x
FUZZ_LONG ?= 10m

.PHONY: fuzz-short
fuzz-short: ## Run each fuzz target briefly (FUZZ_SHORT, default 1000 executions); part of make test.
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "fuzz $$name ($$pkg) for $(FUZZ_SHORT)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZ_SHORT) $$pkg | tail -n 3; done

.PHONY: fuzz
fuzz: ## Fuzz each target for FUZZ_LONG (default 10m) — the long run.
	@$(MAKE) --no-print-directory fuzz-short FUZZ_SHORT=$(FUZZ_LONG)

# make bench: every benchmark, then one table (test/bench/report) and
# out/bench/bench.json. About 12 minutes on 2 cores with warm caches (the
# first run also builds the Flyte baseline: +2-3 minutes). The watcher part
# runs one storm rate here (BENCH_WATCH_RATES, default 20); make bench-watch
# alone runs both.
BENCH_OUT ?= out/bench
BENCH_TIME ?= 0.5s
BENCH_ROUNDS ?= 5
.PHONY: bench
bench: ## All benchmarks (expansion vs Flyte 1.16.8, admission load vs a no-op webhook, creates through the apiserver, watcher) and one table.
	@$(MAKE) --no-print-directory bench-expansion bench-load bench-apiserver
	@BENCH_WATCH_RATES="$${BENCH_WATCH_RATES:-20}" $(MAKE) --no-print-directory bench-watch
	@$(GO) run ./test/bench/report -dir $(BENCH_OUT)

# Ours and Flyte's alternate input by input for BENCH_ROUNDS rounds
# (test/bench/expansion.sh); the report takes each benchmark's median, so a
# neighbour's burst on a shared machine weighs on both sides alike.
# test/bench/flyte is a separate module so flyte-admission never links
# flyteplugins; shim.sh stands in for a spark-operator version the module
# proxy does not serve.
.PHONY: bench-expansion
bench-expansion: ## Expansion: ours (decode, Expand, whole mutate path, cache warm/cold) and Flyte 1.16.8's decode + BuildResource + marshal, same inputs, alternating.
	@mkdir -p $(BENCH_OUT); rm -f $(BENCH_OUT)/expand.txt $(BENCH_OUT)/flyte.txt
	@test/bench/flyte/shim.sh
	$(GO) test -c -o $(BENCH_OUT)/expand.test ./expand/
	cd test/bench/flyte && $(GO) test -c -o $(CURDIR)/$(BENCH_OUT)/flyte.test .
	@test/bench/expansion.sh $(BENCH_OUT) $(BENCH_ROUNDS) $(BENCH_TIME)

.PHONY: bench-load
bench-load: ## Admission under open-loop load: flyte-admission serve vs a no-op controller-runtime webhook -> out/bench/load.json.
	FLYTE_ADMISSION_BENCH_LOAD=1 FLYTE_ADMISSION_BENCH_LOAD_OUT=$(CURDIR)/$(BENCH_OUT)/load.json \
	  $(GO) test ./test/load -run '^TestLoadBench$$' -count=1 -v -timeout $(TEST_TIMEOUT) | grep -v '^=== RUN'

# Create latency through a real kube-apiserver + etcd (test/bench/apiserver,
# about 3 minutes): no webhook, the no-op webhook and flyte-admission,
# alternating at 20, 50 and 100 creates/s. BENCH_APISERVER_SECONDS per
# configuration and rate (default 10), in BENCH_APISERVER_ROUNDS rounds
# (default 2).
.PHONY: bench-apiserver
bench-apiserver: ## Create latency through kube-apiserver: no webhook, no-op webhook, flyte-admission (out/bench/apiserver.json).
	@$(control_plane); \
	KUBEBUILDER_ASSETS="$$assets" FLYTE_ADMISSION_BENCH_APISERVER=1 FLYTE_ADMISSION_BENCH_APISERVER_OUT=$(CURDIR)/$(BENCH_OUT)/apiserver.json \
	  FLYTE_ADMISSION_BENCH_APISERVER_SECONDS="$${BENCH_APISERVER_SECONDS:-10}" FLYTE_ADMISSION_BENCH_APISERVER_ROUNDS="$${BENCH_APISERVER_ROUNDS:-2}" \
	  $(GO) test ./test/bench/apiserver -run '^TestAPIServerBench$$' -count=1 -v -timeout $(TEST_TIMEOUT) | grep -v '^=== RUN'

# The watcher benchmark (test/bench/watch, about 4-5 minutes): phase-report lag
# and RSS of a `flyte-admission serve --webhook=false` process with 1,000 and
# 5,000 objects; prints a table and writes out/bench/watch.json. Override with
# BENCH_WATCH_SIZES, BENCH_WATCH_RATES, BENCH_WATCH_STORM_SECONDS, BENCH_WATCH_SERVE_FLAGS.
.PHONY: bench-watch
bench-watch: ## Watcher benchmark: phase-report lag and RSS with 1,000 and 5,000 objects (out/bench/watch.json).
	@$(control_plane); \
	KUBEBUILDER_ASSETS="$$assets" FLYTE_ADMISSION_BENCH_WATCH=1 BENCH_WATCH_OUT=$(CURDIR)/$(BENCH_OUT)/watch.json $(GO) test ./test/bench/watch -run '^TestWatchBench$$' -count=1 -v -timeout $(TEST_TIMEOUT)

##@ Demo

.PHONY: demo
demo: build ## Run the demo: a local control plane, the webhook and watcher, kubectl apply of examples/, results.
	@$(control_plane); \
	KUBEBUILDER_ASSETS="$$assets" $(GO) run ./test/demo -binary bin/flyte-admission -examples examples

# The real-cluster test's bring-up (test/cluster) left running: a single-node
# cluster in its own network namespace, the chart installed with make image's
# image, examples/ applied; watches the pods until Ctrl-C, then removes
# everything. Needs root; the first run builds the node binaries (minutes).
.PHONY: demo-cluster
demo-cluster: ## Run the chart's pods on a real single-node cluster (root) and watch them; Ctrl-C removes everything.
	cd test/cluster && $(GO) build -o $(CURDIR)/bin/demo-cluster ./demo
	bin/demo-cluster -root $(CURDIR)

##@ Build

.PHONY: build
build: ## Build the flyte-admission binary into bin/.
	$(GO) build -o bin/flyte-admission ./cmd/flyte-admission

# The server's image, built with no container daemon by hack/image (its own
# module, go-containerregistry): a static binary per platform, user 65532, no
# shell, one layer, every timestamp the commit's time, so the same commit and
# Go toolchain give the same digest. The default reference is the chart's
# default image (image.repository:appVersion), so that an image loaded into a
# cluster's containerd is the one `helm install` asks for.
VERSION ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' charts/flyte-admission/Chart.yaml)
IMAGE_REPOSITORY ?= ghcr.io/flyte-admission/flyte-admission
IMAGE ?= $(IMAGE_REPOSITORY):$(VERSION)
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
IMAGE_OUT ?= out/image
# Extra flags of `image push`, e.g. IMAGE_PUSH_FLAGS=-insecure for a plain-HTTP registry.
IMAGE_PUSH_FLAGS ?=

.PHONY: image
image: ## Build the server's image (IMAGE, IMAGE_PLATFORMS) into out/image/: OCI layout, a docker-style tarball per platform, the digest.
	cd hack/image && $(GO) run . build -src $(CURDIR) -out $(abspath $(IMAGE_OUT)) -image $(IMAGE) -version $(VERSION) -platforms $(IMAGE_PLATFORMS)

.PHONY: image-push
image-push: image ## Build the image and push its multi-platform index to IMAGE=registry/repo:tag (credentials of docker/crane login).
	cd hack/image && $(GO) run . push -layout $(abspath $(IMAGE_OUT))/oci -image $(IMAGE) $(IMAGE_PUSH_FLAGS)

.PHONY: image-test
image-test: ## Test hack/image: layer and config, push to an in-memory registry, two builds of this commit with the same digest; part of make test.
	cd hack/image && $(GO) test ./... -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS)
