"""The long chaos run: 100 AstraTokens created and some deleted while the
operator is killed at random moments (SIGKILL, some SIGTERM) at least 30
times, with Astra answering some calls with 500/503/429; then the faults stop
and every invariant must hold within 60 s (tests/testplatform/chaos.py says
which). One platform, one run per seed, a line per seed and a summary.

    .venv/bin/python bench/chaos.py [--seeds 1 2 3 ...] [--tokens 100] [--storm-seconds 200]

Exits non-zero when a seed's run did not settle or left a broken invariant;
never on timing."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # testplatform is a test helper package, not installed

import hvac  # noqa: E402
from kubernetes import client as k8s  # noqa: E402
from kubernetes.config import new_client_from_config  # noqa: E402

from astra_token_operator.fake_astra import FakeAstraThread, make_admin_token  # noqa: E402
from testplatform.chaos import ChaosPlan, ChaosResult, ChaosTarget, run_chaos  # noqa: E402
from testplatform.examples import CRDS  # noqa: E402
from testplatform.operator import OperatorProcess, operator_env  # noqa: E402
from testplatform.platform import start_platform  # noqa: E402
from testplatform.waiting import wait_for  # noqa: E402

OPERATOR_NAMESPACE = "astra-token-operator"
ORG_ID = "7e1b2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e"


def say(line: str) -> None:
    print(line, flush=True)


def ready(objects: k8s.CustomObjectsApi, plural: str, name: str) -> bool:
    found = objects.get_cluster_custom_object("astra-tokens.io", "v1alpha1", plural, name)
    return any(c["type"] == "Ready" and c["status"] == "True" for c in found.get("status", {}).get("conditions", []))


def run(args: argparse.Namespace) -> list[ChaosResult]:
    results: list[ChaosResult] = []
    platform = start_platform()
    with contextlib.ExitStack() as stack:
        stack.callback(platform.stop)
        fake = FakeAstraThread({ORG_ID: make_admin_token()})
        fake.start()
        stack.callback(fake.stop)
        env = {"HOME": str(platform.work_dir), **platform.env()}  # kubectl's cache, not in the checkout
        apply = [str(platform.kubectl), f"--kubeconfig={platform.controlplane.kubeconfig}"]
        subprocess.run([*apply, "apply", "-f", str(CRDS)], check=True, capture_output=True, env=env)
        subprocess.run([*apply, "wait", "--for=condition=Established", "crd", "-l",
                        "app.kubernetes.io/name=astra-token-operator", "--timeout=60s"], check=True,
                       capture_output=True, env=env)
        api = new_client_from_config(config_file=str(platform.controlplane.kubeconfig))  # type: ignore[no-untyped-call]
        stack.callback(api.close)
        core, objects = k8s.CoreV1Api(api), k8s.CustomObjectsApi(api)
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=OPERATOR_NAMESPACE)))
        operator = OperatorProcess(verbose=False, log_dir=Path(tempfile.mkdtemp(prefix="astra-bench-chaos-")),
                                   env=operator_env(kubeconfig=platform.controlplane.kubeconfig,
                                                    vault_addr=platform.openbao.addr,
                                                    vault_token=platform.openbao.token,
                                                    operator_namespace=OPERATOR_NAMESPACE,
                                                    extra={"ASTRA_OPERATOR_LOG_FORMAT": "json"}))
        operator.start()
        stack.callback(operator.stop)
        manifests = [
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "chaos-root", "namespace": OPERATOR_NAMESPACE},
             "stringData": {"token": fake.admin_token(ORG_ID)}},
            {"apiVersion": "astra-tokens.io/v1alpha1", "kind": "AstraOrg", "metadata": {"name": "chaos-org"},
             "spec": {"orgId": ORG_ID, "url": fake.url, "allowedNamespaces": ["*"],
                      "rootTokenRef": {"secret": {"namespace": OPERATOR_NAMESPACE, "name": "chaos-root"}},
                      "rateLimit": {"requestsPerSecond": 100, "burst": 200}}},
            {"apiVersion": "astra-tokens.io/v1alpha1", "kind": "AstraRole", "metadata": {"name": "chaos-rw"},
             "spec": {"orgRef": "chaos-org", "astraRoleName": "R/W User", "ttl": "20s", "maxTtl": "45s"}},
        ]
        subprocess.run([*apply, "apply", "-f", "-"], input="\n---\n".join(json.dumps(m) for m in manifests),
                       text=True, check=True, capture_output=True, env=env)
        wait_for(lambda: ready(objects, "astraorgs", "chaos-org"), 60, what="the org Ready")
        wait_for(lambda: ready(objects, "astraroles", "chaos-rw"), 60, what="the role Ready")
        vault = hvac.Client(url=platform.openbao.addr, token=platform.openbao.token)
        for seed in args.seeds:
            namespace = f"chaos-{seed}-{uuid.uuid4().hex[:4]}"
            core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
            if not operator.alive():
                operator.start()
            target = ChaosTarget(api=api, fake=fake, vault=vault, operator=operator, org_name="chaos-org",
                                 org_id=ORG_ID, role="chaos-rw", namespace=namespace, log=say)
            plan = ChaosPlan(seed=seed, tokens=args.tokens, storm_seconds=args.storm_seconds,
                             kill_every=(args.kill_min, args.kill_max))
            result = run_chaos(plan, target)
            results.append(result)
            for problem in result.problems[:20]:
                say(f"  problem: {problem}")
            operator.start()  # clean up the namespace's tokens before the next seed
            core.delete_namespace(namespace)
            # Its AstraTokens hold their logical names until their finalizers have revoked them.
            wait_for(lambda gone=namespace: gone not in {n.metadata.name for n in core.list_namespace().items},
                     300, what=f"namespace {namespace} gone")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(1, 11)))
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--storm-seconds", type=float, default=200.0)
    parser.add_argument("--kill-min", type=float, default=3.0)
    parser.add_argument("--kill-max", type=float, default=9.0)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # SystemExit runs the teardown
    results = run(args)
    say("\n=== chaos summary ===")
    say(f"{'seed':>6} {'tokens':>6} {'deleted':>7} {'SIGKILL':>7} {'SIGTERM':>7} {'settle s':>8} "
        f"{'checks':>6} {'creates':>7} {'revokes':>7} {'problems':>8}")
    for r in results:
        settle = f"{r.settle_seconds:.1f}" if r.settle_seconds is not None else "never"
        say(f"{r.seed:>6} {r.created:>6} {r.deleted:>7} {r.sigkills:>7} {r.sigterms:>7} {settle:>8} "
            f"{r.invariant_checks:>6} {r.mints:>7} {r.revokes:>7} {len(r.problems):>8}")
    failed = [r for r in results if r.problems or r.settle_seconds is None]
    say(f"{len(results) - len(failed)} of {len(results)} seeds held every invariant")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
