"""Delivery of a rotated token, against the in-memory systems: the old token outlives the rollout
of the workloads restarted for the new one, restarts of a shared workload are batched, and the
Secret has the shape its template asks for."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from test_reconcile_tokens import NS, ORG_ID, World

from astra_token_operator.config import OperatorConfig
from astra_token_operator.records import RecordState

S = timedelta(seconds=1)
M = timedelta(minutes=1)
DEPLOYMENT = [{"kind": "Deployment", "name": "web"}]


def world() -> World:
    return World(OperatorConfig(restart_window_seconds=30, rollout_timeout_seconds=600, rollout_poll_seconds=5,
                                drift_check_interval_seconds=86400))


async def passes(w: World, name: str, uid: str, seconds: float, **spec: Any) -> None:
    """Run the token's passes as its daemon would, for ``seconds`` of the fake clock."""
    end = w.clock() + timedelta(seconds=seconds)
    while w.clock() < end:
        wait = await w.pass_(name, uid=uid, **spec)
        w.clock.advance(max(1.0, min(wait, (end - w.clock()).total_seconds())))


async def rotate(w: World, name: str = "app", uid: str = "uid-1", **spec: Any) -> tuple[str, str]:
    """Ask for a rotation now; return (old client id, new client id)."""
    old = w.status(name)["clientId"]
    annotations = {"astra-tokens.io/rotate": "now", "astra-tokens.io/requested-by": "bob"}
    await w.pass_(name, uid=uid, annotations=annotations, **spec)
    return old, w.status(name)["clientId"]


async def test_the_old_token_outlives_the_rollout_then_goes_after_the_grace() -> None:
    w = world()
    w.kube.add_workload(NS, "Deployment", "web")
    await w.pass_(rolloutRestartTargets=DEPLOYMENT)
    assert w.kube.restarts == []  # a first token restarts nothing
    old, new = await rotate(w, rolloutRestartTargets=DEPLOYMENT)
    assert new != old
    await passes(w, "app", "uid-1", 60, rolloutRestartTargets=DEPLOYMENT)  # past the batch window
    assert len(w.kube.restarts) == 1
    await passes(w, "app", "uid-1", 20 * 60, rolloutRestartTargets=DEPLOYMENT)  # far past the grace
    assert w.astra.valid(old), "revoked while its workload was still rolling out"
    w.kube.finish_rollout(NS, "Deployment", "web")
    await passes(w, "app", "uid-1", 4 * 60, rolloutRestartTargets=DEPLOYMENT)
    assert w.astra.valid(old), "revoked before the grace period after the rollout"
    await passes(w, "app", "uid-1", 2 * 60, rolloutRestartTargets=DEPLOYMENT)
    assert not w.astra.valid(old)
    assert w.astra.valid(new)
    assert w.status()["restarts"] == 1


async def test_a_rollout_that_never_finishes_is_told_and_the_old_token_lives_to_its_max_expiry() -> None:
    w = world()
    w.kube.add_workload(NS, "Deployment", "web")
    await passes(w, "app", "uid-1", 2 * 3600, rolloutRestartTargets=DEPLOYMENT)  # renewals; max expiry 1h away
    old, _ = await rotate(w, rolloutRestartTargets=DEPLOYMENT)
    max_expiry = w.ledger.records(ORG_ID)[old].max_expires_at
    await passes(w, "app", "uid-1", 15 * 60, rolloutRestartTargets=DEPLOYMENT)
    stuck = [m for kind, reason, m in w.events.seen if reason == "RolloutStuck"]
    assert len(stuck) == 1
    assert "Deployment web" in stuck[0]
    rolled_out = next(c for c in w.status()["conditions"] if c["type"] == "RolledOut")
    assert (rolled_out["status"], rolled_out["reason"]) == ("False", "RolloutStuck")
    await passes(w, "app", "uid-1", (max_expiry - w.clock() - M).total_seconds(), rolloutRestartTargets=DEPLOYMENT)
    assert w.astra.valid(old)
    await passes(w, "app", "uid-1", 2 * 60, rolloutRestartTargets=DEPLOYMENT)
    assert w.ledger.records(ORG_ID)[old].state in (RecordState.REVOKED, RecordState.EXPIRED)
    assert "max expiry came before" in (w.ledger.records(ORG_ID)[old].reason or "")


