"""Benchmark: the operator under N AstraTokens applied at once, at rest, and
while they are all deleted, on the real platform (control plane + OpenBao)
with the fake Astra DevOps API.

    .venv/bin/python bench/lifecycle.py [--tokens 100 1000] [--idle-seconds 60]

For each N: a fresh namespace gets N AstraTokens (created in parallel through
the Kubernetes API; the clock starts when the first create is sent), then
the benchmark prints the seconds until all are Ready, per-token latencies,
the operator's CPU and memory, and the Astra, Vault and Kubernetes calls per
token; it idles and prints calls per minute at rest, including the org's sweeps
against Astra's token list (one list call and no Vault read each); it deletes the tokens and
prints the same for the deletion. A table sums up at the end. Exits non-zero
when something failed (not all Ready or gone in time, a token minted or
revoked other than once, the operator died or logged errors); the platform is
always torn down. bench/README.md says what each figure means."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # testplatform is a test helper package, not installed

from kubernetes import client as k8s  # noqa: E402
from kubernetes.client.exceptions import ApiException  # noqa: E402
from kubernetes.config import new_client_from_config  # noqa: E402
from probes import (  # noqa: E402
    ApiserverCounts,
    ProcessUsage,
    apiserver_counts,
    astra_requests,
    complete_size,
    count_lines,
    difference,
    endpoint_total,
    group_cpu_seconds,
    process_usage,
    reset_peak_rss,
    secret_request_key,
    vault_error_key,
    vault_request_key,
)
from token_watch import GROUP, PLURAL, VERSION, TokenWatch, ready_condition  # noqa: E402

from astra_token_operator.config import OperatorConfig  # noqa: E402
from astra_token_operator.fake_astra import FakeAstraThread, make_admin_token  # noqa: E402
from testplatform.examples import CRDS  # noqa: E402
from testplatform.kube import wait_for_namespace_gone  # noqa: E402
from testplatform.operator import OperatorProcess, operator_env  # noqa: E402

DEFAULT_DRIFT_CHECK = OperatorConfig.model_fields["drift_check_interval_seconds"].default
from testplatform.platform import Platform, start_platform  # noqa: E402

OPERATOR_NAMESPACE = "astra-token-operator"
ORG_ID = "0d3c1a52-7f3e-4b8e-9a51-3c2b1e0f4a77"
ORG, ROLE, ROOT_SECRET = "bench-org", "bench-rw", "bench-org-root-token"
CREATE = "POST /v2/clientIdSecrets"
CREATE_ALIAS = "POST /v2/tokens"
REVOKE = "DELETE /v2/clientIdSecrets/{clientId}"
LIST = "GET /v2/clientIdSecrets"
CONTROLLER_RESOURCES = {"secrets", "leases", "serviceaccounts", "configmaps"}


def counted_for_operator(key: str) -> bool:
    """Whether an apiserver_request_total key ('VERB resource [code]') is put down
    to the operator. The counter has no user label, so these are set aside:
    list and watch requests (the controller-manager watches every kind and a
    watch is only counted when it ends); the benchmark's own create, delete and
    get of AstraTokens (the garbage collector also GETs the owners of new
    Secrets until it watches the new kind; the operator GETs an AstraToken only
    in its 5-minute orphan-intent sweep); discovery and other non-resource
    paths; kinds only controllers touch; and Secrets, which the audit log
    counts by user instead."""
    verb, resource = key.split(" ")[:2]
    if verb in ("LIST", "WATCH") or resource == "(non-resource)" or resource in CONTROLLER_RESOURCES:
        return False
    return not (resource == "astratokens" and verb in ("POST", "DELETE", "GET"))


class BenchFailure(Exception):
    """Something the benchmark cannot accept: it is reported and the exit code is 1."""


def say(line: str = "") -> None:
    print(line, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p99 of 100 samples is the 99th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


def operator_problem_key(entry: dict[str, Any]) -> str | None:
    """WARNING and worse lines of the operator's JSON log, with numbers folded
    so that a thousand tokens' lines group together."""
    level = str(entry.get("severity") or entry.get("levelname") or entry.get("level") or "").upper()
    if level not in ("WARNING", "ERROR", "CRITICAL"):
        return None
    message = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "<uuid>", str(entry.get("message", "")))
    return f"{level}: {re.sub(r'[0-9]+', '#', message)[:160]}"


# ------------------------------------------------------------------ snapshots


@dataclass(frozen=True)
class Snapshot:
    at: float
    operator: ProcessUsage
    controlplane_cpu: float
    openbao_cpu: float
    astra: Counter[str]
    apiserver: ApiserverCounts
    vault_offset: int
    secrets_offset: int
    log_offset: int


