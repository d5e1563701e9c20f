#!/usr/bin/env bash
# Build a real Kubernetes control plane (kube-apiserver + etcd) from the Go
# module proxy, for controller-runtime envtest (KUBEBUILDER_ASSETS).
#
# Idempotent: if the binaries are already in the cache dir and run, nothing is
# built. Prints the directory holding the binaries (last line of stdout), so:
#
#   export KUBEBUILDER_ASSETS="$(./build-control-plane.sh)"
#
# Environment knobs (all optional):
#   K8S_VERSION      kube-apiserver version      (default 1.37.0)
#   ETCD_VERSION     etcd version                (default 3.7.3)
#   CP_CACHE_NAME    cache sub-directory name    (default envtest-control-plane)
#   CP_ASSETS_DIR    full override of the output dir
#   WITH_KUBECTL=1   also build kubectl of K8S_VERSION into the same dir
#                    (otherwise the kubectl on PATH, if any, is symlinked)
#   WITH_NODE=1      also build kubelet, kube-controller-manager and
#                    kube-scheduler of K8S_VERSION into the same dir, in one
#                    go build (test/cluster's single-node cluster)
#   CP_NICE          nice level for the builds   (default 10)
#   CP_FORCE=1       rebuild even if present
#
# Needs: go (>= the go directive of k8s.io/kubernetes), the Go module proxy.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.0}"
ETCD_VERSION="${ETCD_VERSION:-3.7.3}"
CP_CACHE_NAME="${CP_CACHE_NAME:-flyte-admission-control-plane}"
HOME="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
export HOME
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/${CP_CACHE_NAME}"
ASSETS="${CP_ASSETS_DIR:-${CACHE_ROOT}/k8s-${K8S_VERSION}}"
NICE="${CP_NICE:-10}"
STAGING_VERSION="v0.${K8S_VERSION#1.}" # 1.37.0 -> v0.37.0

# Never let go silently download another toolchain; ignore any go.work and the
# caller's GOFLAGS; -mod=mod lets `go build` fill in go.mod/go.sum of the
# throw-away wrapper modules. CGO off = static binaries, like upstream's.
export GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0

log() { echo "[build-control-plane] $*" >&2; }

have_ok() { # binary name, version grep pattern
  local v # capture first: `| grep -q` + pipefail can fail on SIGPIPE
  [ -x "$ASSETS/$1" ] && v="$("$ASSETS/$1" --version 2>&1)" && [[ "$v" == *"$2"* ]]
}

mkdir -p "$ASSETS" "$CACHE_ROOT"
WORK="${CACHE_ROOT}/build"
mkdir -p "$WORK"

# Serialise concurrent callers (e.g. several test packages) on one lock.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_ROOT/.lock"
  flock 9
fi

# --------------------------------------------------------------------- etcd
build_etcd() {
  local d="$WORK/etcd-${ETCD_VERSION}"
  rm -rf "$d"; mkdir -p "$d"
  cat >"$d/go.mod" <<EOF
module local/etcdbuild

go 1.24

require go.etcd.io/etcd/server/v3 v${ETCD_VERSION}
EOF
  log "building etcd v${ETCD_VERSION} (main package go.etcd.io/etcd/server/v3)"
  local t0=$SECONDS
  # server/v3's root package is 'package main' (server/main.go -> etcdmain.Main).
  (cd "$d" && nice -n "$NICE" go build -trimpath -ldflags "-s -w" \
      -o "$ASSETS/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv -f "$ASSETS/etcd.tmp" "$ASSETS/etcd"
  log "etcd built in $((SECONDS - t0))s"
}

# ----------------------------------------------------------- kube-apiserver
write_k8s_wrapper() { # dir
  local d="$1"
  rm -rf "$d"; mkdir -p "$d"
  # Find k8s.io/kubernetes' own go.mod: its replace block maps every staging
  # module (k8s.io/api, apiserver, client-go, ...) to ./staging/src/...; a
  # consumer has to replace each of them with the published v0.X.Y module.
  local gomod
  gomod="$(cd "$d" && go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [ -f "$gomod" ] || { log "cannot find go.mod of k8s.io/kubernetes@v${K8S_VERSION}"; exit 1; }
  local staging
  staging="$(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$gomod" | sort -u)"
  [ -n "$staging" ] || { log "no staging replaces found in $gomod"; exit 1; }
  {
    echo "module local/k8sbuild"
    echo
    echo "go 1.24"
    echo
    echo "require k8s.io/kubernetes v${K8S_VERSION}"
    echo
    echo "replace ("
    for m in $staging; do echo "	$m => $m ${STAGING_VERSION}"; done
    echo ")"
  } >"$d/go.mod"
  log "wrapper go.mod with $(echo "$staging" | wc -l) staging replaces (${STAGING_VERSION})"
}

