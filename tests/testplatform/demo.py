"""`make demo`: the control plane, OpenBao, the fake Astra (or the real one),
the operator and the examples, until Ctrl-C.

With ASTRA_ORG_ID and ASTRA_TOKEN (and optionally ASTRA_URL) set, the real
Astra DevOps API is used instead of the fake; the sidecar example needs a second
organization (ASTRA_SIDECAR_ORG_ID, ASTRA_SIDECAR_TOKEN) and is skipped without."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from testplatform.examples import CRDS, rendered_examples
from testplatform.operator import OperatorProcess, operator_env
from testplatform.platform import Platform, start_platform

OPERATOR_NAMESPACE = "astra-token-operator"
DEMO_RESOURCES = [("astraorgs", "demo", None), ("astraroles", "app-rw", None), ("astraroles", "reporting-ro", None),
                  ("astratokens", "orders-api", "team-a"), ("astratokens", "nightly-report", "team-b")]

Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


SIDECAR_EXAMPLE = "60-sidecar.yaml"
SIDECAR_POD = ("inventory-worker", "team-a")


@dataclass(frozen=True)
class AstraTarget:
    org_id: str
    token: str
    url: str
    sidecar_org_id: str | None = None  # a second org, in sidecar mode (one AstraOrg per Astra org)
    sidecar_token: str | None = None


def apply_crds(kubectl: Kubectl) -> None:
    _check(kubectl("apply", "-f", str(CRDS)))
    _check(kubectl("wait", "--for=condition=Established", "crd", "-l", "app.kubernetes.io/name=astra-token-operator",
                   "--timeout=60s"))


def apply_examples(kubectl: Kubectl, target: AstraTarget) -> None:
    values = {"ASTRA_ORG_ID": target.org_id, "ASTRA_TOKEN": target.token, "ASTRA_URL": target.url}
    if target.sidecar_org_id and target.sidecar_token:
        values |= {"ASTRA_SIDECAR_ORG_ID": target.sidecar_org_id, "ASTRA_SIDECAR_TOKEN": target.sidecar_token}
    for name, manifest in rendered_examples(values, skip_missing=True):
        result = kubectl("apply", "-f", "-", input=manifest)
        if result.returncode != 0:
            raise RuntimeError(f"kubectl apply {name} failed: {result.stderr.strip()}")


def wait_examples_ready(kubectl: Kubectl, timeout: float = 60, sidecar: bool = True) -> None:
    waits = [[f"{plural}/{name}", *(["-n", namespace] if namespace else [])]
             for plural, name, namespace in DEMO_RESOURCES]
    if sidecar:  # the pod's own AstraToken, found by its pod label
        pod, namespace = SIDECAR_POD
        waits += [["astraorgs/demo-sidecar"], ["astraroles/sidecar-rw"],
                  ["astratokens", "-n", namespace, "-l", f"astra-tokens.io/pod={pod}"]]
    for what in waits:
        _check(kubectl("wait", *what, "--for=condition=Ready", f"--timeout={int(timeout)}s", timeout=timeout + 10))


def overview(kubectl: Kubectl) -> str:
    return kubectl("get", "astra", "-A").stdout


def _check(result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip() or result.stdout.strip())


def _kubectl_for(platform: Platform) -> Kubectl:
    def run(*args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(platform.kubectl), f"--kubeconfig={platform.controlplane.kubeconfig}", *args],
                              input=input, capture_output=True, text=True, timeout=timeout, check=False)

    return run


def main() -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print("starting the control plane and OpenBao (the first run builds the control plane)...", flush=True)
    platform = start_platform()
    fake = None
    operator = None
    try:
        if os.environ.get("ASTRA_ORG_ID") and os.environ.get("ASTRA_TOKEN"):
            target = AstraTarget(os.environ["ASTRA_ORG_ID"], os.environ["ASTRA_TOKEN"],
                                 os.environ.get("ASTRA_URL", "https://api.astra.datastax.com"),
                                 os.environ.get("ASTRA_SIDECAR_ORG_ID"), os.environ.get("ASTRA_SIDECAR_TOKEN"))
            print(f"using the real Astra DevOps API at {target.url}", flush=True)
            if not target.sidecar_org_id:
                print(f"no ASTRA_SIDECAR_ORG_ID/ASTRA_SIDECAR_TOKEN: skipping examples/{SIDECAR_EXAMPLE}", flush=True)
        else:
            from astra_token_operator.fake_astra import FakeAstraThread, make_admin_token

            org_id, sidecar_org_id = str(uuid.uuid4()), str(uuid.uuid4())
            fake = FakeAstraThread({org_id: make_admin_token(), sidecar_org_id: make_admin_token()})
            fake.start()
            target = AstraTarget(org_id, fake.admin_token(org_id), fake.url, sidecar_org_id,
                                 fake.admin_token(sidecar_org_id))
            print(f"using the fake Astra DevOps API at {fake.url} (orgs {org_id}, {sidecar_org_id})", flush=True)
        kubectl = _kubectl_for(platform)
        apply_crds(kubectl)
        operator = OperatorProcess(
            log_dir=platform.work_dir,
            env=operator_env(kubeconfig=platform.controlplane.kubeconfig, vault_addr=platform.openbao.addr,
                             vault_token=platform.openbao.token, operator_namespace=OPERATOR_NAMESPACE),
        )
        operator.start()
        apply_examples(kubectl, target)
        wait_examples_ready(kubectl, sidecar=bool(target.sidecar_org_id and target.sidecar_token))
        print("\n" + overview(kubectl))
        print("# the demo is up; in another shell:")
        for key, value in platform.env().items():
            print(f"export {key}='{value}'")
        print(f"# operator log: {operator.logs[-1]}")
        print("# try: kubectl get astratokens -A; kubectl -n team-a get secret orders-api-astra -o yaml;")
        print("#      kubectl annotate astratoken -n team-a orders-api astra-tokens.io/renew=2h")
        print("#      kubectl -n team-a get astratokens -l astra-tokens.io/pod=inventory-worker   # sidecar mode")
        print("# Ctrl-C stops everything.", flush=True)
        while not stop.wait(1.0):
            if not operator.alive():
                print(f"the operator exited; see {operator.logs[-1]}", file=sys.stderr)
                return 1
        return 0
    finally:
        print("\nstopping...", file=sys.stderr, flush=True)
        if operator is not None:
            operator.stop()
        if fake is not None:
            fake.stop()
        platform.stop()


if __name__ == "__main__":
    raise SystemExit(main())

