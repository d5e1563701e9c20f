#!/usr/bin/env bash
# Makes the module replacements the Flyte baseline needs and the module proxy
# cannot serve as Flyte 1.16.8 names them: flyteplugins requires a
# pre-release pseudo-version of github.com/kubeflow/spark-operator (not served
# here); its packages api/v1beta2 and pkg/common are taken from the served
# github.com/kubeflow/spark-operator/v2 (the module flyte-admission itself
# uses), under the old module path, into .shim/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")"
dir=.shim/spark-operator
[ -f "$dir/go.mod" ] && exit 0
# go mod download also fetches it on a machine whose module cache lacks it.
src="$(cd ../../.. && go mod download -json github.com/kubeflow/spark-operator/v2 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ -z "$src" ] || [ ! -f "$src/go.mod" ]; then
  echo "shim.sh: github.com/kubeflow/spark-operator/v2 not found in the module cache" >&2
  exit 1
fi
mkdir -p .shim
rm -rf "$dir.tmp" && cp -r "$src" "$dir.tmp" && chmod -R u+w "$dir.tmp"
sed -i '1s#.*#module github.com/kubeflow/spark-operator#' "$dir.tmp/go.mod"
mv "$dir.tmp" "$dir"
