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
always torn down. bench/README.md says what each figure means.

Opt-in phases: --restart stops the operator (SIGTERM) after each N's rest and
starts it again, counting creates, Secret and AstraToken writes until every
token has had a pass in the new process; --punctuality applies N tokens of a
short-ttl role after each N's deletion and reports how late their renewals
were (late_s in the operator's log)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import math
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # testplatform is a test helper package, not installed

import memory_report  # noqa: E402
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
    json_lines,
    metric_samples,
    process_usage,
    reset_peak_rss,
    secret_request_key,
    vault_error_key,
    vault_request_key,
)
from token_watch import GROUP, PLURAL, VERSION, TokenWatch, ready_condition  # noqa: E402

from astra_token_operator.config import OperatorConfig  # noqa: E402
from astra_token_operator.durations import parse_duration  # noqa: E402
from astra_token_operator.fake_astra import FakeAstraThread, make_admin_token  # noqa: E402
from astra_token_operator.handlers.tokens import RESUME_SPREAD_SECONDS  # noqa: E402
from testplatform.examples import CRDS  # noqa: E402
from testplatform.kube import wait_for_namespace_gone  # noqa: E402
from testplatform.operator import OperatorProcess, operator_env  # noqa: E402
from testplatform.platform import Platform, start_platform  # noqa: E402

DEFAULT_DRIFT_CHECK = OperatorConfig.model_fields["drift_check_interval_seconds"].default
DEFAULT_ORG_VERIFY = OperatorConfig.model_fields["org_verify_interval_seconds"].default
DEFAULT_INTENT_SWEEP = OperatorConfig.model_fields["intent_sweep_interval_seconds"].default
INTENT_LIST = "list secret/metadata/astra-tokens/intents/*"

OPERATOR_NAMESPACE = "astra-token-operator"
ORG_ID = "0d3c1a52-7f3e-4b8e-9a51-3c2b1e0f4a77"
ORG, ROLE, ROOT_SECRET = "bench-org", "bench-rw", "bench-org-root-token"
CREATE = "POST /v2/clientIdSecrets"
CREATE_ALIAS = "POST /v2/tokens"
REVOKE = "DELETE /v2/clientIdSecrets/{clientId}"
LIST = "GET /v2/clientIdSecrets"
ORG_VERIFICATION = ("GET /v2/currentOrg", "GET /v2/organizations/roles")
CONTROLLER_RESOURCES = {"secrets", "leases", "serviceaccounts", "configmaps"}
PUNCTUAL_ROLE = "bench-punctual"  # --punctuality: the short-ttl role whose renewals fall inside the run
TOKENS_GAUGE = "astra_token_operator_tokens"  # set after each token's pass, by org, role and state
LATENESS = "astra_token_operator_renewal_lateness_seconds"
ARM_TARGET_SECONDS = 60.0  # issue 16: every token's next renewal scheduled within 60 s of a restart
LATENESS_TARGETS = (0.5, 2.0)  # issue 16: renewal lateness p50 / p99
RESTART_ALLOWANCE = 150.0  # seconds a restart phase may take at 10,000 tokens (stop, start, every token armed)
SECRET_WRITES = {"create", "update", "patch", "delete"}
TOKEN_WRITES = {"PATCH", "PUT", "APPLY"}


