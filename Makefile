# Selective KSM: the entry point for building, testing and running.
# `make help` lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

versions = $(shell . hack/versions.sh && echo "$$$(1)")
export SKSM_CACHE := $(call versions,SKSM_CACHE)
export SKSM_TOOLS := $(call versions,SKSM_TOOLS)
NODE_DIR := $(SKSM_CACHE)/node-v$(call versions,NODE_VERSION)
export PATH := $(NODE_DIR)/bin:$(SKSM_TOOLS):$(PATH)

LOCAL := .local
RESULTS := $(LOCAL)/test-results
# The kernel's flavor for kernel, vm-run, kernel-test and kernel-bench:
# empty (the series, production-like), debug (KASAN, lockdep, DEBUG_VM) or
# upstream (the same kernel without the series)
KERNEL_FLAVOR ?=
export SKSM_KERNEL_FLAVOR := $(KERNEL_FLAVOR)

##@ Try it

.PHONY: demo
demo: deps ## A node in a VM with two tenants: merges, isolation check, a report (KEEP=1 keeps it up)
	@node test/e2e/demo.ts

##@ Set-up

.PHONY: deps
deps: ## Install everything missing: Debian packages, Node, npm packages, test tools
	@hack/deps.sh apt node npm tools

.PHONY: tools
tools: ## Build and cache kube-apiserver, kubectl, etcd and helm
	@hack/deps.sh tools

.PHONY: node-deps host-deps
node-deps:
	@hack/deps.sh node npm
host-deps:
	@hack/deps.sh apt

##@ Development

.PHONY: manifests
manifests: node-deps ## Generate the CRD YAML in crds/manifests from the zod schemas, and the chart's copies
	@node crds/src/manifests/cli.ts crds/manifests
	@node hack/chart.ts

.PHONY: chart
chart: node-deps ## Regenerate the chart's CRDs, RBAC rules and dashboard (charts/selective-ksm/files)
	@node hack/chart.ts

.PHONY: build
build: node-deps ## Compile to JavaScript in dist/ (the production layout)
	@node hack/build.ts

.PHONY: lint
lint: host-deps node-deps ## Type-check, lint and check formatting; shellcheck the scripts
	@echo "[lint] tsc"; npx tsc -p tsconfig.json
	@echo "[lint] biome"; npx biome ci --colors=off .
	@echo "[lint] shellcheck"; shellcheck -x hack/*.sh .ci/run test/suite.sh test/e2e/kind/run.sh kernel-module/scripts/*.sh
	@echo "[lint] generated CRDs"; node crds/src/manifests/cli.ts --check crds/manifests
	@echo "[lint] generated chart files"; node hack/chart.ts --check
	@echo "[lint] helm lint"; helm lint --strict --kube-version 1.37.2 charts/selective-ksm

.PHONY: format
format: node-deps ## Format and fix what the linter can
	@npx biome check --write .

##@ Tests

.PHONY: test
test: deps lint ## Run every test suite (what CI runs); ends with "tests: N passed, N failed, N skipped"
	@rm -rf $(RESULTS) && mkdir -p $(RESULTS)
	@for flavor in default upstream debug; do \
		started=$$(date +%s); \
		if SKSM_KERNEL_FLAVOR=$${flavor#default} kernel-module/scripts/kernel-build.sh >/dev/null; then \
			touch $(RESULTS)/kernel-$$flavor.built; \
		else echo "[test] the $$flavor kernel did not build: its suites do not run"; fi; \
		echo "[test] kernel $$flavor: $$(($$(date +%s) - started)) s"; \
	done
	@suites=(vitest); \
	test/suite.sh $(RESULTS) vitest vitest.json npx vitest run \
		--project unit --project harness --project apiserver \
		--reporter=default --reporter=json --outputFile.json=$(RESULTS)/vitest.json; \
	for flavor in default upstream debug; do \
		export SKSM_KERNEL_FLAVOR=$${flavor#default}; \
		for suite in $$(kernel-module/scripts/kernel-test.sh --suites); do \
			suites+=(kernel-$$flavor-$$suite); \
			[ -e $(RESULTS)/kernel-$$flavor.built ] || continue; \
			test/suite.sh $(RESULTS) kernel-$$flavor-$$suite kernel-$$flavor-$$suite.tap \
				kernel-module/scripts/kernel-test.sh $$suite; \
		done; \
	done; \
	unset SKSM_KERNEL_FLAVOR; suites+=(e2e); \
	test/suite.sh $(RESULTS) e2e e2e.json npx vitest run --project e2e \
		--reporter=default --reporter=json --outputFile.json=$(RESULTS)/e2e.json; \
	node test/summary.ts $(RESULTS) "$${suites[@]}"

.PHONY: e2e
e2e: deps ## The whole system: control plane and operator here, agent and workloads in a VM
	@npx vitest run --project e2e

.PHONY: test-unit
test-unit: node-deps ## Run the unit tests only (no apiserver)
	@npx vitest run --project unit

##@ Kernel (CONFIG_SELECTIVE_KSM, in a qemu VM)

.PHONY: kernel
kernel: host-deps ## Build (or reuse) the test kernel of KERNEL_FLAVOR; prints the bzImage path
	@kernel-module/scripts/kernel-build.sh

.PHONY: vm-run
vm-run: host-deps ## Run CMD='...' as root in a VM on the patched kernel
	@test -n "$(CMD)" || { echo "usage: make vm-run CMD='command'" >&2; exit 2; }
	@kernel-module/scripts/vm-run.sh "$(CMD)"

.PHONY: kernel-test
kernel-test: host-deps ## Every kernel suite of KERNEL_FLAVOR in the VM, one VM each (TAP; SUITE=partition|stress|upstream|upstream-held for one)
	@mkdir -p $(RESULTS)
	@rc=0; for suite in $(or $(SUITE),$$(kernel-module/scripts/kernel-test.sh --suites)); do \
		kernel-module/scripts/kernel-test.sh $$suite \
			| tee $(RESULTS)/kernel-$(or $(KERNEL_FLAVOR),default)-$$suite.tap || rc=1; \
	done; exit $$rc

##@ Benchmarks (print figures; not part of make test)

.PHONY: bench-operator
bench-operator: deps build ## The compiled operator at 5k, 10k and 20k pods against a real apiserver
	@node test/bench/operator.ts $(SIZES)

.PHONY: bench-agent
bench-agent: node-deps build ## One agent pass over 500 pods / 2,000 processes of fixture /proc: CPU and RSS
	@node test/bench/agent.ts

.PHONY: kernel-bench
kernel-bench: host-deps ## Partition merges vs a hash floor and ksmd, in the VM (ARGS='-p 8 -m 64 -d 0.75')
	@kernel-module/scripts/kernel-bench.sh $(ARGS)

##@ With Docker (not part of make test)

.PHONY: image
image: ## Build the container image (IMAGE=selective-ksm:dev)
	@docker build -t $(or $(IMAGE),selective-ksm:dev) .

.PHONY: e2e-kind
e2e-kind: ## Install the chart on a kind cluster and check it (KEEP=1 keeps the cluster)
	@test/e2e/kind/run.sh

##@ A control plane to try things on

.PHONY: cluster
cluster: deps ## Start etcd + kube-apiserver in the background with the CRDs; writes .local/kubeconfig
	@node test/controlplane/cli.ts up $(LOCAL)

.PHONY: cluster-down
cluster-down: node-deps ## Stop what `make cluster` started
	@node test/controlplane/cli.ts down $(LOCAL)

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*##"} /^##@/ {printf "\n%s\n", substr($$0, 5)} /^[a-z0-9-]+:.*##/ {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