@dataclass(frozen=True)
class Window:
    """What happened between two snapshots."""

    seconds: float
    operator_cpu: float
    controlplane_cpu: float
    openbao_cpu: float
    rss_kib: int
    peak_rss_kib: int
    astra: Counter[str]
    apiserver: Counter[str]
    webhook_calls: Counter[str]
    webhook_seconds: dict[str, float]
    vault: Counter[str]
    vault_errors: Counter[str]
    secrets: Counter[str]
    problems: Counter[str]

    @property
    def astra_total(self) -> int:
        return sum(self.astra.values())

    @property
    def creates(self) -> int:
        """Tokens Astra created (2xx answers)."""
        return (endpoint_total(self.astra, CREATE, succeeded=True)
                + endpoint_total(self.astra, CREATE_ALIAS, succeeded=True))

    @property
    def create_requests(self) -> int:
        return endpoint_total(self.astra, CREATE) + endpoint_total(self.astra, CREATE_ALIAS)

    @property
    def revokes(self) -> int:
        """Tokens Astra revoked (2xx answers; a 404 means it was already gone)."""
        return endpoint_total(self.astra, REVOKE, succeeded=True)

    @property
    def revoke_requests(self) -> int:
        return endpoint_total(self.astra, REVOKE)

    @property
    def lists(self) -> int:
        """Token lists Astra answered: one per sweep of the org."""
        return endpoint_total(self.astra, LIST)

    @property
    def vault_total(self) -> int:
        return sum(self.vault.values())

    @property
    def operator_secrets(self) -> Counter[str]:
        # The benchmark touches no Secret during a window; controllers are system:* users.
        return Counter({k: n for k, n in self.secrets.items() if not k.startswith("system:")})

    @property
    def kube_operator(self) -> Counter[str]:
        return Counter({k: n for k, n in self.apiserver.items() if counted_for_operator(k)})

    @property
    def kube_total(self) -> int:
        """Operator requests to the apiserver: Secrets from the audit log plus the rest from the metrics."""
        return sum(self.operator_secrets.values()) + sum(self.kube_operator.values())


@dataclass
class Round:
    n: int
    metrics: str = ""  # "on"/"off" in a --compare-metrics run
    apply_seconds: float = 0.0
    ready_seconds: float = 0.0
    ready_p50: float = 0.0
    ready_p99: float = 0.0
    created_p50: float = 0.0
    created_p99: float = 0.0
    ramp: Window | None = None
    idle: Window | None = None
    delete_seconds: float = 0.0
    gone_p50: float = 0.0
    gone_p99: float = 0.0
    delete: Window | None = None


