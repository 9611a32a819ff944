#!/usr/bin/env bash
# Builds the control-plane binaries the tests run against (kube-apiserver,
# kube-controller-manager, etcd, kubectl) from Go modules, because no release tarballs
# can be downloaded here. The Kubernetes version follows k8s.io/api in go.mod
# (v0.Y.Z -> v1.Y.Z); etcd follows the version Kubernetes itself requires.
# Binaries are cached outside the repository by version; a warm run prints the
# path in well under a second. Prints the assets directory (KUBEBUILDER_ASSETS).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${CONFLUENCE_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/confluence-operator}

staging_version=${K8S_STAGING_VERSION:-$(awk '$1 == "k8s.io/api" {print $2; exit}' "$root/go.mod")}
[ -n "$staging_version" ] || { echo "envtest-assets: cannot read k8s.io/api version from go.mod" >&2; exit 2; }
k8s_version="v1.${staging_version#v0.}"
assets="$cache/k8s/$k8s_version"

if [ -x "$assets/kube-apiserver" ] && [ -x "$assets/kube-controller-manager" ] && [ -x "$assets/etcd" ] && [ -x "$assets/kubectl" ]; then
  echo "$assets"
  exit 0
fi

log() { echo "envtest-assets: $*" >&2; }
mkdir -p "$assets"
# One build at a time: parallel callers (several test runs, CI and a demo)
# wait for the first build instead of compiling Kubernetes twice.
exec 9>"$assets.lock"
if ! flock -n 9; then
  log "another build of $k8s_version is running; waiting for it"
  flock 9
fi
if [ -x "$assets/kube-apiserver" ] && [ -x "$assets/kube-controller-manager" ] && [ -x "$assets/etcd" ] && [ -x "$assets/kubectl" ]; then
  echo "$assets"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0

if [ ! -x "$assets/kube-apiserver" ] || [ ! -x "$assets/kube-controller-manager" ]; then
  log "building kube-apiserver and kube-controller-manager $k8s_version from Go modules (about 12 minutes cold on 2 cores)"
  mkdir -p "$work/k8s"
  cd "$work/k8s"
  go mod init confluence-operator.dev/envtest-k8s >/dev/null 2>&1
  go mod edit -require="k8s.io/kubernetes@$k8s_version"
  # Kubernetes' own go.mod points every staging module at ./staging; a
  # consumer has to point them at the published v0.Y.Z modules instead.
  go mod download -json "k8s.io/kubernetes@$k8s_version" >"$work/k8s.json"
  gomod=$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' "$work/k8s.json")
  for mod in $(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$gomod"); do
    go mod edit -replace="$mod=$mod@$staging_version"
  done
  cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
  go mod tidy >&2
  go build -trimpath -ldflags="-s -w" -o "$work/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  go build -trimpath -ldflags="-s -w" -o "$work/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager
  mv "$work/kube-apiserver" "$work/kube-controller-manager" "$assets/"
  etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2; exit}' "$gomod")
  echo "$etcd_version" >"$assets/etcd.version"
fi

if [ ! -x "$assets/kubectl" ]; then
  # A kubectl of the same version, so tests and the demo never depend on what the machine has.
  log "building kubectl $k8s_version from Go modules"
  mkdir -p "$work/kubectl"
  cd "$work/kubectl"
  go mod init confluence-operator.dev/envtest-kubectl >/dev/null 2>&1
  go mod edit -require="k8s.io/kubectl@$staging_version"
  cat >main.go <<'GO'
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
)

func main() { os.Exit(cli.Run(cmd.NewDefaultKubectlCommand())) }
GO
  go mod tidy >&2
  go build -trimpath -ldflags="-s -w" -o "$work/kubectl-bin" .
  mv "$work/kubectl-bin" "$assets/kubectl"
fi

if [ ! -x "$assets/etcd" ]; then
  etcd_version=$(cat "$assets/etcd.version" 2>/dev/null || echo "${ETCD_VERSION:-v3.6.16}")
  log "building etcd $etcd_version from Go modules"
  mkdir -p "$work/etcd"
  cd "$work/etcd"
  go mod init confluence-operator.dev/envtest-etcd >/dev/null 2>&1
  go mod edit -require="go.etcd.io/etcd/server/v3@$etcd_version"
  cat >tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  go mod tidy >&2
  go build -trimpath -ldflags="-s -w" -o "$work/etcd-bin" go.etcd.io/etcd/server/v3
  mv "$work/etcd-bin" "$assets/etcd"
fi

echo "$assets"
