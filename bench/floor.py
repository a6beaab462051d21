"""Benchmark: the operator against the floor, on the real platform (control
plane + OpenBao, admission webhooks on) with the fake Astra DevOps API.

    .venv/bin/python bench/floor.py [--phases ramp steady] [--tokens 1000]
    .venv/bin/python bench/floor.py --profile /tmp/perf-profile   # the ramp with the operator under py-spy

- ramp: the floor (bench/floor_program.py: a plain asyncio program, in a
  process of its own, making exactly the calls a first mint needs), then the
  operator minting N AstraTokens applied at once, then the floor again;
  tokens/s of each, their ratio, and the operator's CPU per token.
- steady: AstraTokens applied one by one at half the operator's measured
  throughput for --steady-seconds; own create -> Ready p50/p99.
- fairness: 200 AstraTokens applied at once on an idle operator, then again
  while 1,000 tokens with a short ttl renew; own create -> Ready p99 of
  each, and whether any renewal was missed (a lease that lapsed, a token
  minted again).

The AstraOrg's Astra rate limit is 1,000/s so that Astra paces neither side.
Exit status 1 only on correctness failures (a token not Ready, a token
minted other than once, the operator died or logged an ERROR), never on
timing. bench/README.md says what each figure is."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # testplatform is a test helper package, not installed

import httpx  # noqa: E402
from floor_program import FLOOR_CRD, FLOOR_GROUP, FLOOR_KIND, FLOOR_PLURAL, FLOOR_VERSION, FloorTarget, mint_all  # noqa: E402
from kubernetes import client as k8s  # noqa: E402
from kubernetes.client.exceptions import ApiException  # noqa: E402
from lifecycle import (  # noqa: E402
    ORG,
    ROLE,
    Bench,
    BenchFailure,
    create_namespace,
    in_parallel,
    kubectl,
    mib,
    open_watch,
    percentile,
    print_costs,
    run_ramp,
    running_platform,
    say,
    token_body,
    wait_ready_cluster_object,
)
from token_watch import GROUP, PLURAL, VERSION, TokenWatch  # noqa: E402

from astra_token_operator.fake_astra import make_admin_token  # noqa: E402
from testplatform.kube import wait_for_namespace_gone  # noqa: E402
from testplatform.paths import venv_tool  # noqa: E402

FLOOR_ORG_ID = "5b1f8e0c-2d4a-4c6e-8f10-7a9b3c5d7e21"  # the floor's own org at the fake: the operator never sees it
ASTRA_RATE = 1000.0


# ------------------------------------------------------------------ the floor


def floor_target(bench: Bench) -> FloorTarget:
    fake = bench.fake
    token = fake.admin_token(FLOOR_ORG_ID)
    answer = httpx.get(f"{fake.url}/v2/organizations/roles", timeout=10, headers={"Authorization": f"Bearer {token}"})
    answer.raise_for_status()
    found = answer.json()
    roles = found if isinstance(found, list) else next(v for k, v in found.items() if k.lower() == "roles")
    keyed = [{k.lower(): v for k, v in role.items()} for role in roles]
    role_id = next(str(r["id"]) for r in keyed if r.get("name") == "R/W User")
    return FloorTarget(kubeconfig=str(bench.platform.controlplane.kubeconfig), vault_addr=bench.platform.openbao.addr,
                       vault_token=bench.platform.openbao.token, astra_url=fake.url, astra_org_id=FLOOR_ORG_ID,
                       astra_token=token, role_id=role_id)


def run_floor(bench: Bench, target: FloorTarget, n: int, namespace: str) -> tuple[float, float]:
    """N FloorTokens created first (untimed), then minted by the floor's own process; its tokens/s
    and its CPU seconds per token."""
    create_namespace(bench.api, namespace)
    names = [f"floor-{i:05d}" for i in range(n)]
    objects = bench.objects
    in_parallel(bench.args.apply_workers, names, lambda name: objects.create_namespaced_custom_object(
        FLOOR_GROUP, FLOOR_VERSION, namespace, FLOOR_PLURAL, {
            "apiVersion": f"{FLOOR_GROUP}/{FLOOR_VERSION}", "kind": FLOOR_KIND,
            "metadata": {"name": name, "namespace": namespace}, "spec": {}}))
    time.sleep(2)  # the creates' own traffic settles
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        seconds, cpu = pool.submit(mint_all, target, names, namespace).result()
    say(f"  floor ({namespace}): {n} tokens in {seconds:.1f} s = {n / seconds:.1f} tokens/s, "
        f"CPU {cpu:.1f} s = {cpu / n * 1000:.1f} ms per token")
    return n / seconds, cpu / n


def delete_namespaces(bench: Bench, namespaces: list[str], timeout: float) -> None:
    """The AstraTokens first (each revoked by its finalizer), then the namespaces: a namespace
    deleted with them in it would have the operator re-create their Secrets and post Events into
    a terminating namespace, refused and retried well into the next phase."""
    objects, core = bench.objects, k8s.CoreV1Api(bench.api)

    def delete(key: str) -> None:
        namespace, name = key.split("/")
        try:
            objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as exc:
            if exc.status != 404:
                raise

    for namespace in namespaces:  # one by one: a collection's deletion outlasts the apiserver's timeout
        found = objects.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
        in_parallel(bench.args.apply_workers, [f"{namespace}/{t['metadata']['name']}" for t in found], delete)
    deadline = time.monotonic() + timeout
    while any(objects.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, limit=1)["items"]
              for namespace in namespaces):
        if time.monotonic() > deadline:
            raise BenchFailure(f"AstraTokens in {namespaces} not gone after {timeout:.0f}s")
        bench.check_operator_alive()
        time.sleep(1)
    for namespace in namespaces:
        try:
            core.delete_namespace(namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
    for namespace in namespaces:
        try:
            wait_for_namespace_gone(bench.api, namespace, timeout=timeout)
        except TimeoutError as exc:
            bench.check(False, f"namespace {namespace} not gone: {exc}")


# ------------------------------------------------------------------ phases


def errors_in(problems: Counter[str]) -> int:
    return sum(n for key, n in problems.items() if not key.startswith("WARNING"))


def phase_ramp(bench: Bench, figures: dict[str, str]) -> float:
    """Floor, operator ramp, floor again. Returns the operator's tokens/s."""
    n = bench.args.tokens
    say(f"\n=== ramp: the floor, then the operator, then the floor again, N = {n} ===")
    target = floor_target(bench)
    floor_before, floor_cpu_before = run_floor(bench, target, n, "floor-before")
    watch, watch_api = open_watch(bench, "perf-ramp")
    try:
        result = run_ramp(bench, n, "perf-ramp", watch)
    finally:
        watch.stop()
        watch_api.close()
    floor_after, floor_cpu_after = run_floor(bench, target, n, "floor-after")
    window = result.ramp
    assert window is not None
    rate = n / result.ready_seconds
    floor_rate = (floor_before + floor_after) / 2
    figures["operator / floor (tokens/s)"] = (f"{rate / floor_rate:.2f} ({rate:.1f} / {floor_rate:.1f}; floor before "
                                              f"{floor_before:.1f}, after {floor_after:.1f})")
    floor_cpu = (floor_cpu_before + floor_cpu_after) / 2
    figures["operator CPU per token minted"] = (
        f"{window.operator_cpu / n * 1000:.1f} ms (floor {floor_cpu * 1000:.1f} ms: the same calls in a plain "
        f"program; x{window.operator_cpu / n / floor_cpu:.1f})")
    figures["ramp: own create->Ready p50 / p99"] = f"{result.created_p50:.2f} / {result.created_p99:.2f} s"
    figures["ramp: operator RSS peak"] = mib(window.peak_rss_kib)
    figures["ramp: Astra / Vault / Kubernetes calls per token"] = (
        f"{window.astra_total / n:.2f} / {window.vault_total / n:.2f} / {window.kube_total / n:.2f}")
    figures["ramp: admission webhook calls per token"] = f"{sum(window.webhook_calls.values()) / n:.2f}"
    bench.check(errors_in(window.problems) == 0, f"ramp: {errors_in(window.problems)} ERROR lines in the log")
    if not bench.args.profile:  # a profile is of the ramp alone: the platform goes with the tokens
        delete_namespaces(bench, ["floor-before", "floor-after", "perf-ramp"], timeout=120 + n)
    return rate


