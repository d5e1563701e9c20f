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

.PHONY: lint
lint: ## Fail if gofmt -l lists any file, then run go vet ./...
	@out="$$(git ls-files -z -co --exclude-standard -- '*.go' | xargs -0 -r gofmt -l)"; \
	if [ -n "$$out" ]; then echo "gofmt: these files are not formatted (run gofmt -w):" >&2; echo "$$out" >&2; exit 1; fi
	$(GO) vet ./...

.PHONY: control-plane
control-plane: ## Build kube-apiserver + etcd for envtest (cached) and print their directory.
	@$(control_plane); echo "$$assets"

.PHONY: test
test: ## Run all tests against a real kube-apiserver + etcd (builds the control plane first, cached).
	@$(control_plane); \
	echo "KUBEBUILDER_ASSETS=$$assets"; \
	KUBEBUILDER_ASSETS="$$assets" $(GO) test ./... -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS)
	@$(MAKE) --no-print-directory fuzz-short

# Fuzz targets of the decoders of untrusted input: package and target name.
FUZZ_TARGETS = ./task:FuzzAppendStruct ./task:FuzzDecodeTemplate ./task:FuzzDecodeExecution ./config:FuzzParse ./expand:FuzzExpandRaw ./webhook:FuzzMutate ./webhook:FuzzValidate
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

.PHONY: bench
bench: bench-watch ## Run the benchmarks (with the control plane available, like test).
	@$(control_plane); \
	KUBEBUILDER_ASSETS="$$assets" $(GO) test -run '^$$' -bench . -benchmem ./... -timeout $(TEST_TIMEOUT)

# The watcher benchmark (test/bench/watch, about 4-5 minutes): phase-report lag
# and RSS of a `flyte-admission serve --webhook=false` process with 1,000 and
# 5,000 objects; prints a table and writes out/bench/watch.json. Override with
# BENCH_WATCH_SIZES, BENCH_WATCH_RATES, BENCH_WATCH_STORM_SECONDS, BENCH_WATCH_SERVE_FLAGS.
.PHONY: bench-watch
bench-watch: ## Watcher benchmark: phase-report lag and RSS with 1,000 and 5,000 objects (out/bench/watch.json).
	@$(control_plane); \
	KUBEBUILDER_ASSETS="$$assets" FLYTE_ADMISSION_BENCH_WATCH=1 $(GO) test ./test/bench/watch -run '^TestWatchBench$$' -count=1 -v -timeout $(TEST_TIMEOUT)

##@ Demo

.PHONY: demo
demo: build ## Run the demo: a local control plane, the webhook and watcher, kubectl apply of examples/, results.
	@$(control_plane); \
	KUBEBUILDER_ASSETS="$$assets" $(GO) run ./test/demo -binary bin/flyte-admission -examples examples

##@ Build

.PHONY: build
build: ## Build the flyte-admission binary into bin/.
	$(GO) build -o bin/flyte-admission ./cmd/flyte-admission