@dataclass
class Bench:
    platform: Platform
    fake: FakeAstraThread
    operator: OperatorProcess
    api: k8s.ApiClient
    args: argparse.Namespace
    failures: list[str] = field(default_factory=list)

    @property
    def objects(self) -> k8s.CustomObjectsApi:
        return k8s.CustomObjectsApi(self.api)

    @property
    def pid(self) -> int:
        """The operator's own process: under a profiler (command_prefix), the profiler's child."""
        assert self.operator.child is not None
        pid: int = self.operator.child.pid
        if not self.operator.command_prefix:
            return pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = children.read_text().split() if children.exists() else []
            if found:
                return int(found[0])
            time.sleep(0.1)
        raise BenchFailure(f"no process under the profiler {pid}")

    def snapshot(self) -> Snapshot:
        controlplane = self.platform.controlplane.child
        secrets_log = self.platform.controlplane.audit_log
        assert self.operator.child is not None
        return Snapshot(
            at=time.monotonic(),
            operator=process_usage(self.pid, group=self.operator.child.pid),
            controlplane_cpu=group_cpu_seconds(controlplane.pid) if controlplane else 0.0,
            openbao_cpu=group_cpu_seconds(self.platform.openbao.child.pid),
            astra=astra_requests(self.fake),
            apiserver=apiserver_counts(self.platform.kubectl, self.platform.controlplane.kubeconfig),
            vault_offset=complete_size(self.platform.openbao.audit_log),
            secrets_offset=complete_size(secrets_log) if secrets_log else 0,
            log_offset=complete_size(self.operator.logs[-1]),
        )

    def window(self, start: Snapshot, end: Snapshot) -> Window:
        vault_log, secrets_log = self.platform.openbao.audit_log, self.platform.controlplane.audit_log
        return Window(
            seconds=end.at - start.at,
            operator_cpu=end.operator.cpu_seconds - start.operator.cpu_seconds,
            controlplane_cpu=end.controlplane_cpu - start.controlplane_cpu,
            openbao_cpu=end.openbao_cpu - start.openbao_cpu,
            rss_kib=end.operator.rss_kib,
            peak_rss_kib=end.operator.peak_rss_kib,
            astra=difference(end.astra, start.astra),
            apiserver=difference(end.apiserver.requests, start.apiserver.requests),
            webhook_calls=difference(end.apiserver.webhook_calls, start.apiserver.webhook_calls),
            webhook_seconds={k: v - start.apiserver.webhook_seconds.get(k, 0.0)
                             for k, v in end.apiserver.webhook_seconds.items()},
            vault=count_lines(vault_log, start.vault_offset, end.vault_offset, vault_request_key),
            vault_errors=count_lines(vault_log, start.vault_offset, end.vault_offset, vault_error_key),
            secrets=(count_lines(secrets_log, start.secrets_offset, end.secrets_offset, secret_request_key)
                     if secrets_log else Counter()),
            problems=count_lines(self.operator.logs[-1], start.log_offset, end.log_offset, operator_problem_key),
        )

    def check(self, ok: bool, failure: str) -> None:
        if not ok:
            self.failures.append(failure)
            say(f"FAILED: {failure}")

    def check_operator_alive(self) -> None:
        if not self.operator.alive():
            assert self.operator.child is not None
            raise BenchFailure(f"the operator exited:\n{self.operator.child.log_tail()}")

    def active_tokens_in_status(self) -> tuple[int | None, int | None]:
        """status.activeTokens of the AstraOrg and the AstraRole."""
        found = [cast(dict[str, Any], self.objects.get_cluster_custom_object(GROUP, VERSION, plural, name))
                 for plural, name in (("astraorgs", ORG), ("astraroles", ROLE))]
        org, role = ((body.get("status") or {}).get("activeTokens") for body in found)
        return org, role

    def check_active_tokens(self, expected: int, when: str, timeout: float = 40) -> None:
        """The org and role count their tokens every 15 s or so: give them time."""
        deadline = time.monotonic() + timeout
        counts = self.active_tokens_in_status()
        while counts != (expected, expected) and time.monotonic() < deadline:
            time.sleep(1)
            counts = self.active_tokens_in_status()
        say(f"  status.activeTokens {when}: AstraOrg {counts[0]}, AstraRole {counts[1]} (expected {expected})")
        self.check(counts == (expected, expected),
                   f"status.activeTokens {when}: AstraOrg {counts[0]}, AstraRole {counts[1]}, expected {expected}")

    def sweep_status(self) -> dict[str, Any]:
        """The AstraOrg's status.sweep and its Swept condition, as the last sweep left them."""
        body = cast(dict[str, Any], self.objects.get_cluster_custom_object(GROUP, VERSION, "astraorgs", ORG))
        status = body.get("status") or {}
        swept = next((c for c in status.get("conditions") or [] if c.get("type") == "Swept"), {})
        return {**(status.get("sweep") or {}), "swept": swept.get("status"), "reason": swept.get("reason")}

    def valid_astra_tokens(self) -> int:
        return sum(1 for t in self.fake.tokens(ORG_ID) if not t.is_admin and t.state == "valid")


# ------------------------------------------------------------------ manifests


def token_body(name: str, namespace: str, role: str = ROLE) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AstraToken",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"orgRef": ORG, "roleRef": role}}


def org_and_role_manifests(fake: FakeAstraThread, rate_limit: float | None,
                           sweep_interval: str | None) -> list[dict[str, Any]]:
    extra_spec: dict[str, Any] = ({"rateLimit": {"requestsPerSecond": rate_limit, "burst": max(1, int(rate_limit * 2))}}
                                  if rate_limit else {})
    if sweep_interval is not None:  # else the AstraOrg's default
        extra_spec["sweep"] = {"interval": sweep_interval}
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": ROOT_SECRET, "namespace": OPERATOR_NAMESPACE},
         "stringData": {"token": fake.admin_token(ORG_ID)}},
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AstraOrg", "metadata": {"name": ORG},
         "spec": {"orgId": ORG_ID, "url": fake.url, "allowedNamespaces": ["*"],
                  "rootTokenRef": {"secret": {"namespace": OPERATOR_NAMESPACE, "name": ROOT_SECRET}},
                  **extra_spec}},
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AstraRole", "metadata": {"name": ROLE},
         "spec": {"orgRef": ORG, "astraRoleName": "R/W User", "ttl": "1h", "maxTtl": "24h"}},
    ]


# ------------------------------------------------------------------ the steps


