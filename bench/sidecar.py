"""Benchmark: sidecar mode under a burst of labelled pods, on the real platform
(control plane + OpenBao) with the fake Astra DevOps API.

    .venv/bin/python bench/sidecar.py [--pods 200]

First the floor, in the same run on the same operator: N AstraTokens applied at
once (standard mode), apply -> Ready. Then N labelled pods created at once (they
stay Pending: no scheduler serves them; what matters is their Secret), pod create ->
the pod's AstraToken Ready (its Secret published), as figures and as ratios to
the floor; the Astra, Vault and Kubernetes calls per pod; the operator's RSS and
CPU; how closely the Secrets followed the pods' creation order; and, after the
pods are deleted, the seconds until every pod's token is revoked at the fake and
the count of valid tokens left (which must be 0). Exits non-zero when a check
fails; the platform is always torn down."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from collections import Counter
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.config import new_client_from_config
from lifecycle import (
    OPERATOR_NAMESPACE,
    ORG,
    ROLE,
    Bench,
    BenchFailure,
    Window,
    create_namespace,
    exit_status,
    in_parallel,
    kubectl,
    mib,
    percentile,
    print_breakdown,
    print_webhooks,
    running_platform,
    say,
    token_body,
    wait_ready_cluster_object,
)
from probes import reset_peak_rss
from token_watch import GROUP, PLURAL, VERSION, TokenWatch

from testplatform.kube import wait_for_namespace_gone

SIDECAR_ORG_ID = "5e1f3a7c-9b2d-4c6e-8f0a-1b3d5f7a9c2e"
SIDECAR_ORG, SIDECAR_ROLE, SIDECAR_ROOT = "bench-sidecar", "bench-sidecar-rw", "bench-sidecar-root-token"
PODS, TOKENS = "pods", "astratokens"


def sidecar_manifests(bench: Bench) -> list[dict[str, Any]]:
    bench.fake.add_org(SIDECAR_ORG_ID)
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SIDECAR_ROOT, "namespace": OPERATOR_NAMESPACE},
         "stringData": {"token": bench.fake.admin_token(SIDECAR_ORG_ID)}},
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AstraOrg", "metadata": {"name": SIDECAR_ORG},
         "spec": {"orgId": SIDECAR_ORG_ID, "url": bench.fake.url, "allowedNamespaces": ["*"], "callerMode": "sidecar",
                  "rootTokenRef": {"secret": {"namespace": OPERATOR_NAMESPACE, "name": SIDECAR_ROOT}}}},
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AstraRole", "metadata": {"name": SIDECAR_ROLE},
         "spec": {"orgRef": SIDECAR_ORG, "astraRoleName": "R/W User", "ttl": "1h", "maxTtl": "24h"}},
    ]


def pod_body(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"astra-tokens.io/inject": "true"},
                         "annotations": {"astra-tokens.io/role": SIDECAR_ROLE}},
            # No scheduler serves this name: the pod stays Pending and nothing else writes to it.
            "spec": {"schedulerName": "bench-unscheduled",
                     "containers": [{"name": "app", "image": "registry.example.com/app:1"}]}}


def counted_for_operator(key: str) -> bool:
    """An apiserver_request_total key ('VERB resource [code]') put down to the operator: its own
    AstraToken creates and deletes count here (in sidecar mode the operator makes them), the
    benchmark's pod creates and deletes do not, nor lists, watches and controllers' kinds."""
    verb, resource = key.split(" ")[:2]
    if verb in ("LIST", "WATCH") or resource in ("(non-resource)", "secrets", "leases", "serviceaccounts",
                                                   "configmaps", "namespaces"):
        return False
    return not (resource == PODS and verb in ("POST", "DELETE")) and not (resource == TOKENS and verb == "GET")


def kube_operator(window: Window) -> Counter[str]:
    return Counter({k: n for k, n in window.apiserver.items() if counted_for_operator(k)})


def kube_total(window: Window) -> int:
    return sum(window.operator_secrets.values()) + sum(kube_operator(window).values())


def rank_correlation(first: list[float], second: list[float]) -> float:
    """Spearman's rho of two equally long series (1.0: the same order)."""
    def ranks(values: list[float]) -> list[float]:
        order = sorted(range(len(values)), key=values.__getitem__)
        result = [0.0] * len(values)
        for rank, index in enumerate(order):
            result[index] = float(rank)
        return result

    a, b = ranks(first), ranks(second)
    n = len(a)
    if n < 2:
        return 1.0
    return 1 - 6 * sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) / (n * (n * n - 1))