def counted_for_operator(key: str) -> bool:
    """Whether an apiserver_request_total key ('VERB resource [code]') is put down
    to the operator. The counter has no user label, so these are set aside:
    list and watch requests (the controller-manager watches every kind and a
    watch is only counted when it ends); the benchmark's own create, delete and
    get of AstraTokens (the garbage collector also GETs the owners of new
    Secrets until it watches the new kind; the operator GETs an AstraToken only
    in its orphan-intent sweep); discovery and other non-resource
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
    rss_before_kib: int = 0  # the operator's VmRSS just before the ramp: the idle figure
    started: float = 0.0  # time.monotonic() of the ramp's first create
    rss_after_deletion_kib: int | None = None  # --after-deletion-seconds later
    ramp: Window | None = None
    idle: Window | None = None
    delete_seconds: float = 0.0
    gone_p50: float = 0.0
    gone_p99: float = 0.0
    delete: Window | None = None
    restart: Restart | None = None  # --restart
    punctuality: Punctuality | None = None  # --punctuality


@dataclass(frozen=True)
class Restart:
    """The operator stopped (SIGTERM) and started again with N Ready tokens; the window runs from
    just before the stop until every token has had a pass in the new process, plus the settle."""

    stop_seconds: float  # SIGTERM until the old process exited
    exit_code: int | None  # the old process's (negative: killed by that signal)
    first_scrape: float | None  # seconds from the new process's start to its first /metrics answer
    first_pass: float | None  # ... to the first answer counting one of the N tokens
    passed: tuple[float, float] | None  # (last answer short of N, first answer counting all N)
    ready: tuple[float, float] | None  # the same for all N counted in state ready
    states: dict[str, int]  # the gauge at the last scrape, by state
    scrapes: int
    scrape_seconds: float  # their mean duration
    window: Window
    # --restart-verify: from the end of ``window`` until the drift check interval has passed since the
    # start (each armed token's verification pass falls in it), plus the settle.
    verification: Window | None = None

    @property
    def secret_writes(self) -> int:
        return secret_writes(self.window) + (secret_writes(self.verification) if self.verification else 0)

    @property
    def verified(self) -> int:
        """Secret GETs by the operator in the verification window: one per token verified."""
        return 0 if self.verification is None else sum(
            n for key, n in self.verification.operator_secrets.items() if key.split(" ")[1] == "get")

    @property
    def token_writes(self) -> Counter[str]:
        """Writes to existing AstraTokens (apiserver_request_total, all clients; the benchmark makes none)."""
        return Counter({key: n for key, n in self.window.apiserver.items()
                        if key.split(" ")[1].startswith("astratokens") and key.split(" ")[0] in TOKEN_WRITES})


def secret_writes(window: Window) -> int:
    return sum(n for key, n in window.operator_secrets.items() if key.split(" ")[1] in SECRET_WRITES)


@dataclass(frozen=True)
class Punctuality:
    """N tokens of a short-ttl role until each has renewed once; the lateness the operator logged."""

    n: int
    ttl: str
    ready_seconds: float  # from the first create to all Ready
    renewed_seconds: float  # from the first create to every token renewed at least once
    late: list[float]  # late_s of every scheduled renewal of these tokens in the window
    late_after_ready: list[float]  # those decided after all N were Ready (no mint ramp beside them)
    renewed_tokens: int  # tokens whose status.renewals >= 1
    lapsed: int  # tokens whose status.leaseExpiresAt had passed at the end
    histogram: tuple[int, int, int] | None  # renewals the histogram counted: all, <= 0.5 s, <= 2 s
    window: Window


@dataclass
class Bench:
    platform: Platform
    fake: FakeAstraThread
    operator: OperatorProcess
    api: k8s.ApiClient
    args: argparse.Namespace
    failures: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)  # the running operator's, kept across restarts

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
                           sweep_interval: str | None, role_ttl: str = "1h") -> list[dict[str, Any]]:
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
         "spec": {"orgRef": ORG, "astraRoleName": "R/W User", "ttl": role_ttl, "maxTtl": "24h"}},
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
    result.rss_before_kib = before.operator.rss_kib
    started = result.started = time.monotonic()
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
        probe_memory(bench, f"{namespace}-0-before")
        result = run_ramp(bench, n, namespace, watch)
        probe_memory(bench, f"{namespace}-1-ready")  # outside the windows: a probe stops the operator a while
        ready = bench.snapshot()
        objects = bench.objects
        valid = bench.valid_astra_tokens()
        bench.check(valid == n, f"N={n}: the fake holds {valid} valid tokens for {n} AstraTokens")

        if args.renewals:
            first_renewal = result.started + parse_duration(args.round_ttl).total_seconds() * 2 / 3
            if first_renewal < time.monotonic() + args.idle_seconds + (RESTART_ALLOWANCE if args.restart else 0):
                say(f"  note: with --round-ttl {args.round_ttl} the first renewals may fall into the rest or the "
                    f"restart (the ramp took {result.ready_seconds:.0f} s), where their calls and Secret writes "
                    "fail those phases' checks; a longer ttl keeps them apart")
        say(f"\n--- N = {n}: at rest for {args.idle_seconds:.0f} s ---")
        time.sleep(args.idle_seconds)
        bench.check_operator_alive()
        rested = bench.snapshot()
        result.idle = bench.window(ready, rested)
        print_idle(result.idle, n)
        check_sweeps_at_rest(bench, result.idle, n)
        bench.check_active_tokens(n, f"with N={n} Ready")  # outside the windows: its GETs are not counted
        probe_memory(bench, f"{namespace}-2-rest")
        if args.restart:
            result.restart = run_restart(bench, n)
        if args.renewals:
            result.punctuality = run_round_renewals(bench, result, namespace, names, watch)
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
        if args.after_deletion_seconds:
            # Idle connections close (the webhook server's keep-alive is 75 s) and the allocator may
            # give memory back a while after the deletion: the RSS the issue's target is about.
            time.sleep(args.after_deletion_seconds)
            result.rss_after_deletion_kib = process_usage(bench.pid).rss_kib
            say(f"  operator RSS {args.after_deletion_seconds:.0f} s after the deletion: "
                f"{mib(result.rss_after_deletion_kib)} (before the ramp: {mib(result.rss_before_kib)})")
        probe_memory(bench, f"{namespace}-3-deleted")
        bench.check(result.delete.revokes == n, f"N={n}: {result.delete.revokes} Astra revokes for {n} deletions")
        valid = bench.valid_astra_tokens()
        bench.check(valid == 0, f"N={n}: {valid} tokens still valid in the fake after all deletions")
        bench.check_active_tokens(0, f"after the N={n} deletion")
        for phase, window in (("ramp", result.ramp), ("rest", result.idle), ("deletion", result.delete)):
            errors = error_lines(window)
            bench.check(errors == 0, f"N={n}: {errors} ERROR lines in the operator's log during the {phase}")
    finally:
        watch.stop()
        watch_api.close()
    drop_namespace(bench, namespace)
    return result


def memory_profile_env(args: argparse.Namespace) -> dict[str, str]:
    """--memory-profile DIR: the operator's interpreter loads bench/memory_probe/sitecustomize.py,
    which starts tracemalloc and writes a snapshot on each SIGUSR2 (probe_memory)."""
    directory = getattr(args, "memory_profile", None)
    if not directory:
        return {}
    Path(directory).mkdir(parents=True, exist_ok=True)
    return {"PYTHONPATH": str(REPO / "bench" / "memory_probe"),
            "ASTRA_BENCH_MEMORY_DIR": str(Path(directory).resolve()),
            "ASTRA_BENCH_MEMORY_FRAMES": str(args.memory_frames)}


def probe_memory(bench: Bench, label: str, timeout: float = 300) -> None:
    """With --memory-profile: the operator writes its tracemalloc snapshot and memory figures
    under this label; this waits until it has (the operator's event loop stands still meanwhile)."""
    directory = getattr(bench.args, "memory_profile", None)
    if not directory:
        return
    done = Path(directory) / f"{label}.json"
    (Path(directory) / "next-label").write_text(label)
    started = time.monotonic()
    os.kill(bench.pid, signal.SIGUSR2)
    while not done.exists():
        bench.check_operator_alive()
        if time.monotonic() - started > timeout:
            raise BenchFailure(f"no memory probe {label} after {timeout:.0f}s")
        time.sleep(0.5)
    facts = json.loads(done.read_text())
    say(f"  memory probe {label}: RSS {mib(facts['rss_kib'])}, traced {facts['traced_current'] / 2**20:.1f} MiB, "
        f"written in {time.monotonic() - started:.1f} s")


def drop_namespace(bench: Bench, namespace: str) -> None:
    """A phase's namespace deleted and waited for (a note, not a failure, when it lingers)."""
    with contextlib.suppress(ApiException):
        k8s.CoreV1Api(bench.api).delete_namespace(namespace)
    try:
        wait_for_namespace_gone(bench.api, namespace, timeout=120)
    except TimeoutError as exc:
        say(f"note: {exc}")


def error_lines(window: Window) -> int:
    """The operator's ERROR (and worse) log lines in a window."""
    return sum(k for key, k in window.problems.items() if not key.startswith("WARNING"))


def check_sweeps_at_rest(bench: Bench, window: Window, n: int) -> None:
    """At rest the org's sweeps cost one Astra list each and no Vault read, and find the N tokens."""
    sweep = bench.sweep_status()  # read outside the windows
    say(f"  sweeps at rest: {window.lists} (Astra lists), {window.astra_total} Astra calls, "
        f"{window.vault_total} Vault calls; the last: managed {sweep.get('managed')}, orphans revoked "
        f"{sweep.get('orphansRevoked')}, deleted externally {sweep.get('deletedExternally')}, stale slots freed "
        f"{sweep.get('staleSlotsFreed')}, foreign {sweep.get('foreign')}, unmanaged {sweep.get('unmanaged')}, "
        f"took {sweep.get('durationSeconds')} s (Swept={sweep.get('swept')}, {sweep.get('reason')})")
    bench.check(window.lists >= 1, f"N={n}: no sweep during the rest ({window.seconds:.0f} s)")
    # Besides the sweeps, the org's verification may fall in a long rest (its root token and roles,
    # two Astra calls). Anything else at rest is work that should not happen: no Vault call at all
    # (leftover mint intents are listed only while one can be left).
    verifications = math.ceil(window.seconds / DEFAULT_ORG_VERIFY) + 1
    unexpected_astra = {key: count for key, count in window.astra.items()
                        if key.rpartition(" ")[0] not in (LIST, *ORG_VERIFICATION)}
    verifying = max((endpoint_total(window.astra, route) for route in ORG_VERIFICATION), default=0)
    bench.check(not unexpected_astra and verifying <= verifications,
                f"N={n}: Astra calls at rest beyond {window.lists} sweep lists and at most {verifications} org "
                f"verifications: {dict(window.astra)}")
    # The org's cycle lists the ledger's intents a second time one interval after the process started
    # (what a replica paused for it may have written meanwhile); any other Vault call at rest is work.
    age = process_age_seconds(bench.pid)
    second_look = age - window.seconds <= DEFAULT_INTENT_SWEEP + 60 and age >= DEFAULT_INTENT_SWEEP
    unexpected_vault = Counter(window.vault)
    if second_look:
        unexpected_vault[INTENT_LIST] -= 1
    bench.check(not +unexpected_vault, f"N={n}: Vault calls at rest: {dict(window.vault)}"
                + (" (one intent listing allowed: the org's second look)" if second_look else ""))
    bench.check(sweep.get("managed") == n and sweep.get("swept") == "True",
                f"N={n}: the last sweep counted {sweep.get('managed')} managed tokens (Swept={sweep.get('swept')})")
    bench.check((sweep.get("orphansRevoked"), sweep.get("deletedExternally"), sweep.get("staleSlotsFreed"))
                == (0, 0, 0), f"N={n}: the sweep acted at rest: {sweep}")


# ------------------------------------------------------------------ --restart


def process_age_seconds(pid: int) -> float:
    """How long the process has run (its start time in /proc, against the uptime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime, counted after the comm
    return float(Path("/proc/uptime").read_text().split()[0]) - started


def metrics_on(bench: Bench) -> bool:
    return bench.extra_env.get("ASTRA_OPERATOR_METRICS_ENABLED", "true").lower() != "false"


def token_states(text: str, role: str) -> dict[str, int]:
    """The operator's tokens gauge for the benchmark's org and one role, by state."""
    return {labels.get("state", "?"): int(value) for labels, value in metric_samples(text, TOKENS_GAUGE)
            if labels.get("org") == ORG and labels.get("role") == role}


@dataclass
class ArmWatch:
    """Scrapes of the new process's /metrics until its tokens gauge counts all N Ready."""

    started: float
    first_scrape: float | None = None
    first_pass: float | None = None
    passed: tuple[float, float] | None = None
    ready: tuple[float, float] | None = None
    states: dict[str, int] = field(default_factory=dict)
    scrapes: int = 0
    scrape_total: float = 0.0


def watch_arming(bench: Bench, n: int, started: float, timeout: float) -> ArmWatch:
    """Every scrape of a large operator renders four series per token, so scrapes are spaced at
    least four times their own duration (and 0.5 s): the figures are brackets, (the last answer
    short of N, the first answer at N], in seconds since ``started``."""
    arm = ArmWatch(started)
    previous = 0.0
    while time.monotonic() - started < timeout:
        bench.check_operator_alive()
        sent = time.monotonic()
        try:
            text = bench.operator.scrape()
        except (OSError, http.client.HTTPException):  # not listening yet
            time.sleep(0.2)
            continue
        took = time.monotonic() - sent
        at = time.monotonic() - started
        arm.scrapes += 1
        arm.scrape_total += took
        arm.states = token_states(text, ROLE)
        total, ready = sum(arm.states.values()), arm.states.get("ready", 0)
        if arm.first_scrape is None:
            arm.first_scrape = at
        if arm.first_pass is None and total > 0:
            arm.first_pass = at
        if arm.passed is None and total >= n:
            arm.passed = (previous, at)
        if ready >= n:
            arm.ready = (previous, at)
            return arm
        previous = at
        time.sleep(max(0.5, 4 * took))
    return arm


def run_restart(bench: Bench, n: int) -> Restart | None:
    """SIGTERM the operator with N Ready tokens, start it again, and count what the new process
    does until each token has had its first pass (its next renewal scheduled), plus the settle."""
    args = bench.args
    say(f"\n--- N = {n}: restarting the operator (SIGTERM, then a new process) ---")
    if not metrics_on(bench):
        say("  skipped: the operator runs with metrics off (its tokens gauge is what tells a pass)")
        return None
    old = bench.operator.child
    assert old is not None
    old_log = bench.operator.logs[-1]
    before = bench.snapshot()
    stopping = time.monotonic()
    bench.operator.stop()  # SIGTERM to the process group; SIGKILL after 30 s
    stop_seconds = time.monotonic() - stopping
    exit_code = old.process.returncode
    say(f"  the old process exited {exit_code} {stop_seconds:.1f} s after SIGTERM"
        + ("" if exit_code == 0 else " (not a clean exit)"))
    started = time.monotonic()
    bench.operator.start(extra_env=bench.extra_env, wait=False)
    timeout = args.ready_timeout or 120 + 0.5 * n
    arm = watch_arming(bench, n, started, timeout)
    bench.operator.wait_ready()  # liveness, and the webhook configuration points at the new process
    time.sleep(args.settle_seconds)
    bench.check_operator_alive()
    after = bench.snapshot()
    # The new process's CPU and log from its start; the global counters from before the stop.
    window = bench.window(dataclasses.replace(before, operator=ProcessUsage(0.0, 0, 0), log_offset=0), after)
    shutdown = count_lines(old_log, before.log_offset, complete_size(old_log), operator_problem_key)
    window = dataclasses.replace(window, problems=window.problems + shutdown)
    verification = None
    if args.restart_verify:
        # Every armed token is verified (a full pass: its ledger records and its Secret) within the
        # drift check interval of the start.
        until = (started + RESUME_SPREAD_SECONDS + (args.drift_check_seconds or DEFAULT_DRIFT_CHECK)
                 + args.settle_seconds)  # the first turns start spread over RESUME_SPREAD_SECONDS
        say(f"  waiting {max(0.0, until - time.monotonic()):.0f} s more: every token's verification falls within "
            "the drift check interval of the start")
        while time.monotonic() < until:
            bench.check_operator_alive()
            time.sleep(min(5.0, max(0.0, until - time.monotonic())))
        verification = bench.window(after, bench.snapshot())
    result = Restart(stop_seconds=stop_seconds, exit_code=exit_code, first_scrape=arm.first_scrape,
                     first_pass=arm.first_pass, passed=arm.passed, ready=arm.ready, states=arm.states,
                     scrapes=arm.scrapes, scrape_seconds=arm.scrape_total / max(1, arm.scrapes), window=window,
                     verification=verification)
    print_restart(result, n)
    bench.check(window.creates == 0 and window.create_requests == 0,
                f"N={n}: restart: {window.creates} Astra creates ({window.create_requests} create requests)")
    bench.check(result.secret_writes == 0, f"N={n}: restart: {result.secret_writes} Secret writes by the operator")
    bench.check(arm.passed is not None, f"N={n}: restart: only {sum(arm.states.values())} of {n} tokens had a "
                                        f"pass in the new process after {timeout:.0f} s ({arm.states})")
    errors = error_lines(window) + (error_lines(verification) if verification else 0)
    bench.check(errors == 0, f"N={n}: {errors} ERROR lines in the operator's log around the restart")
    if verification is not None:
        bench.check(verification.creates == 0, f"N={n}: restart: {verification.creates} Astra creates while the "
                                               "tokens were verified")
    return result


def bracket(span: tuple[float, float] | None) -> str:
    return "never" if span is None else f"{span[1]:.1f} s (between {span[0]:.1f} and {span[1]:.1f} s)"


def print_restart(result: Restart, n: int) -> None:
    window = result.window
    say(f"  seconds from the new process's start: first /metrics answer "
        f"{'never' if result.first_scrape is None else f'{result.first_scrape:.1f}'}, first token passed "
        f"{'never' if result.first_pass is None else f'{result.first_pass:.1f}'}")
    say(f"  every one of the {n} tokens passed (its next renewal scheduled): {bracket(result.passed)}"
        f"   (target <= {ARM_TARGET_SECONDS:.0f} s)")
    say(f"  every one Ready in the new process: {bracket(result.ready)}; gauge at the end {result.states}")
    say(f"  /metrics scraped {result.scrapes} times, {result.scrape_seconds * 1000:.0f} ms each on average")
    say(f"  Astra creates: {window.creates} ({window.create_requests} create requests)   "
        f"Secret writes by the operator: {result.secret_writes}   "
        f"AstraToken writes: {sum(result.token_writes.values())} "
        f"({', '.join(f'{k} {v}' for k, v in result.token_writes.most_common()) or 'none'})")
    say(f"  window {window.seconds:.1f} s (from the SIGTERM); the new process: CPU {window.operator_cpu:.1f} s, "
        f"RSS {mib(window.rss_kib)}, peak {mib(window.peak_rss_kib)}")
    print_costs(window, str, "in the window")
    checked = result.verification
    if checked is not None:
        say(f"  then the verification, {checked.seconds:.1f} s: {result.verified} of {n} Secrets read "
            f"(one per token verified), {checked.vault_total} Vault calls "
            f"({checked.vault_total / max(1, result.verified):.2f} per token verified), "
            f"{secret_writes(checked)} Secret writes, {checked.creates} Astra creates; operator CPU "
            f"{checked.operator_cpu:.1f} s ({1000 * checked.operator_cpu / max(1, result.verified):.1f} ms per token), "
            f"{100 * checked.operator_cpu / max(1.0, checked.seconds):.1f}% of a core; RSS {mib(checked.rss_kib)}")


# ------------------------------------------------------------------ --punctuality


def apply_punctual_role(bench: Bench) -> None:
    args = bench.args
    kubectl(bench.platform, "apply", "-f", "-", stdin=json.dumps({
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "AstraRole", "metadata": {"name": PUNCTUAL_ROLE},
        "spec": {"orgRef": ORG, "astraRoleName": "R/W User", "ttl": args.punctuality_ttl,
                 "maxTtl": args.punctuality_max_ttl}}))
    wait_ready_cluster_object(bench.objects, "astraroles", PUNCTUAL_ROLE, 60)


def lateness_histogram(bench: Bench) -> tuple[int, int, int] | None:
    """The operator's lateness histogram: renewals counted, of them <= 0.5 s, <= 2 s (None: metrics off)."""
    if not metrics_on(bench):
        return None
    try:
        text = bench.operator.scrape()
    except (OSError, http.client.HTTPException) as exc:
        say(f"  note: the operator's /metrics did not answer ({exc}); no histogram for this phase")
        return None
    count = sum(int(v) for _, v in metric_samples(text, f"{LATENESS}_count"))
    buckets = {float(labels["le"]): int(v) for labels, v in metric_samples(text, f"{LATENESS}_bucket")}
    return count, buckets.get(LATENESS_TARGETS[0], 0), buckets.get(LATENESS_TARGETS[1], 0)


def renewal_lateness(path: Path, start: int, end: int, namespace: str) -> list[float]:
    """late_s of the operator's action=renew lines (each scheduled renewal) for one namespace."""
    return [float(entry["late_s"]) for entry in json_lines(path, start, end)
            if entry.get("action") == "renew" and entry.get("namespace") == namespace and "late_s" in entry]


def lease_lapsed(body: dict[str, Any], now: float) -> bool:
    expires = (body.get("status") or {}).get("leaseExpiresAt")
    return not expires or datetime.fromisoformat(str(expires).replace("Z", "+00:00")).timestamp() <= now


def run_punctuality(bench: Bench, n: int, namespace: str) -> Punctuality:
    """N tokens of the short-ttl role at once; the window runs until each has renewed at least once,
    plus the settle; then they are deleted (outside the window)."""
    args = bench.args
    ttl = parse_duration(args.punctuality_ttl).total_seconds()
    say(f"\n=== N = {n}: punctuality: {n} AstraTokens of role {PUNCTUAL_ROLE} (ttl {args.punctuality_ttl}, "
        f"maxTtl {args.punctuality_max_ttl}) in namespace {namespace}, until each renewed once ===")
    say(f"  once all are minted that asks for about {n / (ttl * 2 / 3):.1f} renewals/s "
        f"(renewBefore 33%: a renewal every 2/3 of the ttl)")
    apply_punctual_role(bench)
    names = [f"{namespace}-{i:05d}" for i in range(n)]
    wanted = set(names)
    timeout = args.ready_timeout or 120 + 0.5 * n
    watch, watch_api = open_watch(bench, namespace)
    try:
        histogram_before = lateness_histogram(bench)
        log = bench.operator.logs[-1]
        reset_peak_rss(bench.pid)
        before = bench.snapshot()
        started = time.monotonic()
        objects = bench.objects
        in_parallel(args.apply_workers, names, lambda name: objects.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, token_body(name, namespace, PUNCTUAL_ROLE)))
        if not watch.wait(lambda: len(wanted & watch.ready_at.keys()) == n, timeout):
            raise BenchFailure(f"punctuality: only {watch.count_ready(wanted)} of {n} AstraTokens Ready after "
                               f"{timeout:.0f}s ({not_ready_summary(watch, wanted)}); watch error: {watch.error}")
        ready_seconds = max(watch.ready_at[name] for name in names) - started
        ready_offset = complete_size(log)
        say(f"  all {n} Ready after {ready_seconds:.1f} s; waiting for every one to renew")
        result = measure_renewals(bench, Renewing(names, namespace, watch, args.punctuality_ttl, started, ready_seconds,
                                                  ready_offset, log, before, histogram_before), mints=n)

        say(f"  deleting the {n} AstraTokens of the punctuality phase")
        in_parallel(args.apply_workers, names, lambda name: objects.delete_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name))
        if not watch.wait(lambda: len(wanted & watch.gone_at.keys()) == n, timeout):
            raise BenchFailure(f"punctuality: only {watch.count_gone(wanted)} of {n} AstraTokens gone "
                               f"{timeout:.0f}s after their deletion")
        valid = bench.valid_astra_tokens()
        bench.check(valid == 0, f"punctuality N={n}: {valid} tokens still valid in the fake after the deletion")
    finally:
        watch.stop()
        watch_api.close()
    drop_namespace(bench, namespace)
    return result