def kubectl(platform: Platform, *args: str, stdin: str | None = None) -> str:
    import subprocess

    done = subprocess.run([str(platform.kubectl), f"--kubeconfig={platform.controlplane.kubeconfig}", *args],
                          input=stdin, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise BenchFailure(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def create_namespace(api: k8s.ApiClient, name: str) -> None:
    try:
        k8s.CoreV1Api(api).create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    except ApiException as exc:
        if exc.status != 409:
            raise


def wait_ready_cluster_object(objects: k8s.CustomObjectsApi, plural: str, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    condition: dict[str, Any] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(ApiException):
            found = cast(dict[str, Any], objects.get_cluster_custom_object(GROUP, VERSION, plural, name))
            condition = ready_condition(found)
        if condition.get("status") == "True":
            return
        time.sleep(0.5)
    raise BenchFailure(f"{plural}/{name} not Ready after {timeout:.0f}s: {condition}")


def in_parallel(workers: int, names: list[str], call: Callable[[str], object]) -> dict[str, float]:
    """Run call(name) for every name on a thread pool; return when each finished."""
    finished: dict[str, float] = {}

    def one(name: str) -> None:
        call(name)
        finished[name] = time.monotonic()

    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(one, name) for name in names]:
            future.result()
    return finished


def not_ready_summary(watch: TokenWatch, names: set[str]) -> str:
    reasons: Counter[str] = Counter()
    for name in names - watch.ready_at.keys():
        body = watch.present.get(name)
        condition = ready_condition(body) if body else {}
        reasons[f"{condition.get('reason', 'no condition')}: {str(condition.get('message', ''))[:120]}"] += 1
    return "; ".join(f"{n} x {reason}" for reason, n in reasons.most_common(5))


def open_watch(bench: Bench, namespace: str) -> tuple[TokenWatch, k8s.ApiClient]:
    """A fresh namespace and a TokenWatch on it (stop the watch and close the client after)."""
    create_namespace(bench.api, namespace)
    watch_api = new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(bench.platform.controlplane.kubeconfig))
    watch = TokenWatch(watch_api, namespace)
    watch.start()
    return watch, watch_api


def run_ramp(bench: Bench, n: int, namespace: str, watch: TokenWatch) -> Round:
    """N AstraTokens created at once in the watched namespace; the window from the first create
    to all Ready plus the settle time. Raises BenchFailure when not all are Ready in time."""
    args, result = bench.args, Round(n)
    names = [f"{namespace}-{i:05d}" for i in range(n)]
    wanted = set(names)
    timeout = args.ready_timeout or 120 + 0.5 * n
    say(f"\n=== N = {n}: applying {n} AstraTokens in namespace {namespace} ===")
    reset_peak_rss(bench.pid)
    before = bench.snapshot()
    started = time.monotonic()
    objects = bench.objects
    created = in_parallel(args.apply_workers, names, lambda name: objects.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, token_body(name, namespace)))
    result.apply_seconds = max(created.values()) - started
    all_ready = watch.wait(lambda: len(wanted & watch.ready_at.keys()) == n, timeout)
    bench.check_operator_alive()
    if not all_ready:
        raise BenchFailure(f"only {watch.count_ready(wanted)} of {n} AstraTokens Ready after {timeout:.0f}s "
                           f"({not_ready_summary(watch, wanted)}); watch error: {watch.error}")
    ready_at = {name: watch.ready_at[name] for name in names}
    result.ready_seconds = max(ready_at.values()) - started
    latencies = [at - started for at in ready_at.values()]
    since_created = [ready_at[name] - created[name] for name in names]
    result.ready_p50, result.ready_p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    result.created_p50, result.created_p99 = percentile(since_created, 0.5), percentile(since_created, 0.99)
    time.sleep(args.settle_seconds)
    result.ramp = bench.window(before, bench.snapshot())
    print_ramp(result, result.ramp)
    bench.check(result.ramp.creates == n, f"N={n}: {result.ramp.creates} Astra creates for {n} tokens")
    bench.check(result.ramp.create_requests == n,
                f"N={n}: {result.ramp.create_requests} Astra create requests for {n} tokens")
    return result