def floor(bench: Bench, n: int, namespace: str) -> tuple[float, float]:
    """apply -> Ready p50 and p99 of n AstraTokens in standard mode."""
    create_namespace(bench.api, namespace)
    watch_api = new_client_from_config(config_file=str(bench.platform.controlplane.kubeconfig))  # type: ignore[no-untyped-call]
    watch = TokenWatch(watch_api, namespace)
    watch.start()
    names = [f"floor-{i:04d}" for i in range(n)]
    try:
        say(f"\n=== floor: {n} AstraTokens applied at once (standard mode) ===")
        objects = bench.objects
        created = in_parallel(bench.args.apply_workers, names, lambda name: objects.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, token_body(name, namespace)))
        if not watch.wait(lambda: len(set(names) & watch.ready_at.keys()) == n, bench.args.timeout):
            raise BenchFailure(f"floor: only {watch.count_ready(set(names))} of {n} AstraTokens Ready")
        latencies = [watch.ready_at[name] - created[name] for name in names]
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        say(f"  create->Ready per token: p50 {p50:.2f} s, p99 {p99:.2f} s")
    finally:
        watch.stop()
        watch_api.close()
    delete_namespace(bench.api, namespace)
    return p50, p99


def delete_namespace(api: k8s.ApiClient, namespace: str) -> None:
    with contextlib.suppress(ApiException):
        k8s.CoreV1Api(api).delete_namespace(namespace)
    try:
        wait_for_namespace_gone(api, namespace, timeout=180)
    except TimeoutError as exc:
        say(f"note: {exc}")


def valid_pod_tokens(bench: Bench) -> int:
    return sum(1 for t in bench.fake.tokens(SIDECAR_ORG_ID) if not t.is_admin and t.state == "valid")


