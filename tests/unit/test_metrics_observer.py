"""The metrics a token's life leaves behind, read back as Prometheus would scrape
them: the reconcile layer against the in-memory systems (tests/unit/fakes.py)
with OperatorMetrics as its observer, and the clients' call records."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from test_reconcile_tokens import NS, ORG_ID, World

from astra_token_operator.calls import CallRecord, fan_out
from astra_token_operator.observability.metrics import OperatorMetrics
from astra_token_operator.reconcile.finalize import delete_token
from astra_token_operator.reconcile.observer import OrgView

M = timedelta(minutes=1)
P = "astra_token_operator_"


def scrape(metrics: OperatorMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition text, keyed by name and sorted labels."""
    text = generate_latest(metrics.registry).decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], metric: str, /,
          **labels: str) -> float | None:
    return samples.get((P + metric, tuple(sorted(labels.items()))))


def names(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> list[dict[str, str]]:
    return [dict(labels) for key, labels in samples if key == P + name]


@pytest.fixture
def world() -> tuple[World, OperatorMetrics]:
    world = World()
    metrics = OperatorMetrics(clock=lambda: world.clock().timestamp())
    metrics.org_seen(OrgView("acme", ORG_ID, True, "Verified", world.clock()))

    def observed() -> None:
        world.deps = dataclasses.replace(world.deps, observer=metrics)

    observed()
    restart = world.restart

    def restart_observed() -> None:
        restart()
        observed()

    world.restart = restart_observed  # type: ignore[method-assign]
    return world, metrics


TOKEN = {"org": "acme", "role": "reader", "namespace": NS, "name": "app"}


async def test_n_tokens_count_n_mints_and_each_shows_its_lease_and_ready(world: tuple[World, OperatorMetrics]) -> None:
    w, metrics = world
    for i in range(3):
        await _pass(w, f"app-{i}", uid=f"uid-{i}")
    samples = scrape(metrics)
    assert value(samples, "mints_total", org="acme", outcome="ok") == 3
    assert value(samples, "rotations_total", org="acme", outcome="ok") is None
    for i in range(3):
        status = w.status(f"app-{i}")
        labels = {**TOKEN, "name": f"app-{i}"}
        expiry = value(samples, "token_lease_expiry_timestamp_seconds", **labels)
        assert expiry == _unix(status["leaseExpiresAt"])
        assert value(samples, "token_max_expiry_timestamp_seconds", **labels) == _unix(status["maxExpiresAt"])
        assert value(samples, "token_renew_before_seconds", **labels) == 20 * 60
        assert value(samples, "token_ready", **labels, reason="Issued") == 1
    assert value(samples, "tokens", org="acme", role="reader", state="ready") == 3
    assert value(samples, "org_queue_depth", org="acme", action="renewal") == 0


async def _pass(w: World, name: str, uid: str) -> float:
    from astra_token_operator.reconcile.tokens import reconcile_token

    return await reconcile_token(w.deps, w.body(name, uid=uid), w.events)


def _unix(text: str) -> float:
    from astra_token_operator.times import from_rfc3339

    return from_rfc3339(text).timestamp()


async def test_a_renewal_counts_once_and_moves_the_expiry(world: tuple[World, OperatorMetrics]) -> None:
    w, metrics = world
    await w.pass_()
    before = value(scrape(metrics), "token_lease_expiry_timestamp_seconds", **TOKEN)
    w.clock.advance(41 * M)
    samples = scrape(metrics)
    assert value(samples, "org_queue_depth", org="acme", action="renewal") == 1  # due, not done yet
    await w.pass_()
    samples = scrape(metrics)
    assert value(samples, "renewals_total", org="acme", outcome="ok") == 1
    after = value(samples, "token_lease_expiry_timestamp_seconds", **TOKEN)
    assert before is not None
    assert after is not None
    assert after > before
    assert after == _unix(w.status()["leaseExpiresAt"])
    assert value(samples, "token_ready", **TOKEN, reason="Renewed") == 1
    assert value(samples, "org_queue_depth", org="acme", action="renewal") == 0


async def test_a_scheduled_renewal_reports_how_late_after_it_fell_due_it_was_decided(
    world: tuple[World, OperatorMetrics], caplog: pytest.LogCaptureFixture,
) -> None:
    w, metrics = world
    await w.pass_()
    assert value(scrape(metrics), "renewal_lateness_seconds_count") == 0  # exported before any renewal
    w.clock.advance(41 * M)  # due at 40 minutes (ttl 1 h, renewBefore 20 min): a minute late
    with caplog.at_level("DEBUG", logger="astra_token_operator.lifecycle"):
        await w.pass_()
    samples = scrape(metrics)
    assert value(samples, "renewal_lateness_seconds_count") == 1
    assert value(samples, "renewal_lateness_seconds_sum") == 60
    assert value(samples, "renewal_lateness_seconds_bucket", le="30.0") == 0
    assert value(samples, "renewal_lateness_seconds_bucket", le="60.0") == 1
    assert [r.getMessage() for r in caplog.records if "action=renew " in r.getMessage()
            and "late_s=60.00" in r.getMessage()]


async def test_a_revoke_request_counts_a_revocation_a_rotation_and_a_second_mint(
        world: tuple[World, OperatorMetrics]) -> None:
    w, metrics = world
    await w.pass_()
    await w.pass_(annotations={"astra-tokens.io/revoke": "now"})
    samples = scrape(metrics)
    assert value(samples, "revocations_total", org="acme", outcome="ok") == 1
    assert value(samples, "mints_total", org="acme", outcome="ok") == 2
    assert value(samples, "rotations_total", org="acme", outcome="ok") == 1


async def test_a_deleted_secret_counts_a_restore(world: tuple[World, OperatorMetrics]) -> None:
    w, metrics = world
    await w.pass_()
    del w.kube.secrets[(NS, "app")]
    w.deps.runtime.secret_changed("uid-1")
    await w.pass_()
    assert value(scrape(metrics), "secret_restores_total", org="acme", outcome="ok") == 1


async def test_vault_down_shows_not_ready_by_reason_and_keeps_the_last_known_lease(
        world: tuple[World, OperatorMetrics]) -> None:
    w, metrics = world
    await w.pass_()
    expiry = value(scrape(metrics), "token_lease_expiry_timestamp_seconds", **TOKEN)
    w.ledger.down = True
    w.restart()
    await w.pass_()
    samples = scrape(metrics)
    assert value(samples, "token_ready", **TOKEN, reason="VaultUnavailable") == 0
    assert value(samples, "token_ready", **TOKEN, reason="Issued") is None  # one series per token
    assert value(samples, "token_lease_expiry_timestamp_seconds", **TOKEN) == expiry
    assert value(samples, "tokens", org="acme", role="reader", state="not_ready") == 1


async def test_astra_down_counts_a_failed_mint_and_a_token_waiting_for_one(
        world: tuple[World, OperatorMetrics]) -> None:
    w, metrics = world
    w.astra.down = True
    await w.pass_()
    samples = scrape(metrics)
    assert value(samples, "mints_total", org="acme", outcome="error") == 1
    assert value(samples, "org_queue_depth", org="acme", action="mint") == 1


async def test_a_deleted_token_revokes_once_and_its_series_are_gone(world: tuple[World, OperatorMetrics]) -> None:
    w, metrics = world
    await w.pass_()
    await delete_token(w.deps, w.body(), w.events)
    samples = scrape(metrics)
    assert value(samples, "revocations_total", org="acme", outcome="ok") == 1
    for family in ("token_lease_expiry_timestamp_seconds", "token_max_expiry_timestamp_seconds", "token_ready",
                   "token_renew_before_seconds", "tokens"):
        assert names(samples, family) == [], family


def test_astra_calls_count_by_org_name_route_and_status_with_retries_and_rate_limit_waits() -> None:
    metrics = OperatorMetrics()
    metrics.org_seen(OrgView("acme", ORG_ID, True, "Verified", None))
    route = "GET /v2/clientIdSecrets"
    metrics.call_finished(CallRecord("astra", route, "ok", 0.2, org=ORG_ID, status=200, attempts=3,
                                     rate_limited_seconds=0.5))
    metrics.call_finished(CallRecord("astra", route, "refused", 0.1, org="other-org", status=401))
    samples = scrape(metrics)
    assert value(samples, "astra_calls_total", org="acme", route=route, status="200") == 1
    assert value(samples, "astra_calls_total", org="other-org", route=route, status="401") == 1  # not verified yet
    assert value(samples, "astra_retries_total", org="acme", route=route) == 2
    assert value(samples, "astra_rate_limit_waits_total", org="acme") == 1
    assert value(samples, "astra_rate_limit_wait_seconds_total", org="acme") == 0.5
    assert value(samples, "astra_call_duration_seconds_count", org="acme", route=route) == 1


def test_vault_and_kubernetes_calls_count_by_operation_verb_resource_and_outcome() -> None:
    metrics = OperatorMetrics()
    tell = fan_out(metrics.call_finished)
    tell(CallRecord("vault", "write record", "ok", 0.003))
    tell(CallRecord("vault", "write record", "unavailable", 10.0))
    tell(CallRecord("kube", "patch status astratokens", "ok", 0.01))
    tell(CallRecord("kube", "read Secret", "refused", 0.01, status=404))
    samples = scrape(metrics)
    assert value(samples, "vault_calls_total", operation="write record", outcome="ok") == 1
    assert value(samples, "vault_calls_total", operation="write record", outcome="unavailable") == 1
    assert value(samples, "vault_call_duration_seconds_count", operation="write record") == 2
    assert value(samples, "kube_calls_total", verb="patch status", resource="astratokens", outcome="ok") == 1
    assert value(samples, "kube_calls_total", verb="read", resource="Secret", outcome="refused") == 1


def test_orgs_show_ready_by_reason_verification_age_and_their_oldest_intent() -> None:
    now = [1_000_000.0]
    metrics = OperatorMetrics(clock=lambda: now[0])
    from datetime import UTC, datetime

    verified = datetime.fromtimestamp(now[0] - 120, UTC)
    metrics.org_seen(OrgView("acme", ORG_ID, False, "Unauthorized", verified))
    metrics.intents_listed(ORG_ID, [datetime.fromtimestamp(now[0] - 1000, UTC),
                                    datetime.fromtimestamp(now[0] - 10, UTC)])
    samples = scrape(metrics)
    assert value(samples, "org_ready", org="acme", reason="Unauthorized") == 0
    assert value(samples, "org_seconds_since_verified", org="acme") == 120
    assert value(samples, "org_last_verified_timestamp_seconds", org="acme") == now[0] - 120
    assert value(samples, "ledger_oldest_intent_age_seconds", org="acme") == 1000
    metrics.intents_listed(ORG_ID, [])
    assert value(scrape(metrics), "ledger_oldest_intent_age_seconds", org="acme") == 0
    metrics.org_forgotten("acme")
    assert names(scrape(metrics), "org_ready") == []


def test_admission_verdicts_count_by_webhook() -> None:
    metrics = OperatorMetrics()
    metrics.admission("validate-token", "allowed")
    metrics.admission("validate-token", "denied")
    metrics.admission("validate-token", "denied")
    samples = scrape(metrics)
    assert value(samples, "admission_reviews_total", webhook="validate-token", verdict="denied") == 2
    assert value(samples, "admission_reviews_total", webhook="validate-token", verdict="allowed") == 1


async def test_an_orphan_the_sweep_revokes_counts_a_revocation(world: tuple[World, OperatorMetrics]) -> None:
    from test_reconcile_sweep import ours

    from astra_token_operator.reconcile.sweep import sweep_org

    w, metrics = world
    orphan = w.astra.add(ours(), age=10 * M)
    org = w.deps.runtime.verified.org("acme")
    assert org is not None
    assert (await sweep_org(w.deps, org)).orphans_revoked == (orphan,)
    assert value(scrape(metrics), "revocations_total", org="acme", outcome="ok") == 1