def run_round(bench: Bench, n: int, namespace: str) -> Round:
    """One ramp, rest and deletion of n tokens in a namespace of its own (a
    namespace deleted a moment ago makes the apiserver look it up on every
    create in it, which would be counted as Kubernetes calls)."""
    args = bench.args
    names = [f"{namespace}-{i:05d}" for i in range(n)]
    wanted = set(names)
    timeout = args.ready_timeout or 120 + 0.5 * n
    watch, watch_api = open_watch(bench, namespace)
    try:
        result = run_ramp(bench, n, namespace, watch)
        ready = bench.snapshot()
        objects = bench.objects
        valid = bench.valid_astra_tokens()
        bench.check(valid == n, f"N={n}: the fake holds {valid} valid tokens for {n} AstraTokens")

        say(f"\n--- N = {n}: at rest for {args.idle_seconds:.0f} s ---")
        time.sleep(args.idle_seconds)
        bench.check_operator_alive()
        rested = bench.snapshot()
        result.idle = bench.window(ready, rested)
        print_idle(result.idle, n)
        check_sweeps_at_rest(bench, result.idle, n)
        bench.check_active_tokens(n, f"with N={n} Ready")  # outside the windows: its GETs are not counted
        rested = bench.snapshot()

        say(f"\n--- N = {n}: deleting the {n} AstraTokens ---")
        reset_peak_rss(bench.pid)
        deleting = time.monotonic()
        deleted = in_parallel(args.apply_workers, names, lambda name: objects.delete_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name))
        all_gone = watch.wait(lambda: len(wanted & watch.gone_at.keys()) == n, timeout)
        bench.check_operator_alive()
        if not all_gone:
            raise BenchFailure(f"only {watch.count_gone(wanted)} of {n} AstraTokens gone {timeout:.0f}s after "
                               f"their deletion; watch error: {watch.error}")
        result.delete_seconds = max(watch.gone_at[name] for name in names) - deleting
        gone = [watch.gone_at[name] - deleted[name] for name in names]
        result.gone_p50, result.gone_p99 = percentile(gone, 0.5), percentile(gone, 0.99)
        time.sleep(args.settle_seconds)
        result.delete = bench.window(rested, bench.snapshot())
        print_delete(result, result.delete)
        bench.check(result.delete.revokes == n, f"N={n}: {result.delete.revokes} Astra revokes for {n} deletions")
        valid = bench.valid_astra_tokens()
        bench.check(valid == 0, f"N={n}: {valid} tokens still valid in the fake after all deletions")
        bench.check_active_tokens(0, f"after the N={n} deletion")
        for phase, window in (("ramp", result.ramp), ("rest", result.idle), ("deletion", result.delete)):
            errors = sum(k for key, k in window.problems.items() if not key.startswith("WARNING"))
            bench.check(errors == 0, f"N={n}: {errors} ERROR lines in the operator's log during the {phase}")
    finally:
        watch.stop()
        watch_api.close()
    with contextlib.suppress(ApiException):
        k8s.CoreV1Api(bench.api).delete_namespace(namespace)
    try:
        wait_for_namespace_gone(bench.api, namespace, timeout=120)
    except TimeoutError as exc:
        say(f"note: {exc}")
    return result


def check_sweeps_at_rest(bench: Bench, window: Window, n: int) -> None:
    """At rest the org's sweeps cost one Astra list each and no Vault read, and find the N tokens."""
    sweep = bench.sweep_status()  # read outside the windows
    say(f"  sweeps at rest: {window.lists} (Astra lists), {window.astra_total} Astra calls, "
        f"{window.vault_total} Vault calls; the last: managed {sweep.get('managed')}, orphans revoked "
        f"{sweep.get('orphansRevoked')}, deleted externally {sweep.get('deletedExternally')}, stale slots freed "
        f"{sweep.get('staleSlotsFreed')}, foreign {sweep.get('foreign')}, unmanaged {sweep.get('unmanaged')}, "
        f"took {sweep.get('durationSeconds')} s (Swept={sweep.get('swept')}, {sweep.get('reason')})")
    bench.check(window.lists >= 1, f"N={n}: no sweep during the rest ({window.seconds:.0f} s)")
    bench.check(window.astra_total == window.lists,
                f"N={n}: {window.astra_total} Astra calls at rest for {window.lists} sweeps (one list each)")
    bench.check(window.vault_total == 0, f"N={n}: {window.vault_total} Vault calls at rest")
    bench.check(sweep.get("managed") == n and sweep.get("swept") == "True",
                f"N={n}: the last sweep counted {sweep.get('managed')} managed tokens (Swept={sweep.get('swept')})")
    bench.check((sweep.get("orphansRevoked"), sweep.get("deletedExternally"), sweep.get("staleSlotsFreed"))
                == (0, 0, 0), f"N={n}: the sweep acted at rest: {sweep}")


# ------------------------------------------------------------------ printing


def per(count: float, n: int) -> str:
    return f"{count / n:.2f}"


def per_minute(count: float, seconds: float) -> str:
    return f"{count * 60 / seconds:.1f}"


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def print_breakdown(title: str, counts: Counter[str], divide: Callable[[int], str], limit: int = 12) -> None:
    if not counts:
        return
    say(f"  {title}:")
    for key, count in counts.most_common(limit):
        say(f"    {divide(count):>8}  {key}")
    if len(counts) > limit:
        say(f"    ... and {len(counts) - limit} more kinds")


def print_costs(window: Window, divide: Callable[[int], str], unit: str) -> None:
    say(f"  operator CPU: {window.operator_cpu:.1f} s; RSS {mib(window.rss_kib)}, peak {mib(window.peak_rss_kib)}"
        f"  (control plane CPU {window.controlplane_cpu:.1f} s, OpenBao CPU {window.openbao_cpu:.1f} s)")
    say(f"  Astra calls {unit}: {divide(window.astra_total)}   Vault calls {unit}: {divide(window.vault_total)}   "
        f"Kubernetes calls {unit}: {divide(window.kube_total)} (of which Secrets "
        f"{divide(sum(window.operator_secrets.values()))})")
    print_breakdown(f"Astra /v2 requests {unit} (route, status)", window.astra, divide)
    print_breakdown(f"Vault requests {unit} (operation, path)", window.vault, divide)
    print_breakdown(f"Vault errors {unit}", window.vault_errors, divide)
    print_breakdown(f"operator Secret requests {unit} (user, verb, status; apiserver audit log)",
                    window.operator_secrets, divide)
    print_breakdown(f"operator Kubernetes requests {unit} besides Secrets (apiserver_request_total)",
                    window.kube_operator, divide)
    others = Counter({k: n for k, n in window.secrets.items() if k.startswith("system:")})
    others.update({k: n for k, n in window.apiserver.items()
                   if not counted_for_operator(k) and k.split(" ")[1] != "secrets"})
    print_breakdown(f"not counted for the operator {unit} (benchmark, controllers)", others, divide, limit=6)
    print_webhooks(window)
    print_breakdown("operator log, WARNING and worse (count)", window.problems, str, limit=8)


