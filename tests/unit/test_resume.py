"""A token daemon's first turn after a restart: a Ready token's status arms its timer with no call
(policy/resume.py on tables), and the pass that follows verifies it, renews on time, revokes the
token it replaced on time and restores what changed while the operator was away (against the
in-memory systems of tests/unit/fakes.py, on the fake clock)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from test_reconcile_tokens import NS, ORG_ID, World

from astra_token_operator.config import OperatorConfig
from astra_token_operator.models import AstraTokenStatus
from astra_token_operator.policy.resume import GRACE_MARGIN, arm_from_status
from astra_token_operator.reconcile.observer import IgnoreObserver, TokenView
from astra_token_operator.reconcile.resume import resume_token
from astra_token_operator.reconcile.sweep import sweep_org
from astra_token_operator.records import RecordState

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)


# --- the rule, on tables ----------------------------------------------------------------------------

def ready_status(**changes: Any) -> AstraTokenStatus:
    raw: dict[str, Any] = {
        "conditions": [{"type": "Ready", "status": "True", "reason": "Renewed", "observedGeneration": 3}],
        "clientId": "cid", "orgId": ORG_ID, "roleName": "reader", "observedGeneration": 3,
        "generatedOn": NOW - 2 * H, "leaseExpiresAt": NOW + H, "maxExpiresAt": NOW + 10 * H,
        "nextAction": "renew", "nextActionAt": NOW + 40 * M,
    }
    raw.update(changes)
    return AstraTokenStatus.model_validate({k: v for k, v in raw.items() if v is not None})


def arm(status: AstraTokenStatus, *, generation: int = 3, requests: bool = False, targets: bool = False,
        grace: timedelta | None = 5 * M, verify_at: datetime = NOW + 9 * M) -> datetime | None:
    armed = arm_from_status(status, generation=generation, has_requests=requests, has_restart_targets=targets,
                            grace=grace, now=NOW, verify_at=verify_at)
    return armed.wake_at if armed is not None else None


def test_a_ready_token_sleeps_until_its_verification_or_its_next_action_whichever_is_first() -> None:
    assert arm(ready_status()) == NOW + 9 * M
    assert arm(ready_status(nextActionAt=NOW + 2 * M)) == NOW + 2 * M


def test_its_renew_before_is_read_from_its_status_for_the_overdue_alert() -> None:
    armed = arm_from_status(ready_status(), generation=3, has_requests=False, has_restart_targets=False,
                            grace=5 * M, now=NOW, verify_at=NOW + 9 * M)
    assert armed is not None
    assert armed.renew_before == 20 * M  # the lease ends at 60 min, the renewal is due at 40


def test_a_token_rotated_moments_ago_wakes_before_the_token_it_replaced_is_due_for_revocation() -> None:
    rotated = ready_status(generatedOn=NOW - M)
    assert arm(rotated) == NOW - M + 5 * M - GRACE_MARGIN
    assert arm(ready_status(generatedOn=NOW - 10 * M)) == NOW + 9 * M  # its grace ended long ago


@pytest.mark.parametrize(("why", "status", "changes"), [
    ("never issued", ready_status(clientId=None), {}),
    ("not Ready", ready_status(conditions=[{"type": "Ready", "status": "False", "reason": "AstraUnavailable",
                                            "observedGeneration": 3}]), {}),
    ("no Ready condition", ready_status(conditions=[]), {}),
    ("a spec not acted on yet", ready_status(), {"generation": 4}),
    ("Ready for an older spec", ready_status(conditions=[{"type": "Ready", "status": "True", "reason": "Issued",
                                                          "observedGeneration": 2}]), {}),
    ("an open request", ready_status(), {"requests": True}),
    ("workloads to restart", ready_status(), {"targets": True}),
    ("a rollout under way", ready_status(conditions=[
        {"type": "Ready", "status": "True", "reason": "Rotated", "observedGeneration": 3},
        {"type": "RolledOut", "status": "False", "reason": "RolloutStuck", "observedGeneration": 3}]), {}),
    ("its next action is due", ready_status(nextActionAt=NOW - S), {}),
    ("no next action", ready_status(nextActionAt=None, nextAction=None), {}),
    ("its lease has ended", ready_status(leaseExpiresAt=NOW - S), {}),
    ("an unreadable grace period", ready_status(), {"grace": None}),
])
def test_anything_the_status_cannot_vouch_for_gets_a_full_pass_at_once(
        why: str, status: AstraTokenStatus, changes: dict[str, Any]) -> None:
    assert arm(status, **changes) is None, why


# --- after a restart, against the in-memory systems ------------------------------------------------

@pytest.fixture
def world() -> World:
    return World()


@dataclass
class Seen(IgnoreObserver):
    views: dict[str, TokenView]

    def token_seen(self, uid: str, view: TokenView) -> None:
        self.views[uid] = view


def restarted(world: World) -> Seen:
    world.restart()
    seen = Seen({})
    world.deps = replace(world.deps, observer=seen)
    return seen


def calls(world: World) -> tuple[int, int, int, int]:
    return (world.ledger.total, sum(world.kube.reads.values()), world.kube.total_writes,
            sum(world.astra.calls.values()))


async def test_a_restart_arms_a_ready_token_with_no_call_and_verifies_it_within_the_drift_interval(
        world: World) -> None:
    await world.pass_()
    client_id = world.status()["clientId"]
    before = calls(world)
    seen = restarted(world)

    wait = resume_token(world.deps, world.body())
    assert wait is not None
    assert calls(world) == before  # nothing read, nothing written
    assert 0 <= wait <= world.config.drift_check_interval_seconds
    view = seen.views["uid-1"]
    assert (view.ready, view.reason, view.lease_expires_at) == (True, "Issued", world.ledger.records(ORG_ID)[
        client_id].lease_expires_at)
    assert view.renew_before_seconds == 20 * 60  # the AstraTokenRenewalOverdue alert needs it
    assert world.deps.runtime.active_tokens(org_id=ORG_ID) == 1  # the AstraOrg's count does not drop

    world.clock.advance(wait)
    vault, secret_reads = world.ledger.total, world.kube.reads["secret"]
    await world.pass_()  # the verification: the ledger and the Secret, read once; nothing to change
    assert world.ledger.total > vault
    assert world.kube.reads["secret"] == secret_reads + 1
    assert calls(world)[2:] == before[2:]  # no write, no Astra call
    assert world.status()["clientId"] == client_id
    assert world.deps.runtime.active_tokens(org_id=ORG_ID) == 1


async def test_a_token_armed_before_its_role_is_verified_still_reports_its_renew_before(world: World) -> None:
    await world.pass_()
    seen = restarted(world)
    world.deps.runtime.verified.forget_role("reader")  # the new process has not verified it yet
    assert resume_token(world.deps, world.body()) is not None
    renew_before = seen.views["uid-1"].renew_before_seconds
    assert renew_before is not None
    assert abs(renew_before - 20 * 60) <= 1  # from its status (times in whole seconds)


async def test_a_secret_deleted_while_the_operator_was_down_is_restored_by_the_verification(
        world: World) -> None:
    await world.pass_()
    client_id = world.status()["clientId"]
    del world.kube.secrets[(NS, "app")]
    restarted(world)
    wait = resume_token(world.deps, world.body())
    assert wait is not None
    world.clock.advance(wait)
    await world.pass_()
    assert world.published() == client_id
    assert world.astra.calls["create"] == 1


async def test_a_secret_deleted_after_the_restart_wakes_its_armed_token() -> None:
    world = World()
    await world.pass_()
    restarted(world)
    assert resume_token(world.deps, world.body()) is not None
    wake = world.deps.runtime.wakeups.register("uid-1", "token")
    del world.kube.secrets[(NS, "app")]
    world.deps.runtime.secret_changed("uid-1")  # the Secret watch's DELETED event
    assert wake.is_set()


async def test_a_renewal_due_soon_after_a_restart_happens_on_time() -> None:
    world = World(OperatorConfig(drift_check_interval_seconds=24 * 3600))
    await world.pass_()
    renew_at = datetime.fromisoformat(world.status()["nextActionAt"].replace("Z", "+00:00"))
    world.clock.advance(renew_at - world.clock() - 2 * M)
    restarted(world)
    wait = resume_token(world.deps, world.body())
    assert wait is not None
    assert world.clock() + timedelta(seconds=wait) == renew_at  # not the day-long verification spread
    world.clock.advance(wait)
    await world.pass_()
    assert world.status()["renewals"] == 1


async def test_the_token_a_rotation_replaced_is_revoked_when_its_grace_ends_across_a_restart() -> None:
    world = World(OperatorConfig(drift_check_interval_seconds=24 * 3600))
    first, second = await rotate(world)
    restarted(world)  # moments after the rotation: the first token has 5 minutes of grace left
    wait = resume_token(world.deps, world.body())
    assert wait is not None
    world.clock.advance(wait)
    while world.ledger.records(ORG_ID)[first].state is RecordState.SUPERSEDED:
        world.clock.advance(await world.pass_())
    revoked = world.ledger.records(ORG_ID)[first]
    assert revoked.state is RecordState.REVOKED
    assert revoked.revoked_at is not None
    assert revoked.revoke_after is not None
    assert revoked.revoked_at - revoked.revoke_after < 2 * S  # on time, not at the day-long verification
    assert world.astra.valid_ids() == {second}


async def test_a_rotation_whose_grace_ended_while_the_operator_was_down_is_finished_by_the_start_up_sweep(
) -> None:
    world = World(OperatorConfig(drift_check_interval_seconds=24 * 3600))
    first, second = await rotate(world)
    world.clock.advance(10 * M)  # down past the end of the grace period
    restarted(world)
    wake = world.deps.runtime.wakeups.register("uid-1", "token")  # its daemon, armed from its status
    wait = resume_token(world.deps, world.body())
    assert wait is not None
    assert wait > 10 * 60
    org = world.deps.runtime.verified.org("acme")
    assert org is not None
    await sweep_org(world.deps, org)  # Astra still lists the superseded token
    assert wake.is_set()
    await world.pass_()
    assert world.ledger.records(ORG_ID)[first].state is RecordState.REVOKED
    assert world.astra.valid_ids() == {second}


async def rotate(world: World) -> tuple[str, str]:
    """Passes, each when it asked, until the token rotates (max ttl 3 h); the clock stops there."""
    await world.pass_()
    first = world.status()["clientId"]
    while True:
        wait = await world.pass_()
        if world.status()["clientId"] != first:
            assert world.astra.valid(first)  # in its grace period
            return first, world.status()["clientId"]
        world.clock.advance(wait)


async def test_a_token_with_an_open_request_after_a_restart_gets_its_pass_at_once(world: World) -> None:
    await world.pass_()
    restarted(world)
    body = world.body(annotations={"astra-tokens.io/renew": "30m"})
    assert resume_token(world.deps, body) is None