def phase_steady(bench: Bench, figures: dict[str, str], throughput: float) -> None:
    args = bench.args
    rate = max(1.0, throughput / 2)
    n = max(10, int(rate * args.steady_seconds))
    namespace = "perf-steady"
    say(f"\n=== steady: {n} AstraTokens applied one by one at {rate:.1f}/s (half the operator's throughput) ===")
    watch, watch_api = open_watch(bench, namespace)
    try:
        before = bench.snapshot()
        names = [f"{namespace}-{i:05d}" for i in range(n)]
        created: dict[str, float] = {}
        lock = threading.Lock()
        objects = bench.objects
        start = time.monotonic()

        def create(index: int) -> None:
            time.sleep(max(0.0, start + index / rate - time.monotonic()))
            objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                                    token_body(names[index], namespace))
            with lock:
                created[names[index]] = time.monotonic()

        with ThreadPoolExecutor(args.apply_workers) as pool:
            list(pool.map(create, range(n)))
        wanted = set(names)
        if not watch.wait(lambda: len(wanted & watch.ready_at.keys()) == n, 120 + n):
            raise BenchFailure(f"steady: only {watch.count_ready(wanted)} of {n} AstraTokens Ready")
        time.sleep(args.settle_seconds)
        window = bench.window(before, bench.snapshot())
        own = [watch.ready_at[name] - created[name] for name in names]
    finally:
        watch.stop()
        watch_api.close()
    say(f"  own create->Ready: p50 {percentile(own, 0.5):.2f} s, p90 {percentile(own, 0.9):.2f} s, "
        f"p99 {percentile(own, 0.99):.2f} s, max {max(own):.2f} s")
    print_costs(window, lambda count: f"{count / n:.2f}", "per token")
    figures[f"steady ({rate:.1f}/s, {n} tokens): own create->Ready p50 / p99"] = (
        f"{percentile(own, 0.5):.2f} / {percentile(own, 0.99):.2f} s")
    bench.check(window.creates == n, f"steady: {window.creates} Astra creates for {n} tokens")
    bench.check(errors_in(window.problems) == 0, f"steady: {errors_in(window.problems)} ERROR lines in the log")
    delete_namespaces(bench, [namespace], timeout=120 + n)