def print_webhooks(window: Window) -> None:
    if not window.webhook_calls:
        return
    say("  admission webhooks (calls, mean latency as the apiserver saw it):")
    for key, calls in window.webhook_calls.most_common():
        mean = window.webhook_seconds.get(key, 0.0) / calls
        say(f"    {calls:>8}  {key}  {mean * 1000:.0f} ms")


def print_ramp(result: Round, window: Window) -> None:
    n = result.n
    say(f"  created all {n} in {result.apply_seconds:.1f} s")
    say(f"  all Ready after {result.ready_seconds:.1f} s")
    say(f"  apply->Ready per token: p50 {result.ready_p50:.1f} s, p99 {result.ready_p99:.1f} s"
        f"   (own create->Ready: p50 {result.created_p50:.1f} s, p99 {result.created_p99:.1f} s)")
    say(f"  Astra creates per token: {per(window.creates, n)} ({window.creates} created, "
        f"{window.create_requests} create requests)")
    print_costs(window, lambda count: per(count, n), "per token")


def print_idle(window: Window, n: int) -> None:
    say(f"  {window.seconds:.0f} s at rest with {n} Ready tokens")
    print_costs(window, lambda count: per_minute(count, window.seconds), "per minute")


def print_delete(result: Round, window: Window) -> None:
    n = result.n
    say(f"  all gone after {result.delete_seconds:.1f} s;"
        f" delete->gone per token: p50 {result.gone_p50:.1f} s, p99 {result.gone_p99:.1f} s")
    say(f"  Astra revokes per token: {per(window.revokes, n)} ({window.revokes} revoked, "
        f"{window.revoke_requests} revoke requests)")
    print_costs(window, lambda count: per(count, n), "per token")


def print_table(rounds: list[Round]) -> None:
    complete = [r for r in rounds if r.ramp and r.idle and r.delete]
    if not complete:
        return
    rows: list[tuple[str, Callable[[Round], str]]] = [
        ("all Ready (s)", lambda r: f"{r.ready_seconds:.1f}"),
        ("apply->Ready p50 / p99 (s)", lambda r: f"{r.ready_p50:.1f} / {r.ready_p99:.1f}"),
        ("operator CPU, ramp (s)", lambda r: f"{_w(r.ramp).operator_cpu:.1f}"),
        ("operator RSS / peak, ramp", lambda r: f"{mib(_w(r.ramp).rss_kib)} / {mib(_w(r.ramp).peak_rss_kib)}"),
        ("Astra calls / token", lambda r: per(_w(r.ramp).astra_total, r.n)),
        ("Astra creates / token", lambda r: per(_w(r.ramp).creates, r.n)),
        ("Vault calls / token", lambda r: per(_w(r.ramp).vault_total, r.n)),
        ("Secret requests / token", lambda r: per(sum(_w(r.ramp).operator_secrets.values()), r.n)),
        ("Kubernetes calls / token", lambda r: per(_w(r.ramp).kube_total, r.n)),
        ("rest: Astra calls / min", lambda r: per_minute(_w(r.idle).astra_total, _w(r.idle).seconds)),
        ("rest: sweeps (one Astra list each)", lambda r: str(_w(r.idle).lists)),
        ("rest: Vault calls / min", lambda r: per_minute(_w(r.idle).vault_total, _w(r.idle).seconds)),
        ("rest: Secret requests / min",
         lambda r: per_minute(sum(_w(r.idle).operator_secrets.values()), _w(r.idle).seconds)),
        ("rest: Kubernetes calls / min", lambda r: per_minute(_w(r.idle).kube_total, _w(r.idle).seconds)),
        ("rest: operator CPU (s)", lambda r: f"{_w(r.idle).operator_cpu:.1f} in {_w(r.idle).seconds:.0f} s"),
        ("rest: operator RSS", lambda r: mib(_w(r.idle).rss_kib)),
        ("all deleted (s)", lambda r: f"{r.delete_seconds:.1f}"),
        ("Astra revokes / token", lambda r: per(_w(r.delete).revokes, r.n)),
        ("Astra revoke requests / token", lambda r: per(_w(r.delete).revoke_requests, r.n)),
        ("deletion: Vault calls / token", lambda r: per(_w(r.delete).vault_total, r.n)),
        ("deletion: operator CPU (s)", lambda r: f"{_w(r.delete).operator_cpu:.1f}"),
        ("RSS after deletion", lambda r: mib(_w(r.delete).rss_kib)),
    ]
    width = max(len(label) for label, _ in rows)
    say("\n=== summary ===")
    say(f"{'N':<{width}}  " + "  ".join(f"{r.n:>16}" for r in complete))
    if any(r.metrics for r in complete):
        say(f"{'metrics':<{width}}  " + "  ".join(f"{r.metrics:>16}" for r in complete))
    for label, cell in rows:
        say(f"{label:<{width}}  " + "  ".join(f"{cell(r):>16}" for r in complete))