@dataclass(frozen=True)
class Renewing:
    """N tokens waited on until each has renewed once, and what was taken before the wait."""

    names: list[str]
    namespace: str
    watch: TokenWatch
    ttl: str
    started: float  # time.monotonic() of the first create
    ready_seconds: float
    ready_offset: int  # the log's size once all were Ready
    log: Path
    before: Snapshot  # the window's start
    histogram_before: tuple[int, int, int] | None


def measure_renewals(bench: Bench, renewing: Renewing, *, mints: int) -> Punctuality:
    """Wait until each token has renewed at least once; lateness from the log and the histogram,
    leases lapsed; checks: ``mints`` Astra creates in the window (the tokens' own, if any: a
    rotation or a lapsed lease would re-mint), every token renewed, none lapsed, no ERROR."""
    names, watch = renewing.names, renewing.watch
    n = len(names)

    def renewed() -> int:
        return sum(1 for name in names
                   if int((watch.present.get(name, {}).get("status") or {}).get("renewals") or 0) >= 1)

    # Counted once a second, not on every watch event: at 10,000 tokens a count per event
    # would cost the benchmark minutes of CPU on the operator's machine.
    deadline = (renewing.started + renewing.ready_seconds + parse_duration(renewing.ttl).total_seconds() + 60
                + n / 20)
    while renewed() < n and time.monotonic() < deadline and watch.error is None:
        bench.check_operator_alive()
        time.sleep(1)
    renewed_seconds = time.monotonic() - renewing.started
    time.sleep(bench.args.settle_seconds)
    bench.check_operator_alive()
    after = bench.snapshot()
    histogram_after = lateness_histogram(bench)
    now = time.time()
    lapsed = sum(1 for name in names if lease_lapsed(watch.present.get(name, {}), now))
    renewed_tokens = renewed()
    window = bench.window(renewing.before, after)
    histogram_before = renewing.histogram_before
    histogram = (None if histogram_before is None or histogram_after is None
                 else tuple(a - b for a, b in zip(histogram_after, histogram_before, strict=True)))
    log, namespace = renewing.log, renewing.namespace
    result = Punctuality(
        n=n, ttl=renewing.ttl, ready_seconds=renewing.ready_seconds, renewed_seconds=renewed_seconds,
        late=renewal_lateness(log, renewing.before.log_offset, after.log_offset, namespace),
        late_after_ready=renewal_lateness(log, max(renewing.ready_offset, renewing.before.log_offset),
                                          after.log_offset, namespace),
        renewed_tokens=renewed_tokens, lapsed=lapsed,
        histogram=cast(tuple[int, int, int] | None, histogram), window=window)
    print_punctuality(result, log)
    bench.check(window.creates == mints and window.create_requests == mints,
                f"renewals N={n}: {window.creates} Astra creates ({window.create_requests} requests) "
                f"where {mints} were due (a rotation or a lapsed lease re-mints)")
    bench.check(renewed_tokens == n, f"renewals N={n}: {n - renewed_tokens} tokens never renewed "
                                     f"{renewed_seconds:.0f} s after the first create")
    bench.check(lapsed == 0, f"renewals N={n}: {lapsed} leases past their end")
    errors = error_lines(window)
    bench.check(errors == 0, f"renewals N={n}: {errors} ERROR lines in the operator's log")
    return result


