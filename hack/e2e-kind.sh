#!/usr/bin/env bash
# `make e2e-kind`: the integration suite against a kind cluster instead of the
# built-in control plane. OpenBao, the fake Astra and the operator run on the
# host, as in `make test`. Needs a working Docker engine and the kind binary.
#
# The in-cluster tests (pytest -m node: the operator as the chart's pod, pods
# mounting its Secrets) are skipped here, with the reason in pytest's summary:
# kind's pods cannot reach OpenBao and the fake Astra on this machine's
# loopback. `make test` runs them on the suite's own node. Never run on the
# machines this project is developed on (no Docker engine with images, no kind).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v kind >/dev/null 2>&1; then
  echo "make e2e-kind: the 'kind' command is not installed; install kind (https://kind.sigs.k8s.io) or use 'make test'." >&2
  exit 2
fi
if ! docker info >/dev/null 2>&1; then
  echo "make e2e-kind: no Docker engine answers 'docker info'; kind needs one. Use 'make test' on this machine." >&2
  exit 2
fi

cluster=astra-token-operator-e2e
kubeconfig=$(mktemp)
trap 'kind delete cluster --name "$cluster" >/dev/null 2>&1 || true; rm -f "$kubeconfig"' EXIT
kind create cluster --name "$cluster" --kubeconfig "$kubeconfig" --wait 120s
# The apiserver inside the kind container reaches the host (the operator's
# admission webhook) through the Docker bridge gateway.
gateway=$(docker network inspect kind -f '{{(index .IPAM.Config 0).Gateway}}')
ASTRA_E2E_KUBECONFIG="$kubeconfig" ASTRA_E2E_WEBHOOK_HOST="$gateway" \
  .venv/bin/pytest -m integration "$@"
