#!/usr/bin/env bash
# Runs the product locally (`make demo`): a Kubernetes control plane built
# from Go modules, the operator, a fake Confluence Cloud, a real single-node
# OpenSearch (hack/opensearch.sh; OPENSEARCH_URL uses another cluster), one
# ConfluenceDataSource and two searches as different users.
# Everything listens on 127.0.0.1 and is removed on exit.
#
#   hack/demo.sh           run it and exit
#   hack/demo.sh --keep    keep it running until Ctrl-C (also DEMO_KEEP=1)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# kube-apiserver, etcd, kube-controller-manager and kubectl (built once, cached).
KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh)
export KUBEBUILDER_ASSETS

# `make demo` has just built bin/confluence-operator; run directly, build it here.
if [ -z "${MAKELEVEL:-}" ]; then
  make -s build
fi

exec hack/opensearch.sh run -- go run ./test/e2e/demo --binary "$root/bin/confluence-operator" "$@"