def run_round_renewals(bench: Bench, result: Round, namespace: str, names: list[str],
                       watch: TokenWatch) -> Punctuality:
    """--renewals: after the rest (and the restart), until each of the round's tokens has renewed
    once (the role's ttl, --round-ttl, places the renewals after them)."""
    ttl = bench.args.round_ttl
    say(f"\n--- N = {len(names)}: until each token renewed once (ttl {ttl}: each renews about "
        f"{parse_duration(ttl).total_seconds() * 2 / 3:.0f} s after its mint) ---")
    log = bench.operator.logs[-1]  # the restarted process's, with --restart
    renewing = Renewing(names, namespace, watch, ttl, result.started, result.ready_seconds, 0, log,
                        bench.snapshot(), lateness_histogram(bench))
    return measure_renewals(bench, renewing, mints=0)


def lateness_line(values: list[float]) -> str:
    if not values:
        return "no renewals"
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    return (f"p50 {p50:.2f} s, p99 {p99:.2f} s, max {max(values):.2f} s over {len(values)} renewals"
            f"   (targets p50 <= {LATENESS_TARGETS[0]} s, p99 <= {LATENESS_TARGETS[1]} s)")


def print_punctuality(result: Punctuality, log: Path) -> None:
    window = result.window
    say(f"  every token renewed at least once after {result.renewed_seconds:.1f} s "
        f"({result.renewed_tokens} of {result.n}); leases past their end: {result.lapsed}")
    say(f"  renewal lateness (late_s of action=renew in {log}):")
    say(f"    all:                  {lateness_line(result.late)}")
    say(f"    after all were Ready: {lateness_line(result.late_after_ready)}")
    if result.histogram is None:
        say("  lateness histogram: not scraped (metrics off, or /metrics did not answer)")
    else:
        count, fast, ok = result.histogram
        say(f"  lateness histogram ({LATENESS}): {count} renewals counted (log lines: {len(result.late)}), "
            f"<= {LATENESS_TARGETS[0]} s: {fast}, <= {LATENESS_TARGETS[1]} s: {ok}")
    say(f"  Astra creates: {window.creates} ({window.create_requests} create requests) for {result.n} tokens")
    print_costs(window, lambda count: per_minute(count, window.seconds), "per minute")


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
        ("operator RSS before the ramp", lambda r: mib(r.rss_before_kib)),
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
        ("RSS / peak, deletion", lambda r: f"{mib(_w(r.delete).rss_kib)} / {mib(_w(r.delete).peak_rss_kib)}"),
        ("RSS a while after the deletion",
         lambda r: mib(r.rss_after_deletion_kib) if r.rss_after_deletion_kib is not None else "-"),
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
    bench.extra_env = {"ASTRA_OPERATOR_METRICS_ENABLED": "true" if enabled else "false"}
    bench.operator.restart(extra_env=bench.extra_env)
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


