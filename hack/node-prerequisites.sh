#!/usr/bin/env bash
# The node tests' Debian packages: runc (the OCI runtime containerd's shim drives),
# buildah (builds the operator's image from the Dockerfile, no daemon) and mmdebstrap
# (the image's Debian base, with Debian's python3). Installs what is missing when run
# as root (as CI does on these machines); otherwise says, in one line, which tests
# will be skipped and why. Never fails the build: the skip reasons are in pytest's summary.
set -uo pipefail

packages=(runc buildah mmdebstrap)
missing=()
for package in "${packages[@]}"; do
  command -v "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && [ "$(id -u)" -eq 0 ] && exit 0

skipped="the node tests (pytest -m node: tests/integration/test_operator_pod.py, test_node.py)"
if [ "$(id -u)" -ne 0 ]; then
  echo "make test: not root, so $skipped will be skipped: the kubelet and containerd need root${missing:+ (missing too: ${missing[*]})}." >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "make test: no apt-get to install ${missing[*]}, so $skipped will be skipped." >&2
  exit 0
fi
echo "make test: installing Debian packages for the node tests: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  echo "make test: apt-get could not install ${missing[*]}, so $skipped will be skipped." >&2
fi
exit 0
