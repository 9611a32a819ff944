# confluence-operator
#
#   make demo   run the whole product locally on the embedded defaults
#   make test   unit, envtest and end-to-end tests, on a real OpenSearch

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

IMG ?= ghcr.io/confluence-operator/confluence-operator:latest
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/confluence-operator
TOOLS := $(CACHE)/bin

CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
CONTROLLER_GEN := $(TOOLS)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT := $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION)

GO_TEST_FLAGS ?=

.PHONY: all
all: build

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD (the manager's role, config/rbac/role.yaml, is hand-written: each rule says why).
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: generate manifests ## Fail if generated files are stale.
	@git diff --exit-code -- api config || { echo "generated files are stale: run 'make generate manifests' and commit"; exit 1; }

##@ Test

.PHONY: envtest-assets
envtest-assets: ## Build (once) and print the kube-apiserver/etcd/kube-controller-manager directory.
	@hack/envtest-assets.sh

# The tests run on one real single-node OpenSearch that hack/opensearch.sh
# starts for the whole run (OPENSEARCH_VERSION picks the release) and stops at
# the end; OPENSEARCH_URL points them at another cluster instead.
.PHONY: test
# The crawler and the controller run goroutines against shared state
# (progress reporting, bulk indexing, worker pools, the sync limiter), so
# their packages run under the race detector; the rest (API admission,
# end-to-end suites) runs plain, on the same OpenSearch node.
RACE_PKGS = ./crawler/... ./controllers/...

test: vet ## Run unit, envtest (crawler and controller with -race) and end-to-end tests on a real OpenSearch.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" hack/opensearch.sh run -- bash -c '\
	  go test -race $(GO_TEST_FLAGS) $(RACE_PKGS) && \
	  go test $(GO_TEST_FLAGS) $$(go list ./... | grep -vxF -f <(go list $(RACE_PKGS)))'

# The OpenSearch package tests, and the crawl tests of ingest pipelines: of
# the nodes hack/opensearch.sh builds only 2.19.6 has ingest processors
# (ingest-common is not on Maven Central for 3.9.0), and CI runs this target
# on 2.19.6.
.PHONY: test-opensearch
test-opensearch: ## Run the OpenSearch package tests on a real OpenSearch (OPENSEARCH_VERSION=2.19.6 for the 2.x pin).
	hack/opensearch.sh run -- bash -c '\
	  go test $(GO_TEST_FLAGS) ./crawler/opensearch/... ./crawler/searchcli/... ./test/fakeopensearch/... && \
	  go test -run IngestPipeline $(GO_TEST_FLAGS) ./crawler/crawl'

.PHONY: opensearch
opensearch: ## Start a local OpenSearch in the background and print its URL (hack/opensearch.sh stop ends it).
	@hack/opensearch.sh start

# The crawler benchmarks use the OpenSearch double (or OPENSEARCH_URL); the
# OpenSearch package's benchmarks run on the double and on a real node that
# hack/opensearch.sh starts, side by side.
.PHONY: bench
bench: ## Run the benchmarks recorded in docs/benchmarks.md.
	go test -run '^$$' -bench . -benchmem -timeout 60m $$(go list ./crawler/... | grep -v '/crawler/opensearch$$')
	OPENSEARCH_JAVA_OPTS= hack/opensearch.sh run -- go test -run '^$$' -bench . -benchmem -timeout 60m ./crawler/opensearch/

##@ Build

.PHONY: build
build: ## Build bin/confluence-operator.
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/confluence-operator .

.PHONY: demo
demo: build ## Run the product locally: control plane, fake Confluence, search backend, a data source, two searches.
	hack/demo.sh

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build --build-arg VERSION=$(VERSION) -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the container image.
	docker push $(IMG)

##@ Deploy

.PHONY: install
install: ## Install the CRD into the cluster of the current kubeconfig.
	kubectl apply --server-side -k config/crd

.PHONY: deploy
deploy: ## Deploy the operator into the cluster of the current kubeconfig.
	cd config/manager && kubectl kustomize . >/dev/null
	kubectl kustomize config/default | sed 's|controller:latest|$(IMG)|g' | kubectl apply --server-side -f -

.PHONY: build-installer
build-installer: ## Write dist/install.yaml, one file with everything needed to install the operator.
	mkdir -p dist
	kubectl kustomize config/default | sed 's|controller:latest|$(IMG)|g' > dist/install.yaml

##@ Tools

$(CONTROLLER_GEN):
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS)/tmp go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(TOOLS)/tmp/controller-gen $@

$(GOLANGCI_LINT):
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS)/tmp go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(TOOLS)/tmp/golangci-lint $@

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