RENEW_ROLE = "bench-renew"


def apply_at_once(bench: Bench, namespace: str, n: int, role: str) -> tuple[list[str], dict[str, float],
                                                                            TokenWatch, k8s.ApiClient]:
    """N AstraTokens created 8 at a time in a fresh watched namespace, waited Ready; their names,
    when each create returned, the watch and its client (close both)."""
    watch, watch_api = open_watch(bench, namespace)
    names = [f"{namespace}-{i:05d}" for i in range(n)]
    objects = bench.objects
    created = in_parallel(bench.args.apply_workers, names, lambda name: objects.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, token_body(name, namespace, role)))
    wanted = set(names)
    if not watch.wait(lambda: len(wanted & watch.ready_at.keys()) == n, 120 + n):
        raise BenchFailure(f"only {watch.count_ready(wanted)} of {n} AstraTokens in {namespace} Ready")
    return names, created, watch, watch_api


def own_p99(names: list[str], created: dict[str, float], watch: TokenWatch) -> float:
    return percentile([watch.ready_at[name] - created[name] for name in names], 0.99)


def phase_fairness(bench: Bench, figures: dict[str, str]) -> None:
    args = bench.args
    new, renewing, ttl = args.fairness_new, args.fairness_renewing, args.renew_ttl
    say(f"\n=== fairness: {new} AstraTokens at once on an idle operator, then while {renewing} renew "
        f"(ttl {ttl} s) ===")
    names, created, watch, watch_api = apply_at_once(bench, "perf-idle", new, ROLE)
    idle = own_p99(names, created, watch)
    watch.stop()
    watch_api.close()
    delete_namespaces(bench, ["perf-idle"], timeout=120 + new)
    say(f"  idle operator: own create->Ready p99 {idle:.2f} s")

    kubectl(bench.platform, "apply", "-f", "-", stdin=json.dumps({
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "AstraRole", "metadata": {"name": RENEW_ROLE},
        "spec": {"orgRef": ORG, "astraRoleName": "R/W User", "ttl": f"{ttl}s", "maxTtl": "24h"}}))
    wait_ready_cluster_object(bench.objects, "astraroles", RENEW_ROLE, 60)
    r_names, _, r_watch, r_api = apply_at_once(bench, "perf-renewing", renewing, RENEW_ROLE)
    try:
        def renewed() -> int:
            return sum(1 for name in r_names
                       if int((r_watch.present.get(name, {}).get("status") or {}).get("renewals") or 0) > 0)

        r_watch.wait(lambda: renewed() >= renewing // 10, ttl)  # renewals under way
        say(f"  {renewing} renewing tokens Ready; {renewed()} renewed so far")
        before = bench.snapshot()
        l_names, l_created, l_watch, l_api = apply_at_once(bench, "perf-loaded", new, ROLE)
        loaded = own_p99(l_names, l_created, l_watch)
        l_watch.stop()
        l_api.close()
        say(f"  while renewing: own create->Ready p99 {loaded:.2f} s; waiting one ttl so every lease comes due")
        time.sleep(ttl)
        window = bench.window(before, bench.snapshot())
        now = time.time()
        lapsed = [name for name in r_names if not (
            (status := r_watch.present.get(name, {}).get("status") or {}).get("leaseExpiresAt")
            and datetime.fromisoformat(str(status["leaseExpiresAt"]).replace("Z", "+00:00")).timestamp() > now)]
        never = renewing - renewed()
    finally:
        r_watch.stop()
        r_api.close()
    delete_namespaces(bench, ["perf-renewing", "perf-loaded"], timeout=120 + renewing)
    print_costs(window, lambda count: f"{count / window.seconds * 60:.1f}", "per minute")
    figures[f"fairness: {new} new, own create->Ready p99 idle / while {renewing} renew"] = (
        f"{idle:.2f} / {loaded:.2f} s (x{loaded / idle:.1f})")
    figures["fairness: renewals missed (lease lapsed / never renewed / extra mints)"] = (
        f"{len(lapsed)} / {never} / {window.creates - new}")
    bench.check(window.creates == new, f"fairness: {window.creates} Astra creates for {new} new tokens")
    bench.check(not lapsed, f"fairness: {len(lapsed)} leases lapsed, e.g. {lapsed[:3]}")
    bench.check(errors_in(window.problems) == 0, f"fairness: {errors_in(window.problems)} ERROR lines in the log")


# ------------------------------------------------------------------ the profile


PROFILE_PARTS = [  # (part, needle in a frame), tried from the innermost frame outwards
    ("JSON logging", "logging/"), ("JSON logging", "pythonjsonlogger"), ("pydantic", "pydantic"),
    ("hvac + requests (Vault)", "hvac/"), ("hvac + requests (Vault)", "requests/"),
    ("kubernetes client", "kubernetes/client"), ("urllib3 (kubernetes client, hvac)", "urllib3/"),
    ("httpx (Astra)", "httpx/"), ("httpx (Astra)", "httpcore/"),
    ("admission webhooks (Kopf)", "kopf/_core/engines/admission"), ("admission webhooks (Kopf)", "kopf/_kits/webhooks"),
    ("aiohttp (Kopf's API client and webhook server)", "aiohttp/"),
    ("Kopf: watching", "kopf/_cogs/clients/watching"), ("Kopf: processing", "kopf/_core/reactor"),
    ("Kopf: handlers", "kopf/_core/actions"), ("Kopf: other", "kopf/"),
    ("operator: reconcile", "astra_token_operator/reconcile"), ("operator: policy", "astra_token_operator/policy"),
    ("operator: other", "astra_token_operator/"), ("thread pools", "concurrent/futures"),
    ("ssl", "ssl.py"), ("json", "json/"), ("asyncio", "asyncio/"), ("threading (idle waits)", "threading.py"),
]


def profile_part(frames: list[str]) -> str:
    for frame in reversed(frames):
        for part, needle in PROFILE_PARTS:
            if needle in frame:
                return part
    return "other"


def summarize_profile(raw: Path, top: int = 25) -> None:
    """py-spy's collapsed stacks (--gil: only the thread holding the interpreter lock, i.e. CPU in
    Python): by part (the innermost recognised frame) and by function (self)."""
    if not raw.exists():
        say(f"  no profile at {raw}")
        return
    parts: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if count_text.isdigit():
            frames = stack_text.split(";")
            parts[profile_part(frames)] += int(count_text)
            own[re.sub(r":\d+\)", ")", frames[-1])] += int(count_text)
    total = sum(parts.values()) or 1
    say(f"\n=== profile: {total} samples holding the GIL ({raw}) ===")
    for part, count in parts.most_common():
        say(f"  {count / total * 100:5.1f}%  {part}")
    say("  by function (self):")
    for name, count in own.most_common(top):
        say(f"  {count / total * 100:5.1f}%  {name}")


# ------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--phases", nargs="+", default=["ramp", "steady", "fairness"],
                        choices=["ramp", "steady", "fairness"])
    parser.add_argument("--tokens", type=int, default=1000, help="N of the ramp (default 1000)")
    parser.add_argument("--steady-seconds", type=float, default=60.0)
    parser.add_argument("--throughput", type=float, default=None,
                        help="tokens/s to base the steady rate on when the ramp phase is not run")
    parser.add_argument("--fairness-renewing", type=int, default=1000)
    parser.add_argument("--fairness-new", type=int, default=200)
    parser.add_argument("--renew-ttl", type=int, default=90,
                        help="ttl (s) of the renewing tokens: each renews about every 2/3 of it")
    parser.add_argument("--settle-seconds", type=float, default=5.0)
    parser.add_argument("--apply-workers", type=int, default=8)
    parser.add_argument("--ready-timeout", type=float, default=None)
    parser.add_argument("--no-webhooks", action="store_true", help="the operator without its admission webhooks")
    parser.add_argument("--profile", metavar="DIR", default=None,
                        help="only the ramp, with the operator under py-spy (its CPU then includes py-spy's)")
    args = parser.parse_args(argv)
    args.astra_rate_limit, args.drift_check_seconds = ASTRA_RATE, None  # what lifecycle's platform reads
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prefix = None
    if args.profile:
        args.phases = ["ramp"]
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        prefix = [str(venv_tool("py-spy")), "record", "--gil", "--idle", "--format", "raw", "--rate", "100",
                  "--output", str(Path(args.profile) / "operator.raw.txt"), "--"]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    figures: dict[str, str] = {}
    failures: list[str] = []
    try:
        with running_platform(args, more_orgs={FLOOR_ORG_ID: make_admin_token()}, command_prefix=prefix) as bench:
            kubectl(bench.platform, "apply", "-f", "-", stdin=json.dumps(FLOOR_CRD))
            kubectl(bench.platform, "wait", "--for=condition=Established", f"crd/{FLOOR_PLURAL}.{FLOOR_GROUP}",
                    "--timeout=60s")
            try:
                rate = args.throughput
                if "ramp" in args.phases:
                    rate = phase_ramp(bench, figures)
                if "steady" in args.phases:
                    phase_steady(bench, figures, rate or 20.0)
                if "fairness" in args.phases:
                    phase_fairness(bench, figures)
            finally:
                failures = bench.failures
                if args.profile:
                    os.kill(bench.pid, signal.SIGTERM)  # the operator alone: py-spy sees it exit and writes
                    assert bench.operator.child is not None
                    bench.operator.child.process.wait(timeout=120)
                    summarize_profile(Path(args.profile) / "operator.raw.txt")
    except BenchFailure as failure:
        failures.append(str(failure))
        say(f"FAILED: {failure}")
    say("\n=== figures ===")
    width = max((len(k) for k in figures), default=0)
    for key, value in figures.items():
        say(f"{key:<{width}}  {value}")
    for line in failures:
        say(f"FAILED: {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
