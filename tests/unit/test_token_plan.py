"""The token pass's planner on tables: for what a pass has gathered, the next
step (work, or why it waits, or what to report and when to look again)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from astra_token_operator.policy.leases import Lease, renewal_policy
from astra_token_operator.policy.token_plan import (
    Blocked,
    ClearRequests,
    LedgerFacts,
    LedgerUnreadable,
    MarkSuperseded,
    Mint,
    OrgFacts,
    Presence,
    RecordMetadata,
    RecordRenewal,
    RefuseRenewal,
    Replacing,
    Requests,
    ResolveIntent,
    RestartTargets,
    RevokeCurrent,
    RevokeSuperseded,
    RoleFacts,
    SecretFacts,
    TokenFacts,
    TokenPlan,
    WriteSecret,
    plan_token_pass,
)
from astra_token_operator.records import (
    MintIntent,
    OwnerRef,
    RecordAction,
    RecordState,
    TokenRecord,
    VersionedRecord,
)

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
ORG_ID = "6f2d5b0e-1c3a-4b7e-9d2f-0a1b2c3d4e5f"
OWNER = OwnerRef(kind="AstraToken", namespace="team-a", name="app", uid="uid-1")
# ttl 1h, maxTtl 3h, renewBefore 20m, grace 5m: renew at 40m, rotate when a renewal gains < 20m.
POLICY = renewal_policy(role_ttl=H, role_max_ttl=3 * H, renew_before="20m", rotation_grace_period="5m")


def record(client_id: str = "current", **changes: Any) -> VersionedRecord:
    fields: dict[str, Any] = {
        "token": SecretStr("AstraCS:x:y"), "client_secret": SecretStr("s"), "client_id": client_id, "org_id": ORG_ID,
        "role_name": "reader", "logical_name": "app", "ttl_seconds": 3600, "max_ttl_seconds": 3 * 3600,
        "issued_at": T0, "lease_expires_at": T0 + H, "max_expires_at": T0 + 3 * H, "owner": OWNER,
    }
    version = changes.pop("version", 1)
    return VersionedRecord(TokenRecord(**{**fields, **changes}), version)


def published(current: VersionedRecord) -> SecretFacts:
    """The Secret as it stands when it publishes ``current`` exactly."""
    return SecretFacts(exists=True, client_id=current.record.client_id,
                       expires_at=current.record.lease_expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       data_matches=True, meta_matches=True)


def facts(*, current: VersionedRecord | None = None, previous: VersionedRecord | None = None,
          secret: SecretFacts | str | None = "published", **changes: Any) -> TokenFacts:  # noqa: S107
    if secret == "published":
        secret = published(current) if current is not None else None
    ledger = changes.pop("ledger", LedgerFacts(slot_holder_uid=OWNER.uid if current else None, current=current,
                                               previous=previous))
    base = TokenFacts(
        namespace="team-a", name="app", uid=OWNER.uid, generation=1, logical_name="app", metadata={},
        secret_name="app", has_restart_targets=False, owned_by_pod=False, requests=Requests(),
        status={"clientId": current.record.client_id, "secretName": "app"} if current else {},
        labels={}, org=OrgFacts(name="acme", presence=Presence.PUBLISHED, ready=True, reason="Verified",
                                org_id=ORG_ID),
        role=RoleFacts(name="reader", presence=Presence.PUBLISHED, ready=True, reason="Verified", org_ref="acme",
                       role_name="reader"),
        policy=POLICY, ledger=ledger, secret=secret if not isinstance(secret, str) else None,
        record_path_prefix=f"secret/astra-tokens/orgs/{ORG_ID}/tokens/")
    return replace(base, **changes)


def plan(f: TokenFacts, at: timedelta = 10 * M) -> TokenPlan:
    return plan_token_pass(f, T0 + at)


def intent() -> MintIntent:
    return MintIntent(intent_id=OWNER.uid, owner=OWNER, org_id=ORG_ID, role_id="r-1", role_name="reader",
                      logical_name="app", marker="astra-token-operator team-a/app mint=0123456789ab", created_at=T0)


# --- what a fresh AstraToken gets ------------------------------------------------------------------

def test_a_fresh_token_is_minted() -> None:
    assert plan(facts()).work == (Mint(None, Replacing.NOTHING),)


def test_a_fresh_token_with_a_request_already_on_it_answers_the_request_with_its_mint() -> None:
    work = plan(facts(requests=Requests(renew="2h", by="bob"))).work
    assert work == (Mint(None, Replacing.NOTHING, answers_requests=True),)


def test_a_freshly_minted_token_is_published_then_reported() -> None:
    current = record()
    assert plan(facts(current=current, secret=SecretFacts(exists=False), status={})).work == (
        WriteSecret(restore=False),)
    done = plan(facts(current=current, status={}))
    assert done.done
    assert done.report is not None
    assert done.report.status["clientId"] == "current"
    assert done.report.labels["astra-tokens.io/client-id"] == "current"


# --- an interrupted mint, at each step ----------------------------------------------------------

@pytest.mark.parametrize(("ledger", "expected"), [
    # killed after the slot was claimed, before the intent: nothing in Astra, mint again
    (LedgerFacts(slot_holder_uid=OWNER.uid), (Mint(None, Replacing.NOTHING),)),
    # after the intent (before or after the create): settle the intent first
    (LedgerFacts(slot_holder_uid=OWNER.uid, intent=intent()), (ResolveIntent(intent()),)),
    # after the record, before the slot moved: the intent is there still
    (LedgerFacts(slot_holder_uid=OWNER.uid, intent=intent(), current=None), (ResolveIntent(intent()),)),
])
def test_a_mint_interrupted_at_each_step_is_settled_before_anything_else(
        ledger: LedgerFacts, expected: tuple[object, ...]) -> None:
    assert plan(facts(ledger=ledger)).work == expected


def test_an_intent_whose_mint_runs_in_this_process_is_left_alone() -> None:
    running = LedgerFacts(slot_holder_uid=OWNER.uid, intent=intent(), intent_in_flight=True)
    assert plan(facts(ledger=running)).work == (Mint(None, Replacing.NOTHING),)


def test_killed_after_the_secret_the_next_pass_only_reports() -> None:
    current = record()
    assert plan(facts(current=current, status={})).done  # the Secret is there, the status is the report


# --- the lease ---------------------------------------------------------------------------------

def test_nothing_is_due_before_the_renewal_time() -> None:
    result = plan(facts(current=record()), at=30 * M)
    assert result.done
    assert result.report is not None
    assert result.report.wake_at <= T0 + 40 * M
    assert result.report.wake_at >= T0 + 40 * M - 30 * timedelta(seconds=1)  # jitter: earlier, never later


def test_a_due_renewal_is_recorded_and_republished() -> None:
    work = plan(facts(current=record()), at=41 * M).work
    assert work == (RecordRenewal(Lease(T0, T0 + 41 * M + H, T0 + 3 * H), ttl_seconds=3600, due_at=T0 + 40 * M),)


def test_a_renewal_that_cannot_gain_enough_rotates_instead() -> None:
    late = record(lease_expires_at=T0 + 2 * H + 50 * M, renewals=2)
    assert plan(facts(current=late), at=2 * H + 35 * M).work == (Mint("current", Replacing.ROTATION),)


def test_a_rotation_revokes_a_still_pending_superseded_token_first() -> None:
    late = record(lease_expires_at=T0 + 2 * H + 50 * M, renewals=2)
    older = record("older", state=RecordState.SUPERSEDED, revoke_after=T0 + 3 * H)
    work = plan(facts(current=late, previous=older), at=2 * H + 35 * M).work
    assert work == (RevokeSuperseded("a newer rotation replaced it"), Mint("current", Replacing.ROTATION))


def test_a_rotation_with_restart_targets_owes_them_a_restart() -> None:
    late = record(lease_expires_at=T0 + 2 * H + 50 * M, renewals=2)
    work = plan(facts(current=late, has_restart_targets=True), at=2 * H + 35 * M).work
    assert work == (Mint("current", Replacing.ROTATION, restart_pending=True),)


def test_after_a_rotation_the_new_token_is_published_then_restarts_then_the_old_one_is_superseded() -> None:
    new = record("new", supersedes="current", restart_for="new", issued_at=T0 + 2 * H,
                 lease_expires_at=T0 + 3 * H, max_expires_at=T0 + 5 * H)
    old = record(lease_expires_at=T0 + 2 * H + 50 * M)
    stale = SecretFacts(exists=True, client_id="current", expires_at="x", drift=("data key token differs",))
    assert plan(facts(current=new, previous=old, secret=stale), at=2 * H + 36 * M).work == (
        WriteSecret(restore=False),)
    work = plan(facts(current=new, previous=old), at=2 * H + 36 * M).work
    assert work == (RestartTargets("new"), MarkSuperseded(T0 + 2 * H + 41 * M))


def test_the_old_token_is_marked_superseded_only_once_the_new_one_is_published() -> None:
    new = record("new", supersedes="current", issued_at=T0 + 2 * H, lease_expires_at=T0 + 3 * H,
                 max_expires_at=T0 + 5 * H)
    old = record(lease_expires_at=T0 + 2 * H + 50 * M)
    unread = plan(facts(current=new, previous=old, secret=None), at=2 * H + 36 * M)
    assert unread.done  # nothing known of the Secret: the old token is not touched


def test_the_superseded_token_is_revoked_once_its_grace_is_over() -> None:
    new = record("new", supersedes="current", issued_at=T0 + 2 * H, lease_expires_at=T0 + 3 * H,
                 max_expires_at=T0 + 5 * H)
    old = record(state=RecordState.SUPERSEDED, revoke_after=T0 + 2 * H + 5 * M)
    waiting = plan(facts(current=new, previous=old), at=2 * H + 4 * M)
    assert waiting.done
    assert waiting.report is not None
    assert waiting.report.wake_at <= T0 + 2 * H + 5 * M
    assert plan(facts(current=new, previous=old), at=2 * H + 5 * M).work == (
        RevokeSuperseded("its rotation grace period ended"),)


def test_a_lease_that_ran_out_unattended_is_revoked_then_replaced() -> None:
    assert plan(facts(current=record()), at=H + M).work == (
        RevokeCurrent(RecordState.EXPIRED, RecordAction.EXPIRED, "the lease expired before it was renewed"),)
    expired = record(state=RecordState.EXPIRED, last_action=RecordAction.EXPIRED)
    assert plan(facts(current=expired), at=H + M).work == (Mint("current", Replacing.EXPIRED),)


def test_a_token_no_longer_live_in_the_ledger_is_replaced() -> None:
    revoked = record(state=RecordState.REVOKED, last_action=RecordAction.REVOKED)
    assert plan(facts(current=revoked)).work == (Mint("current", Replacing.LOST),)


def test_a_token_deleted_in_astra_behind_our_back_is_replaced_and_its_workloads_restarted() -> None:
    gone = record(state=RecordState.DELETED_EXTERNALLY, last_action=RecordAction.DELETED_EXTERNALLY)
    assert plan(facts(current=gone)).work == (Mint("current", Replacing.DELETED_EXTERNALLY),)
    assert plan(facts(current=gone, has_restart_targets=True)).work == (
        Mint("current", Replacing.DELETED_EXTERNALLY, restart_pending=True),)


def test_its_replacement_says_so_in_the_ready_condition_until_it_is_renewed() -> None:
    new = record("new", supersedes="current", replacing="deleted-externally")
    done = plan(facts(current=new, status={}))
    assert done.report is not None
    ready = done.report.status["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("True", "ReplacedAfterExternalDeletion")
    assert "replaces current, which was deleted in Astra outside the operator" in ready["message"]
    renewed = plan(facts(current=record("new", supersedes="current", replacing="deleted-externally", renewals=1),
                         status={}))
    assert renewed.report is not None
    assert renewed.report.status["conditions"][0]["reason"] == "Renewed"
    rotated = plan(facts(current=record("new", supersedes="current", replacing="rotation"), status={}))
    assert rotated.report is not None
    assert rotated.report.status["conditions"][0]["reason"] == "Rotated"


def test_a_token_whose_credentials_are_gone_from_the_ledger_is_revoked_then_replaced() -> None:
    current = record(token=None, client_secret=None)  # read with its credentials, and they were missing
    assert plan(facts(current=current, secret=None)).work == (
        RevokeCurrent(RecordState.REVOKED, RecordAction.REVOKED, "its token and client secret are missing from the "
                                                                 "ledger"),)
    revoked = record(token=None, client_secret=None, state=RecordState.REVOKED, last_action=RecordAction.REVOKED)
    assert plan(facts(current=revoked, secret=None)).work == (Mint("current", Replacing.LOST),)


# --- requests -----------------------------------------------------------------------------------

def test_revoke_now_revokes_the_current_and_the_superseded_token_first() -> None:
    older = record("older", state=RecordState.SUPERSEDED, revoke_after=T0 + H)
    work = plan(facts(current=record(), previous=older, requests=Requests(revoke=True, by="bob"))).work
    assert work == (RevokeCurrent(RecordState.REVOKED, RecordAction.REVOKED_MANUALLY,
                                  "revoked on request (astra-tokens.io/revoke)", "bob"),
                    RevokeSuperseded("an emergency revocation"))


def test_after_revoke_now_the_replacement_answers_the_request() -> None:
    revoked = record(state=RecordState.REVOKED, last_action=RecordAction.REVOKED_MANUALLY)
    work = plan(facts(current=revoked, requests=Requests(revoke=True, by="bob"))).work
    assert work == (Mint("current", Replacing.REVOKED, answers_requests=True),)


def test_a_manual_renewal_counts_from_now() -> None:
    work = plan(facts(current=record(), requests=Requests(renew="30m", by="bob")), at=10 * M).work
    assert work == (RecordRenewal(Lease(T0, T0 + 40 * M, T0 + 3 * H), manual=True, actor="bob"), ClearRequests())


def test_a_manual_renewal_past_the_max_is_capped_at_the_max() -> None:
    work = plan(facts(current=record(), requests=Requests(renew="10h", by="bob")), at=10 * M).work
    assert work == (RecordRenewal(Lease(T0, T0 + 3 * H, T0 + 3 * H), manual=True, actor="bob", capped_at_max=True),
                    ClearRequests())


@pytest.mark.parametrize(("increment", "why"), [
    ("soon", "is not an increment"),
    ("0", "is not an increment"),
])
def test_a_manual_renewal_that_cannot_be_read_is_refused(increment: str, why: str) -> None:
    work = plan(facts(current=record(), requests=Requests(renew=increment))).work
    assert isinstance(work[0], RefuseRenewal)
    assert why in work[0].message
    assert work[1:] == (ClearRequests(),)


def test_a_manual_renewal_of_a_lease_already_at_its_max_is_refused() -> None:
    at_max = record(lease_expires_at=T0 + 3 * H)
    work = plan(facts(current=at_max, requests=Requests(renew="1h")), at=10 * M).work
    assert work == (RefuseRenewal("the lease already ends at its max expiry; only a rotation gives more time"),
                    ClearRequests())


# --- metadata and the Secret --------------------------------------------------------------------

def test_edited_metadata_is_recorded_without_a_mint() -> None:
    work = plan(facts(current=record(), metadata={"team": "orders"})).work
    assert work == (RecordMetadata({"team": "orders"}),)


def test_a_deleted_secret_is_restored_from_the_ledger() -> None:
    assert plan(facts(current=record(), secret=SecretFacts(exists=False))).work == (
        WriteSecret(restore=True, drift=("the Secret was missing",)),)


def test_an_edited_secret_is_restored_from_the_ledger() -> None:
    current = record()
    edited = replace(published(current), data_matches=False, drift=("data key token differs",))
    assert plan(facts(current=current, secret=edited)).work == (
        WriteSecret(restore=True, drift=("data key token differs",)),)


def test_a_secret_behind_our_own_renewal_is_published_not_restored() -> None:
    current = record(lease_expires_at=T0 + H + 41 * M, renewals=1)
    behind = SecretFacts(exists=True, client_id="current", expires_at="2030-01-01T13:00:00Z",
                         drift=("data key expiresAt differs",))
    assert plan(facts(current=current, secret=behind), at=41 * M).work == (WriteSecret(restore=False),)


def test_only_labels_changed_on_the_secret_is_an_update_not_a_restore() -> None:
    current = record()
    relabelled = replace(published(current), meta_matches=False, drift=("label team differs",))
    assert plan(facts(current=current, secret=relabelled)).work == (WriteSecret(restore=False),)


def test_a_secret_owned_by_someone_else_is_a_conflict() -> None:
    foreign = SecretFacts(exists=True, owned=False)
    blocked = plan(facts(current=record(), secret=foreign)).blocked
    assert blocked is not None
    assert blocked.reason == "Conflict"
    assert "not owned by this AstraToken" in blocked.message


# --- why a token waits --------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "reason", "said", "quiet"), [
    ({"org": OrgFacts(name="acme", presence=Presence.PENDING)}, "OrgNotReady", "not verified yet", True),
    ({"org": OrgFacts(name="acme", presence=Presence.ABSENT)}, "OrgNotReady", "does not exist", False),
    ({"org": OrgFacts(name="acme", presence=Presence.PUBLISHED, ready=True, org_id=ORG_ID, sidecar=True)},
     "CallerModeMismatch", "sidecar mode", False),
    ({"role": RoleFacts(name="reader", presence=Presence.PENDING)}, "RoleNotReady", "not verified yet", True),
    ({"role": RoleFacts(name="reader", presence=Presence.ABSENT)}, "RoleNotReady", "does not exist", False),
    ({"role": RoleFacts(name="reader", presence=Presence.PUBLISHED, ready=True, org_ref="other",
                        role_name="reader")}, "RoleNotReady", "belongs to AstraOrg 'other'", False),
    ({"namespace_problem": "namespace team-a is not allowed by AstraOrg 'acme'"}, "NamespaceNotAllowed",
     "not allowed", False),
    ({"policy": None, "policy_problem": "token ttl 4h is longer than the role's maxTtl 3h"}, "InvalidSpec",
     "longer than", False),
    ({"ledger": LedgerUnreadable("Vault read ...: connection refused", "vault")}, "VaultUnavailable",
     "nothing is minted", False),
    ({"ledger": LedgerFacts(slot_holder_uid="someone-else", slot_holder="AstraToken team-b/other")}, "Conflict",
     "already used by AstraToken team-b/other", False),
])
def test_a_token_that_cannot_proceed_says_why_and_does_nothing(changes: dict[str, Any], reason: str, said: str,
                                                                 quiet: bool) -> None:
    result = plan(facts(current=record(), **changes))
    assert result.work == ()
    assert isinstance(result.blocked, Blocked)
    assert result.blocked.reason == reason
    assert said in result.blocked.message
    assert result.blocked.quiet is quiet


# --- while the org cannot reach Astra -------------------------------------------------------------
# Only the work that needs Astra waits (settling a mint, minting, revoking); the lease is ledger
# bookkeeping and goes on, and so do the Secret, restarts, marking superseded and the status.

UNREACHABLE = OrgFacts(name="acme", presence=Presence.PUBLISHED, ready=False, reason="Unreachable",
                       message="Astra is unreachable: 503", org_id=ORG_ID)
ROLE_VIA_ORG = RoleFacts(name="reader", presence=Presence.PUBLISHED, ready=False, reason="OrgNotReady",
                         message="AstraOrg 'acme' is not Ready", org_ref="acme", role_name="reader")


def outage(**changes: Any) -> TokenFacts:
    return facts(**{"org": UNREACHABLE, "role": ROLE_VIA_ORG, **changes})


def blocked_for_astra(result: TokenPlan) -> Blocked:
    assert result.work == ()
    assert result.blocked is not None
    assert result.blocked.reason == "OrgNotReady"
    assert "Astra is unreachable: 503; minting and revoking wait for it" in result.blocked.message
    return result.blocked


def test_an_outage_leaves_a_valid_token_ready() -> None:
    result = plan(outage(current=record()), at=30 * M)
    assert result.report is not None
    assert result.report.status["conditions"][0]["status"] == "True"


@pytest.mark.parametrize("role", [ROLE_VIA_ORG, RoleFacts(name="reader", presence=Presence.PUBLISHED, ready=True,
                                                          reason="Verified", org_ref="acme", role_name="reader")])
def test_an_outage_renews_when_the_renewal_is_due(role: RoleFacts) -> None:
    work = plan(outage(current=record(), role=role), at=41 * M).work
    assert work == (RecordRenewal(Lease(T0, T0 + 41 * M + H, T0 + 3 * H), ttl_seconds=3600, due_at=T0 + 40 * M),)


def test_an_outage_records_metadata_and_restores_the_secret() -> None:
    assert plan(outage(current=record(), metadata={"team": "a"})).work == (RecordMetadata({"team": "a"}),)
    assert plan(outage(current=record(), secret=SecretFacts(exists=False))).work == (
        WriteSecret(restore=True, drift=("the Secret was missing",)),)


def test_a_rotation_due_during_an_outage_renews_up_to_the_max_instead_then_waits() -> None:
    late = record(lease_expires_at=T0 + 2 * H + 50 * M, renewals=2)
    assert plan(outage(current=late), at=2 * H + 35 * M).work == (
        RecordRenewal(Lease(T0, T0 + 3 * H, T0 + 3 * H), ttl_seconds=3600, due_at=T0 + 150 * M),)
    at_max = record(lease_expires_at=T0 + 3 * H, renewals=3)
    blocked_for_astra(plan(outage(current=at_max), at=2 * H + 45 * M))
    assert plan(facts(current=at_max), at=2 * H + 45 * M).work == (Mint("current", Replacing.ROTATION),)


@pytest.mark.parametrize("current", [
    None,  # a new AstraToken: nothing to publish until Astra mints
    record(state=RecordState.DELETED_EXTERNALLY, last_action=RecordAction.DELETED_EXTERNALLY),
    record(state=RecordState.EXPIRED, last_action=RecordAction.EXPIRED),
], ids=["first-token", "deleted-externally", "expired"])
def test_a_mint_waits_for_astra(current: VersionedRecord | None) -> None:
    blocked_for_astra(plan(outage(current=current)))


def test_a_lease_found_lapsed_during_an_outage_waits_for_astra_to_revoke_it() -> None:
    blocked_for_astra(plan(outage(current=record()), at=H + M))


def test_a_revocation_asked_for_during_an_outage_waits() -> None:
    blocked = blocked_for_astra(plan(outage(current=record(), requests=Requests(revoke=True, by="bob"))))
    assert blocked.message.startswith("the revocation asked for waits")


def test_an_interrupted_mint_is_settled_after_the_outage_and_the_lease_goes_on_meanwhile() -> None:
    ledger = LedgerFacts(slot_holder_uid=OWNER.uid, intent=intent(), current=record())
    assert plan(outage(ledger=ledger), at=41 * M).work == (
        RecordRenewal(Lease(T0, T0 + 41 * M + H, T0 + 3 * H), ttl_seconds=3600, due_at=T0 + 40 * M),)
    assert plan(facts(ledger=ledger), at=41 * M).work == (ResolveIntent(intent()),)


def test_a_rotated_out_token_is_marked_superseded_but_its_revocation_waits_for_astra() -> None:
    new = record("new", supersedes="current", issued_at=T0 + 2 * H, lease_expires_at=T0 + 3 * H,
                 max_expires_at=T0 + 5 * H)
    old = record(lease_expires_at=T0 + 2 * H + 50 * M)
    assert plan(outage(current=new, previous=old), at=2 * H + 36 * M).work == (MarkSuperseded(T0 + 2 * H + 41 * M),)
    superseded = record(state=RecordState.SUPERSEDED, revoke_after=T0 + 2 * H + 5 * M)
    later = plan(outage(current=new, previous=superseded, status={}), at=2 * H + 10 * M)
    assert later.report is not None
    ready = later.report.status["conditions"][0]
    assert ready["status"] == "True"
    assert "revoking the superseded token current waits" in ready["message"]
    assert later.report.wake_at > T0 + 2 * H + 10 * M  # no busy loop on a revocation that cannot happen


def test_a_role_not_ready_for_its_own_reasons_still_blocks() -> None:
    missing = RoleFacts(name="reader", presence=Presence.PUBLISHED, ready=False, reason="RoleNotFoundInAstra",
                        message="no such role", org_ref="acme", role_name="reader")
    result = plan(outage(current=record(), role=missing))
    assert result.blocked is not None
    assert result.blocked.reason == "RoleNotReady"


def test_vault_down_waits_for_vault_to_answer_again() -> None:
    blocked = plan(facts(ledger=LedgerUnreadable("down", "vault"))).blocked
    assert blocked is not None
    assert blocked.cause == "vault"


# --- the report --------------------------------------------------------------------------------

def test_a_token_at_rest_reports_nothing_new() -> None:
    current = record()
    first = plan(facts(current=current, status={}))
    assert first.report is not None
    status = dict(first.report.status)
    labels = {k: v for k, v in first.report.labels.items() if v is not None}
    again = plan(facts(current=current, status=status, labels=labels), at=11 * M)
    assert again.report is not None
    assert dict(again.report.status) == {}
    assert dict(again.report.labels) == {}


def test_the_next_look_is_no_later_than_the_drift_check() -> None:
    result = plan(facts(current=record(), drift_check_at=T0 + 15 * M))
    assert result.report is not None
    assert result.report.wake_at == T0 + 15 * M


def test_a_rotate_request_rotates_now_for_its_requester_with_its_restart_stamp() -> None:
    work = plan(facts(current=record(), has_restart_targets=True, requests=Requests(rotate="batch-7", by="bob"))).work
    assert work == (Mint("current", Replacing.ROTATION, answers_requests=True, restart_pending=True,
                         restart_stamp="batch-7", actor="bob"),)


def test_a_rotate_request_of_now_restarts_with_the_new_client_id() -> None:
    older = record("older", state=RecordState.SUPERSEDED, revoke_after=T0 + H)
    work = plan(facts(current=record(), previous=older, requests=Requests(rotate="now", by="bob"))).work
    assert work == (RevokeSuperseded("a newer rotation replaced it"),
                    Mint("current", Replacing.ROTATION, answers_requests=True, actor="bob"))


def test_an_expired_lease_takes_its_superseded_predecessor_with_it() -> None:
    older = record("older", state=RecordState.SUPERSEDED, revoke_after=T0 + 3 * H)
    assert plan(facts(current=record(), previous=older), at=H + M).work == (
        RevokeSuperseded("the token that replaced it expired unattended"),
        RevokeCurrent(RecordState.EXPIRED, RecordAction.EXPIRED, "the lease expired before it was renewed"))