def restart_with_metrics(bench: Bench, enabled: bool) -> None:
    """A fresh operator process (so memory figures start alike), metrics on or off; its org is
    verified again before the round starts."""
    say(f"\n=== restarting the operator with metrics {'on' if enabled else 'off'} ===")
    bench.operator.restart(extra_env={"ASTRA_OPERATOR_METRICS_ENABLED": "true" if enabled else "false"})
    time.sleep(5)  # the org's and role's first verification in the new process
    wait_ready_cluster_object(bench.objects, "astraorgs", ORG, 60)
    scraped = _http_status(f"{bench.operator.ops_url}/metrics")
    bench.check(scraped == (200 if enabled else 404), f"/metrics answered {scraped} with metrics "
                                                      f"{'on' if enabled else 'off'}")


def _http_status(url: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback http)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def print_metrics_cost(rounds: list[Round]) -> None:
    """Operator CPU per token and memory, metrics off vs on, for each N run both ways."""
    paired = [(off, on) for off in rounds for on in rounds
              if off.metrics == "off" and on.metrics == "on" and off.n == on.n and off.ramp and on.ramp]
    if not paired:
        return
    say("\n=== what the metrics cost (operator process, metrics off -> on) ===")
    for off, on in paired:
        n = off.n
        say(f"N = {n}:")
        say(f"  CPU per token, ramp:    {_w(off.ramp).operator_cpu * 1000 / n:7.1f} ms -> "
            f"{_w(on.ramp).operator_cpu * 1000 / n:7.1f} ms")
        if off.delete and on.delete:
            say(f"  CPU per token, delete:  {_w(off.delete).operator_cpu * 1000 / n:7.1f} ms -> "
                f"{_w(on.delete).operator_cpu * 1000 / n:7.1f} ms")
        if off.idle and on.idle:
            say(f"  CPU at rest:            {_w(off.idle).operator_cpu:7.2f} s -> {_w(on.idle).operator_cpu:7.2f} s "
                f"in {_w(on.idle).seconds:.0f} s")
            say(f"  RSS at rest:            {mib(_w(off.idle).rss_kib):>7} -> {mib(_w(on.idle).rss_kib):>7}")
        say(f"  RSS peak, ramp:         {mib(_w(off.ramp).peak_rss_kib):>7} -> {mib(_w(on.ramp).peak_rss_kib):>7}")


def _w(window: Window | None) -> Window:
    assert window is not None
    return window


# ------------------------------------------------------------------ set-up