k8s_ldflags() {
  local minor="${K8S_VERSION#1.}"; minor="${minor%%.*}"
  local f="-s -w"
  # Same variables hack/lib/version.sh sets (component-base/version/base.go,
  # and client-go's copy).
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X ${pkg}.gitVersion=v${K8S_VERSION}"
    f+=" -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
    f+=" -X ${pkg}.gitTreeState=clean"
    f+=" -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$f"
}

build_k8s() { # cmd name
  local cmd="$1" d="$WORK/k8s-${K8S_VERSION}"
  [ -f "$d/go.mod" ] || write_k8s_wrapper "$d"
  log "building $cmd v${K8S_VERSION}"
  local t0=$SECONDS
  (cd "$d" && nice -n "$NICE" go build -trimpath -ldflags "$(k8s_ldflags)" \
      -o "$ASSETS/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
  mv -f "$ASSETS/$cmd.tmp" "$ASSETS/$cmd"
  log "$cmd built in $((SECONDS - t0))s"
}

# build_k8s_many cmd...: one go build for several commands, so the packages
# they share are compiled once.
build_k8s_many() {
  local d="$WORK/k8s-${K8S_VERSION}" pkgs=() c
  [ -f "$d/go.mod" ] || write_k8s_wrapper "$d"
  for c in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  log "building $* v${K8S_VERSION}"
  local t0=$SECONDS tmp="$ASSETS/.node.tmp"
  rm -rf "$tmp"; mkdir -p "$tmp"
  (cd "$d" && nice -n "$NICE" go build -trimpath -ldflags "$(k8s_ldflags)" -o "$tmp/" "${pkgs[@]}")
  for c in "$@"; do mv -f "$tmp/$c" "$ASSETS/$c"; done
  rmdir "$tmp"
  log "$* built in $((SECONDS - t0))s"
}

if [ "${CP_FORCE:-0}" = 1 ]; then rm -rf "$WORK/k8s-${K8S_VERSION}"; fi

if [ "${CP_FORCE:-0}" != 1 ] && have_ok etcd "etcd Version: ${ETCD_VERSION}"; then
  log "etcd ${ETCD_VERSION} already present"
else
  build_etcd
fi

if [ "${CP_FORCE:-0}" != 1 ] && have_ok kube-apiserver "v${K8S_VERSION}"; then
  log "kube-apiserver ${K8S_VERSION} already present"
else
  rm -rf "$WORK/k8s-${K8S_VERSION}"
  build_k8s kube-apiserver
fi

if [ "${WITH_KUBECTL:-0}" = 1 ]; then
  if [ "${CP_FORCE:-0}" != 1 ] && [ ! -L "$ASSETS/kubectl" ] &&
     have_ok kubectl "v${K8S_VERSION}"; then
    log "kubectl ${K8S_VERSION} already present"
  else
    rm -f "$ASSETS/kubectl"
    build_k8s kubectl
  fi
elif [ ! -e "$ASSETS/kubectl" ] && command -v kubectl >/dev/null 2>&1; then
  ln -sf "$(command -v kubectl)" "$ASSETS/kubectl"
fi

if [ "${WITH_NODE:-0}" = 1 ]; then
  # The node binaries take minutes to build: let callers that need only etcd
  # and kube-apiserver (present by now) go on, and serialise node builds on
  # their own lock.
  if command -v flock >/dev/null 2>&1; then
    exec 9>&- 8>"$CACHE_ROOT/.node.lock"
    flock 8
  fi
  node_missing=()
  for c in kubelet kube-controller-manager kube-scheduler; do
    if [ "${CP_FORCE:-0}" = 1 ] || ! have_ok "$c" "v${K8S_VERSION}"; then node_missing+=("$c"); fi
  done
  if [ ${#node_missing[@]} -gt 0 ]; then
    build_k8s_many "${node_missing[@]}"
  else
    log "kubelet, kube-controller-manager, kube-scheduler ${K8S_VERSION} already present"
  fi
fi

"$ASSETS/etcd" --version 2>&1 | sed -n 1p >&2  # sed, not head: no SIGPIPE under pipefail
"$ASSETS/kube-apiserver" --version >&2
echo "$ASSETS"