async def test_two_tokens_rotated_within_the_window_restart_their_shared_workload_once() -> None:
    w = world()
    w.kube.add_workload(NS, "Deployment", "web")
    for name, uid in (("cart", "uid-cart"), ("checkout", "uid-checkout")):
        await w.pass_(name, uid=uid, rolloutRestartTargets=DEPLOYMENT)
    await rotate(w, "cart", "uid-cart", rolloutRestartTargets=DEPLOYMENT)
    w.clock.advance(10 * S)
    await rotate(w, "checkout", "uid-checkout", rolloutRestartTargets=DEPLOYMENT)
    for _ in range(6):
        for name, uid in (("cart", "uid-cart"), ("checkout", "uid-checkout")):
            await w.pass_(name, uid=uid, rolloutRestartTargets=DEPLOYMENT)
        w.clock.advance(10 * S)
    assert [(kind, name) for _, kind, name, _ in w.kube.restarts] == [("Deployment", "web")]
    workload_events = [reason for _, reason, _ in w.events.seen if reason.startswith("Deployment/web:")]
    assert workload_events == ["Deployment/web:RolloutRestarted"]


async def test_a_label_selected_target_restarts_every_match_and_no_other() -> None:
    w = world()
    w.kube.add_workload(NS, "Deployment", "web", labels={"app": "shop"})
    w.kube.add_workload(NS, "Deployment", "api", labels={"app": "shop"})
    w.kube.add_workload(NS, "Deployment", "other", labels={"app": "blog"})
    selected = [{"kind": "Deployment", "selector": {"matchLabels": {"app": "shop"}}}]
    await w.pass_(rolloutRestartTargets=selected)
    await rotate(w, rolloutRestartTargets=selected)
    await passes(w, "app", "uid-1", 60, rolloutRestartTargets=selected)
    assert sorted(name for _, _, name, _ in w.kube.restarts) == ["api", "web"]


async def test_tokens_without_targets_keep_the_fixed_grace() -> None:
    w = world()
    await w.pass_()
    old, _ = await rotate(w)
    await passes(w, "app", "uid-1", 4 * 60)
    assert w.astra.valid(old)
    await passes(w, "app", "uid-1", 2 * 60)
    assert not w.astra.valid(old)


async def test_the_env_preset_publishes_what_astras_sdks_read() -> None:
    w = world()
    await w.pass_(secret={"template": {"preset": "env"}})
    client_id = w.status()["clientId"]
    secret = w.kube.secrets[(NS, "app")]
    assert set(secret.data) == {"ASTRA_DB_APPLICATION_TOKEN", "ASTRA_DB_CLIENT_ID", "ASTRA_DB_CLIENT_SECRET"}
    assert w.kube.secret_value(NS, "app", "ASTRA_DB_CLIENT_ID") == client_id
    assert w.astra.tokens[client_id].token == w.kube.secret_value(NS, "app", "ASTRA_DB_APPLICATION_TOKEN")


async def test_a_custom_template_renders_byte_for_byte_and_follows_renewals() -> None:
    w = world()
    template = {"data": {"astra.conf": "org={{ orgName }}\nteam={{ metadata.team }}\nuntil={{ expiresAt }}\n"}}
    spec: dict[str, Any] = {"secret": {"template": template}, "metadata": {"team": "orders"}}
    await w.pass_(**spec)
    first = w.kube.secret_value(NS, "app", "astra.conf")
    assert first == f"org=acme\nteam=orders\nuntil={w.status()['leaseExpiresAt']}\n"
    w.clock.advance(41 * M)  # the renewal is due
    await w.pass_(**spec)
    assert w.status()["renewals"] == 1
    assert w.kube.secret_value(NS, "app", "astra.conf") == (
        f"org=acme\nteam=orders\nuntil={w.status()['leaseExpiresAt']}\n")