def print_phases_table(rounds: list[Round]) -> None:
    """The --restart and --punctuality figures of every round, beside issue 16's targets."""
    shown = [r for r in rounds if r.restart or r.punctuality]
    if not shown:
        return

    def restart(cell: Callable[[Restart], str]) -> Callable[[Round], str]:
        return lambda r: cell(r.restart) if r.restart else "-"

    def punctual(cell: Callable[[Punctuality], str]) -> Callable[[Round], str]:
        return lambda r: cell(r.punctuality) if r.punctuality else "-"

    def late(values: list[float]) -> str:
        if not values:
            return "none"
        return f"{percentile(values, 0.5):.2f}/{percentile(values, 0.99):.2f}/{max(values):.2f}"

    rows: list[tuple[str, Callable[[Round], str]]] = [
        ("restart: Astra creates (target 0)", restart(lambda x: str(x.window.create_requests))),
        ("restart: Secret writes (target 0)", restart(lambda x: str(x.secret_writes))),
        ("restart: AstraToken writes", restart(lambda x: str(sum(x.token_writes.values())))),
        ("restart: all passed, s (target 60)", restart(lambda x: f"{x.passed[1]:.1f}" if x.passed else "never")),
        ("restart: all Ready again, s", restart(lambda x: f"{x.ready[1]:.1f}" if x.ready else "never")),
        ("restart: Vault / Astra calls", restart(lambda x: f"{x.window.vault_total} / {x.window.astra_total}")),
        ("restart: Kubernetes calls", restart(lambda x: str(x.window.kube_total))),
        ("restart: new process CPU (s)", restart(lambda x: f"{x.window.operator_cpu:.1f}")),
        ("restart: new process RSS / peak", restart(lambda x: f"{mib(x.window.rss_kib)} / "
                                                             f"{mib(x.window.peak_rss_kib)}")),
        ("punctuality: ttl", punctual(lambda x: x.ttl)),
        ("punctuality: renewals (log / histogram)",
         punctual(lambda x: f"{len(x.late)} / {x.histogram[0] if x.histogram else '-'}")),
        ("punctuality: late p50/p99/max, s", punctual(lambda x: late(x.late))),
        ("  of them after all Ready", punctual(lambda x: late(x.late_after_ready))),
        ("punctuality: leases lapsed", punctual(lambda x: str(x.lapsed))),
    ]
    width = max(len(label) for label, _ in rows)
    say("\n=== restart and punctuality (issue 16 targets: restart 0 creates, 0 Secret writes, all passed within "
        "60 s; lateness p50/p99 <= 0.5/2 s) ===")
    say(f"{'N':<{width}}  " + "  ".join(f"{r.n:>18}" for r in shown))
    for label, cell in rows:
        say(f"{label:<{width}}  " + "  ".join(f"{cell(r):>18}" for r in shown))


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
        extra.update(memory_profile_env(args))
        for setting in getattr(args, "operator_env", None) or []:
            key, _, value = setting.partition("=")
            extra[key] = value
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
        manifests = org_and_role_manifests(fake, args.astra_rate_limit, getattr(args, "sweep_interval", None),
                                           getattr(args, "round_ttl", "1h"))
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
                        help="ASTRA_OPERATOR_DRIFT_CHECK_INTERVAL_SECONDS (default: the operator's own, 600)")
    parser.add_argument("--sweep-interval", default="15s",
                        help="the AstraOrg's spec.sweep.interval, so the rest phase holds several sweeps "
                             "(default 15s; the operator's default is 10m)")
    parser.add_argument("--no-webhooks", action="store_true",
                        help="run the operator without its admission webhooks (to see what they cost)")
    parser.add_argument("--compare-metrics", action="store_true",
                        help="run each N twice, the operator restarted with metrics off then on "
                             "(ASTRA_OPERATOR_METRICS_ENABLED), and print what the metrics cost")
    parser.add_argument("--restart-verify", action="store_true",
                        help="with --restart: after the arming, wait out the drift check interval (set it with "
                             "--drift-check-seconds) and report the tokens' verification passes")
    parser.add_argument("--restart", action="store_true",
                        help="after the rest of each N, stop the operator (SIGTERM) and start it again; count "
                             "creates, Secret and AstraToken writes and time until every token had a pass")
    parser.add_argument("--punctuality", action="store_true",
                        help="after each N's deletion, N tokens of a role with a short ttl until each renewed "
                             "once; renewal lateness p50/p99/max from the operator's log")
    parser.add_argument("--only-punctuality", action="store_true",
                        help="run only the --punctuality phase for each N (no ramp, rest or deletion round "
                             "before it): at 10,000 tokens that saves some 20 minutes")
    parser.add_argument("--after-deletion-seconds", type=float, default=0.0,
                        help="after each deletion, wait this long and report the operator's RSS again (memory "
                             "given back: idle connections close after 75 s)")
    parser.add_argument("--renewals", action="store_true",
                        help="after the rest (and the restart) of each N, until each token renewed once: renewal "
                             "lateness at N in the same round (set --round-ttl so renewals fall after them)")
    parser.add_argument("--round-ttl", default="1h",
                        help="ttl of the round's role (default 1h: no renewal within a round); with --renewals, "
                             "e.g. 18m at 10,000 tokens (make bench): each renews 12 minutes after its mint")
    parser.add_argument("--punctuality-ttl", default="60s",
                        help="ttl of the --punctuality role (default 60s: a renewal every 40 s or so)")
    parser.add_argument("--punctuality-max-ttl", default="1h",
                        help="maxTtl of the --punctuality role (default 1h, so it renews and does not rotate)")
    parser.add_argument("--astra-rate-limit", type=float, default=None, metavar="RPS",
                        help="the AstraOrg's spec.rateLimit.requestsPerSecond (burst 2x); default: the "
                             "operator's own (10/s, burst 20)")
    parser.add_argument("--operator-env", action="append", metavar="KEY=VALUE",
                        help="one more environment variable for the operator (repeatable), e.g. "
                             "MALLOC_ARENA_MAX=8 to compare memory settings")
    parser.add_argument("--memory-profile", metavar="DIR", default=None,
                        help="the operator under tracemalloc: a snapshot and memory figures before each ramp, "
                             "after it, after the rest and after the deletion, into DIR; summed up by "
                             "bench/memory_report.py at the end (slows the operator; its CPU and RSS figures "
                             "then include tracemalloc's)")
    parser.add_argument("--memory-frames", type=int, default=12,
                        help="with --memory-profile: frames kept per allocation (0: no tracemalloc, only RSS, "
                             "glibc's and pymalloc's figures, at full speed)")
    args = parser.parse_args(argv)
    if args.renewals and (args.punctuality or args.only_punctuality):
        parser.error("--renewals measures lateness within the round: use it or --punctuality, not both")
    return args


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
                        namespace = f"{name}-metrics-{mode}" if mode else name
                        result = Round(n=n) if args.only_punctuality else run_round(bench, n, namespace)
                        result.metrics = mode
                        rounds.append(result)
                        if args.punctuality or args.only_punctuality:
                            result.punctuality = run_punctuality(bench, n, f"{namespace}-punctual")
            finally:
                failures = bench.failures
                print_table(rounds)
                print_metrics_cost(rounds)
                print_phases_table(rounds)
                if args.memory_profile:
                    memory_report.report(Path(args.memory_profile), top=25)
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