@contextlib.contextmanager
def running_platform(args: argparse.Namespace, *, more_orgs: dict[str, str] | None = None,
                     command_prefix: list[str] | None = None) -> Iterator[Bench]:
    """The platform, the fake Astra (with more_orgs: id -> admin token, besides the bench's own)
    and the operator (under command_prefix, e.g. a profiler), torn down whatever happens."""
    log_dir = Path(tempfile.mkdtemp(prefix="astra-bench-lifecycle-"))
    platform = start_platform()
    stack = contextlib.ExitStack()
    stack.callback(platform.stop)
    try:
        for line in platform.timings.lines():
            say(line)
        fake = FakeAstraThread({ORG_ID: make_admin_token(), **(more_orgs or {})})
        fake.start()
        stack.callback(fake.stop)
        kubectl(platform, "apply", "-f", str(CRDS))
        kubectl(platform, "wait", "--for=condition=Established", "crd",
                "-l", "app.kubernetes.io/name=astra-token-operator", "--timeout=60s")
        api = new_client_from_config(config_file=str(platform.controlplane.kubeconfig))  # type: ignore[no-untyped-call]
        stack.callback(api.close)
        create_namespace(api, OPERATOR_NAMESPACE)
        extra = {"ASTRA_OPERATOR_LOG_FORMAT": "json"}  # admission webhooks on, as in the integration tests
        if args.no_webhooks:
            extra["ASTRA_OPERATOR_WEBHOOK_ENABLED"] = "false"
        if args.drift_check_seconds is not None:
            extra["ASTRA_OPERATOR_DRIFT_CHECK_INTERVAL_SECONDS"] = str(args.drift_check_seconds)
        operator = OperatorProcess(verbose=False, log_dir=log_dir, env=operator_env(
            kubeconfig=platform.controlplane.kubeconfig, vault_addr=platform.openbao.addr,
            vault_token=platform.openbao.token, operator_namespace=OPERATOR_NAMESPACE, extra=extra),
            command_prefix=command_prefix or [])
        operator.start()
        stack.callback(operator.stop)
        bench = Bench(platform=platform, fake=fake, operator=operator, api=api, args=args)
        command = Path(f"/proc/{bench.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        say(f"operator: pid {bench.pid}, log {operator.logs[-1]}")
        say(f"operator: {command}")
        say(f"source: {source_version()}")
        manifests = org_and_role_manifests(fake, args.astra_rate_limit, getattr(args, "sweep_interval", None))
        kubectl(platform, "apply", "-f", "-", stdin="\n---\n".join(json.dumps(m) for m in manifests))
        objects = k8s.CustomObjectsApi(api)
        wait_ready_cluster_object(objects, "astraorgs", ORG, 60)
        wait_ready_cluster_object(objects, "astraroles", ROLE, 60)
        yield bench
    finally:
        say("tearing down the operator, the fake Astra and the platform")
        stack.close()


def source_version() -> str:
    """The commit measured, and whether the operator's sources differ from it."""
    import subprocess

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "operator/").splitlines()
    return f"commit {git('rev-parse', '--short', 'HEAD') or '?'}" + (
        f", with {len(changed)} uncommitted change(s) under operator/" if changed else "")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tokens", type=int, nargs="+", default=[100, 1000], metavar="N",
                        help="how many AstraTokens to apply at once, one round per N (default: 100 1000)")
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="time at rest after each ramp (default 60)")
    parser.add_argument("--settle-seconds", type=float, default=5.0,
                        help="wait after the last token is Ready or gone before closing the window, so "
                             "trailing calls are counted (default 5)")
    parser.add_argument("--apply-workers", type=int, default=8, help="parallel create/delete requests (default 8)")
    parser.add_argument("--ready-timeout", type=float, default=None,
                        help="seconds to wait for all Ready / all gone (default 120 + N/2)")
    parser.add_argument("--drift-check-seconds", type=float, default=None,
                        help="ASTRA_OPERATOR_DRIFT_CHECK_INTERVAL_SECONDS (default: the operator's own, 60)")
    parser.add_argument("--sweep-interval", default="15s",
                        help="the AstraOrg's spec.sweep.interval, so the rest phase holds several sweeps "
                             "(default 15s; the operator's default is 10m)")
    parser.add_argument("--no-webhooks", action="store_true",
                        help="run the operator without its admission webhooks (to see what they cost)")
    parser.add_argument("--compare-metrics", action="store_true",
                        help="run each N twice, the operator restarted with metrics off then on "
                             "(ASTRA_OPERATOR_METRICS_ENABLED), and print what the metrics cost")
    parser.add_argument("--astra-rate-limit", type=float, default=None, metavar="RPS",
                        help="the AstraOrg's spec.rateLimit.requestsPerSecond (burst 2x); default: the "
                             "operator's own (10/s, burst 20)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # SystemExit runs the teardown
    rounds: list[Round] = []
    failures: list[str] = []
    try:
        with running_platform(args) as bench:
            rate = (f"{args.astra_rate_limit:g}/s, burst {max(1, int(args.astra_rate_limit * 2))}"
                    if args.astra_rate_limit else "the operator's default (10/s, burst 20)")
            drift = args.drift_check_seconds or f"default ({DEFAULT_DRIFT_CHECK:g})"
            say(f"operator settings: INFO logging (JSON), drift check {drift} s, "
                f"admission webhooks {'off' if args.no_webhooks else 'on'}, Astra rate limit {rate}, "
                f"sweep interval {args.sweep_interval}")
            try:
                for index, n in enumerate(args.tokens):
                    repeat = args.tokens[:index].count(n)
                    name = f"bench-{n}" + (f"-{repeat + 1}" if repeat else "")
                    for mode in (("off", "on") if args.compare_metrics else ("",)):
                        if mode:
                            restart_with_metrics(bench, mode == "on")
                        result = run_round(bench, n, f"{name}-metrics-{mode}" if mode else name)
                        result.metrics = mode
                        rounds.append(result)
            finally:
                failures = bench.failures
                print_table(rounds)
                print_metrics_cost(rounds)
    except BenchFailure as failure:
        failures.append(str(failure))
        say(f"FAILED: {failure}")
    return exit_status(failures)



def exit_status(failures: list[str]) -> int:
    """The benchmark's exit status: 1 when a correctness check failed (each one listed), never
    for a timing."""
    if failures:
        say(f"\n{len(failures)} failure(s):")
        for line in failures:
            say(f"  - {line}")
        return 1
    say("\nall checks passed")
    return 0

if __name__ == "__main__":
    sys.exit(main())