def burst(bench: Bench, n: int, namespace: str, floor_p50: float, floor_p99: float) -> None:
    core = k8s.CoreV1Api(bench.api)
    create_namespace(bench.api, namespace)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # pods need the namespace's default ServiceAccount
        try:
            core.read_namespaced_service_account("default", namespace)
            break
        except ApiException:
            time.sleep(0.2)
    watch_api = new_client_from_config(config_file=str(bench.platform.controlplane.kubeconfig))  # type: ignore[no-untyped-call]
    watch = TokenWatch(watch_api, namespace)
    watch.start()
    names = [f"pod-{i:04d}" for i in range(n)]
    secrets: dict[str, str] = {}
    try:
        say(f"\n=== {n} labelled pods created at once (sidecar mode) ===")
        reset_peak_rss(bench.pid)
        before = bench.snapshot()

        def create(name: str) -> None:
            made = core.create_namespaced_pod(namespace, pod_body(name))
            secrets[name] = made.metadata.annotations["astra-tokens.io/secret"]

        started = time.monotonic()
        created = in_parallel(bench.args.apply_workers, names, create)
        say(f"  created all {n} pods in {max(created.values()) - started:.1f} s")
        wanted = set(secrets.values())
        if not watch.wait(lambda: len(wanted & watch.ready_at.keys()) == n, bench.args.timeout):
            raise BenchFailure(f"only {watch.count_ready(wanted)} of {n} pods' AstraTokens Ready "
                               f"after {bench.args.timeout:.0f} s")
        latencies = [watch.ready_at[secrets[name]] - created[name] for name in names]
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        rho = rank_correlation([created[name] for name in names], [watch.ready_at[secrets[name]] for name in names])
        time.sleep(bench.args.settle_seconds)
        ramp = bench.window(before, bench.snapshot())
        say(f"  all Secrets ready {max(watch.ready_at[s] for s in wanted) - started:.1f} s after the first create")
        say(f"  pod create->Secret ready: p50 {p50:.2f} s, p99 {p99:.2f} s"
            f"   (floor p50 {floor_p50:.2f} s, p99 {floor_p99:.2f} s: x{p50 / floor_p50:.2f} / x{p99 / floor_p99:.2f})")
        say(f"  Secrets in the pods' creation order: Spearman rho {rho:.2f}")
        say(f"  operator CPU {ramp.operator_cpu:.1f} s; RSS {mib(ramp.rss_kib)}, peak {mib(ramp.peak_rss_kib)}")
        say(f"  per pod: Astra calls {ramp.astra_total / n:.2f} (creates {ramp.creates / n:.2f}), "
            f"Vault calls {ramp.vault_total / n:.2f}, Kubernetes calls {kube_total(ramp) / n:.2f} "
            f"(Secrets {sum(ramp.operator_secrets.values()) / n:.2f})")
        print_breakdown("operator Kubernetes requests per pod besides Secrets", kube_operator(ramp),
                        lambda count: f"{count / n:.2f}")
        print_breakdown("Vault requests per pod", ramp.vault, lambda count: f"{count / n:.2f}")
        print_webhooks(ramp)
        bench.check(ramp.creates == n, f"{ramp.creates} Astra creates for {n} pods")
        valid = valid_pod_tokens(bench)
        bench.check(valid == n, f"the fake holds {valid} valid pod tokens for {n} pods")
        bench.check(len({t["status"]["clientId"] for t in watch.present.values()}) == n, "two pods share a token")

        say(f"\n--- deleting the {n} pods ---")
        deleting = time.monotonic()
        in_parallel(bench.args.apply_workers, names,
                    lambda name: core.delete_namespaced_pod(name, namespace, grace_period_seconds=0))
        deadline = deleting + bench.args.timeout
        while valid_pod_tokens(bench) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = valid_pod_tokens(bench)
        say(f"  every pod's token revoked at the fake {time.monotonic() - deleting:.1f} s after the first delete; "
            f"valid tokens left: {left}")
        bench.check(left == 0, f"{left} pod tokens still valid at the fake after the pods were deleted")
        errors = sum(k for key, k in ramp.problems.items() if not key.startswith("WARNING"))
        bench.check(errors == 0, f"{errors} ERROR lines in the operator's log during the burst")
    finally:
        watch.stop()
        watch_api.close()
    delete_namespace(bench.api, namespace)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pods", type=int, default=200, help="labelled pods created at once (default 200)")
    parser.add_argument("--apply-workers", type=int, default=8, help="parallel create/delete requests (default 8)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each phase (default 300)")
    parser.add_argument("--settle-seconds", type=float, default=5.0,
                        help="wait after the last Secret before closing the window (default 5)")
    # What lifecycle.running_platform reads.
    parser.set_defaults(no_webhooks=False, drift_check_seconds=None, astra_rate_limit=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    failures: list[str] = []
    try:
        with running_platform(args) as bench:
            kubectl(bench.platform, "apply", "-f", "-",
                    stdin="\n---\n".join(json.dumps(m) for m in sidecar_manifests(bench)))
            wait_ready_cluster_object(bench.objects, "astraorgs", SIDECAR_ORG, 60)
            wait_ready_cluster_object(bench.objects, "astraroles", SIDECAR_ROLE, 60)
            say(f"orgs: {ORG}/{ROLE} (standard, the floor), {SIDECAR_ORG}/{SIDECAR_ROLE} (sidecar); "
                "Astra rate limit: the operator's default (10/s, burst 20) per org")
            try:
                floor_p50, floor_p99 = floor(bench, args.pods, "bench-floor")
                burst(bench, args.pods, "bench-sidecar", floor_p50, floor_p99)
            finally:
                failures = bench.failures
    except BenchFailure as failure:
        failures.append(str(failure))
        say(f"FAILED: {failure}")
    return exit_status(failures)


if __name__ == "__main__":
    sys.exit(main())
