#!/usr/bin/env bash
# Builds the krew archive for THIS machine's os/arch and python3 minor version (dependencies such
# as pydantic-core and cryptography are native code, so an archive serves one platform and one
# Python minor version), and prints its sha256 for hack/krew/render.sh.
#   hack/krew/build-archive.sh [OUT_DIR]     -> OUT_DIR/kubectl-astra-<version>-<os>-<arch>.tar.gz
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-dist/krew}
version=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')
os=$(uname -s | tr '[:upper:]' '[:lower:]')
arch=$(uname -m); arch=${arch/x86_64/amd64}; arch=${arch/aarch64/arm64}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
python3 -m pip install --quiet --target "$stage/lib" .
install -m 0755 hack/krew/launcher.sh "$stage/kubectl-astra"
install -m 0755 hack/krew/launcher.sh "$stage/kubectl_complete-astra"
mkdir -p "$out"
archive="$out/kubectl-astra-$version-$os-$arch.tar.gz"
tar -C "$stage" -czf "$archive" kubectl-astra kubectl_complete-astra lib
echo "$archive $(sha256sum "$archive" | cut -d' ' -f1)"
