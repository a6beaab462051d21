"""Liveness and readiness as the probes see them: a stuck event loop or a dead
Kopf watch stream fails liveness; readiness needs the webhook serving and Vault
answering, judged from the operator's own Vault calls (no call made at rest)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys

import httpx

from astra_token_operator.calls import CallRecord
from astra_token_operator.logformat import VOCABULARY, JsonLines
from astra_token_operator.observability.health import Health
from astra_token_operator.observability.metrics import OperatorMetrics
from astra_token_operator.observability.server import OpsServer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_loop_that_stopped_beating_fails_liveness() -> None:
    clock = Clock()
    health = Health(stall_seconds=30, clock=clock)
    health.beat()
    clock.now += 29
    assert health.liveness().ok
    clock.now += 2
    verdict = health.liveness()
    assert not verdict.ok
    assert "event loop has not run for 31 s" in verdict.message


async def test_a_watch_stream_that_died_fails_liveness_and_one_cancelled_does_not() -> None:
    health = Health()

    async def fails() -> None:
        raise RuntimeError("ERROR event from the watch stream")

    async def forever() -> None:
        await asyncio.Event().wait()

    dying = asyncio.create_task(fails(), name="watcher for astratokens.v1alpha1.astra-tokens.io@None")
    stopped = asyncio.create_task(forever(), name="watcher for secrets.v1@None")
    health.beat()
    assert health.liveness().ok
    stopped.cancel()
    await asyncio.gather(dying, stopped, return_exceptions=True)
    health.beat()
    verdict = health.liveness()
    assert not verdict.ok
    assert "watcher for astratokens.v1alpha1.astra-tokens.io@None has failed" in verdict.message


async def test_a_watcher_that_starts_later_is_watched_from_the_next_scan_of_all_tasks() -> None:
    clock = Clock()
    health = Health(task_scan_seconds=30, clock=clock)
    error = asyncio.Event()

    async def fails_when_told() -> None:
        await error.wait()
        raise RuntimeError("ERROR event from the watch stream")

    async def forever() -> None:
        await asyncio.Event().wait()

    first = asyncio.create_task(forever(), name="watcher for astraorgs.v1alpha1.astra-tokens.io@None")
    health.beat()
    later = asyncio.create_task(fails_when_told(), name="watcher for astratokens.v1alpha1.astra-tokens.io@None")
    await asyncio.sleep(0)
    clock.now += 30
    health.beat()  # the scan finds it
    error.set()
    await asyncio.gather(later, return_exceptions=True)
    clock.now += 1
    health.beat()  # between scans the known watchers are looked at
    verdict = health.liveness()
    assert not verdict.ok
    assert "watcher for astratokens.v1alpha1.astra-tokens.io@None has failed" in verdict.message
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)


def test_readiness_needs_the_webhook_serving_and_vault_answering() -> None:
    clock = Clock()
    health = Health(clock=clock)
    assert health.readiness().message == "the admission webhook server is not serving yet"
    health.webhook_started()
    assert health.readiness().ok  # no Vault call made yet: nothing says it is down
    health.call_finished(CallRecord("vault", "write record", "unavailable", 10.0))
    clock.now += 12
    verdict = health.readiness()
    assert not verdict.ok
    assert verdict.message == "Vault has not answered for 12 s (write record found Vault unavailable)"
    health.call_finished(CallRecord("kube", "read Secret", "ok", 0.01))  # another system says nothing of Vault
    assert not health.readiness().ok
    health.call_finished(CallRecord("vault", "read record", "refused", 0.01, status=404))  # an answer
    assert health.readiness().ok


async def test_vault_is_asked_only_while_it_is_thought_down() -> None:
    clock = Clock()
    health = Health(clock=clock, vault_recheck_seconds=30)
    asked: list[float] = []

    async def ping() -> None:
        asked.append(clock.now)
        health.call_finished(CallRecord("vault", "ping", "unavailable", 0.1))

    heartbeat = asyncio.create_task(health.run(ping, interval=0.001))
    await asyncio.sleep(0.02)
    assert asked == []  # at rest: no call
    health.call_finished(CallRecord("vault", "read record", "unavailable", 10))
    await asyncio.sleep(0.02)
    assert len(asked) == 1
    await asyncio.sleep(0.02)
    assert len(asked) == 1  # not again before vault_recheck_seconds
    clock.now += 31
    await asyncio.sleep(0.02)
    assert len(asked) == 2
    heartbeat.cancel()


def test_the_ops_port_serves_metrics_livez_and_readyz() -> None:
    health = Health(webhook_expected=False)
    metrics = OperatorMetrics()
    metrics.admission("validate-token", "allowed")
    server = OpsServer("127.0.0.1", 0, health, metrics.registry)
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        scraped = httpx.get(f"{base}/metrics", timeout=5).text
        assert 'astra_token_operator_admission_reviews_total{verdict="allowed",webhook="validate-token"} 1.0' \
            in scraped
        assert httpx.get(f"{base}/livez", timeout=5).status_code == 200
        health.call_finished(CallRecord("vault", "read record", "unavailable", 10))
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 503
        assert "Vault has not answered" in ready.text
    finally:
        server.stop()


def test_json_log_lines_have_the_same_keys_wherever_the_fields_come_from() -> None:
    formatter = JsonLines()

    def line(**extra: object) -> dict[str, object]:
        record = logging.LogRecord("astra_token_operator.x", logging.WARNING, __file__, 1, "hello %s", ("you",),
                                   None)
        for key, value in extra.items():
            setattr(record, key, value)
        parsed: dict[str, object] = json.loads(formatter.format(record))
        return parsed

    nested = line(astra={"action": "mint", "org": "o-1", "namespace": "team-a", "name": "app", "client_id": None})
    flat = line(org="o-1", action="create_token", client_id="c-1", status=201)
    kopf = line(k8s_ref={"apiVersion": "v1", "kind": "AstraToken", "name": "app", "namespace": "team-a",
                         "uid": "u-1"})
    for entry in (nested, flat, kopf):
        assert list(entry)[:4] == ["timestamp", "severity", "logger", "message"]
        assert entry["severity"] == "warn"
        assert entry["message"] == "hello you"
    assert {k: nested[k] for k in VOCABULARY if k in nested} == {"action": "mint", "org": "o-1",
                                                                 "namespace": "team-a", "name": "app"}
    assert (flat["action"], flat["client_id"], flat["status"]) == ("create_token", "c-1", 201)
    assert kopf["object"] == {"kind": "AstraToken", "namespace": "team-a", "name": "app", "uid": "u-1"}
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(formatter.format(record))["exception"]
