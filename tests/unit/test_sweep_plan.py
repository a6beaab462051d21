"""The sweep's planner on tables: from Astra's token list and the ledger as the sweep sees them,
what to look at closer, what to revoke, record or free, and what to count. Pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from astra_token_operator.policy.markers import format_marker
from astra_token_operator.policy.sweep_plan import (
    Found,
    FreeStaleSlot,
    ListedToken,
    Look,
    RecordDeletedExternally,
    RevokeOrphan,
    SlotView,
    SweepFacts,
    SweepPlan,
    Unseen,
    WakeOwner,
    plan_sweep,
)
from astra_token_operator.records import OwnerRef, RecordAction, RecordState, TokenRecord

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
ORG_ID = "6f2d5b0e-1c3a-4b7e-9d2f-0a1b2c3d4e5f"
US, THEM = "cluster-a", "cluster-b"
ROOT = "rootclientidrootclientid"
OWNER = OwnerRef(kind="AstraToken", namespace="team-a", name="app", uid="uid-1")


def marker(cluster: str = US, uid: str = OWNER.uid, nonce: str = "0123456789ab") -> str:
    return format_marker(prefix="", cluster_id=cluster, namespace="team-a", name="app", owner_uid=uid, nonce=nonce)


def listed(client_id: str, description: str = "", age: timedelta = H) -> ListedToken:
    return ListedToken(client_id, description, NOW - age)


def record(client_id: str, state: RecordState = RecordState.ACTIVE, **changes: Any) -> TokenRecord:
    fields: dict[str, Any] = {
        "token": SecretStr(f"AstraCS:{client_id}:x"), "client_secret": SecretStr("s"), "client_id": client_id,
        "org_id": ORG_ID, "role_name": "reader", "logical_name": "app", "ttl_seconds": 3600,
        "max_ttl_seconds": 86400, "issued_at": NOW - 2 * H, "lease_expires_at": NOW + H,
        "max_expires_at": NOW + 20 * H, "owner": OWNER, "state": state, "cluster_id": US,
    }
    return TokenRecord(**{**fields, **changes})


def slot(client_id: str = "cur", owner: OwnerRef = OWNER, cluster: str | None = US, age: timedelta = H) -> SlotView:
    return SlotView(role_name="reader", logical_name=owner.name, owner=owner, client_id=client_id,
                    claimed_at=NOW - age, cluster_id=cluster)


def facts(listing: tuple[ListedToken, ...] | Unseen = (), slots: tuple[SlotView, ...] | Unseen = (),
          **changes: Any) -> SweepFacts:
    base = SweepFacts(now=NOW, cluster_id=US, safety_age=2 * M, root_client_id=ROOT, listing=listing, slots=slots)
    return replace(base, **changes)


def found(result: SweepPlan) -> Found:
    assert not result.look, result.look
    assert result.found is not None
    return result.found


# --- counting what Astra lists ---------------------------------------------------------------------

def test_a_token_the_ledger_holds_is_managed_whatever_its_description() -> None:
    result = plan_sweep(facts(
        listing=(listed("cur", marker()), listed("old", "astra-token-operator team-a/app mint=0123456789ab"),
                 listed("rot", marker())),
        records={"cur": record("cur"), "old": record("old"), "rot": record("rot", RecordState.SUPERSEDED)}))
    assert result.acts == ()
    assert (found(result).managed, found(result).foreign, found(result).unmanaged) == (3, 0, 0)


def test_other_clusters_tokens_unmarked_tokens_and_the_root_token_are_counted_and_never_touched() -> None:
    result = plan_sweep(facts(listing=(
        listed(ROOT, "admin token"), listed("laptop", "my laptop"), listed("blank"),
        listed("theirs", marker(cluster=THEM)), listed("theirs2", marker(cluster=THEM, uid="uid-9")))))
    assert result.acts == ()
    assert result.look == Look()  # nothing of theirs is even looked up in our ledger
    assert (found(result).managed, found(result).foreign, found(result).unmanaged) == (0, 2, 3)


def test_a_legacy_token_the_ledger_does_not_hold_is_unmanaged_not_revoked() -> None:
    legacy = listed("legacy", "astra-token-operator team-a/app mint=0123456789ab", age=30 * H)
    asked = plan_sweep(facts(listing=(legacy,)))
    assert asked.look == Look(records=("legacy",))
    result = plan_sweep(facts(listing=(legacy,), records={"legacy": None}))
    assert result.acts == ()
    assert found(result).unmanaged == 1


# --- orphans --------------------------------------------------------------------------------------

def test_a_token_of_ours_the_view_does_not_know_is_read_from_the_ledger_first() -> None:
    token = listed("new", marker())
    assert plan_sweep(facts(listing=(token,))).look == Look(records=("new",))
    # the view's "no record" is not trusted for a revocation: read again
    assert plan_sweep(facts(listing=(token,), records={"new": None})).look == Look(records=("new",))
    # a mint recorded it meanwhile: managed
    assert found(plan_sweep(facts(listing=(token,), records={"new": record("new")}, fresh=frozenset({"new"})))
                 ).managed == 1


def test_an_orphan_past_the_safety_age_is_revoked_once_no_intent_claims_it() -> None:
    token = listed("orphan", marker())
    read = facts(listing=(token,), records={"orphan": None}, fresh=frozenset({"orphan"}))
    assert plan_sweep(read).look == Look(intents=(OWNER.uid,))
    result = plan_sweep(replace(read, intents={OWNER.uid: None}))
    assert result.acts == (RevokeOrphan(token, OWNER.uid,
                                        "its description names this cluster but the ledger has no record of it"),)
    assert found(result).managed == 0


def test_an_orphan_younger_than_the_safety_age_is_left_until_it_is_older() -> None:
    young = listed("young", marker(), age=2 * M - S)
    result = plan_sweep(facts(listing=(young,), records={"young": None}, fresh=frozenset({"young"})))
    assert result.acts == ()
    assert found(result).managed == 1
    assert "left alone until it is 120s old" in found(result).notes[0]
    aged = plan_sweep(facts(listing=(replace(young, generated_on=NOW - 2 * M),), records={"young": None},
                            fresh=frozenset({"young"}), intents={OWNER.uid: None}))
    assert [type(act) for act in aged.acts] == [RevokeOrphan]


@pytest.mark.parametrize("changes", [
    {"in_flight": frozenset({OWNER.uid})},  # its mint runs in this process right now
    {"intents": {OWNER.uid: marker()}},  # its mint was interrupted: the intent's resolution decides
], ids=["in-flight", "pending-intent"])
def test_a_token_whose_mint_is_not_settled_is_left_to_it(changes: dict[str, Any]) -> None:
    token = listed("minting", marker())
    result = plan_sweep(facts(listing=(token,), records={"minting": None}, fresh=frozenset({"minting"}), **changes))
    assert result.acts == ()
    assert found(result).managed == 1


def test_another_attempts_intent_does_not_shield_an_orphan() -> None:
    token = listed("orphan", marker(nonce="aaaaaaaaaaaa"))
    result = plan_sweep(facts(listing=(token,), records={"orphan": None}, fresh=frozenset({"orphan"}),
                              intents={OWNER.uid: marker(nonce="bbbbbbbbbbbb")}))
    assert [type(act) for act in result.acts] == [RevokeOrphan]


@pytest.mark.parametrize(("state", "since", "revoked"), [
    (RecordState.REVOKED, 10 * M, True),  # recorded revoked, yet alive in Astra
    (RecordState.EXPIRED, 10 * M, True),
    (RecordState.DELETED_EXTERNALLY, 10 * M, True),
    (RecordState.REVOKED, 30 * S, False),  # Astra's list lags behind a revocation
    (RecordState.ABANDONED, 10 * M, False),  # released by an admin: stays valid on purpose
])
def test_a_listed_token_the_ledger_records_gone(state: RecordState, since: timedelta, revoked: bool) -> None:
    token = listed("gone", marker())
    result = plan_sweep(facts(listing=(token,), records={"gone": record("gone", state, revoked_at=NOW - since)}))
    assert [type(act) for act in result.acts] == ([RevokeOrphan] if revoked else [])


def test_the_root_token_is_never_revoked_even_with_our_marker() -> None:
    result = plan_sweep(facts(listing=(listed(ROOT, marker()),), records={ROOT: None}, fresh=frozenset({ROOT}),
                              intents={OWNER.uid: None}))
    assert result.acts == ()
    assert found(result).unmanaged == 1


# --- deleted externally ----------------------------------------------------------------------------

def test_an_active_token_astra_does_not_list_is_confirmed_with_its_own_credentials() -> None:
    missing = facts(slots=(slot("cur"),), records={"cur": record("cur")}, running=frozenset({OWNER.uid}))
    assert plan_sweep(missing).look == Look(credentials=("cur",))
    assert plan_sweep(replace(missing, credentials={"cur": False})).acts == (RecordDeletedExternally(slot("cur"),
                                                                                                     "cur"),)


def test_a_token_astra_still_accepts_is_not_deleted_however_its_list_lags() -> None:
    lagging = facts(slots=(slot("cur"),), records={"cur": record("cur", issued_at=NOW - S)},
                    running=frozenset({OWNER.uid}), credentials={"cur": True})
    assert plan_sweep(lagging).acts == ()
    assert "yet Astra accepts it (the list lags behind or is partial)" in found(plan_sweep(lagging)).notes[0]


def test_a_credential_check_that_failed_records_nothing_and_says_so() -> None:
    result = plan_sweep(facts(slots=(slot("cur"),), records={"cur": record("cur")}, running=frozenset({OWNER.uid}),
                              credentials={"cur": None}))
    assert result.acts == ()
    assert "checking its own credentials failed" in found(result).notes[0]


def test_listed_or_no_longer_active_tokens_are_not_checked() -> None:
    result = plan_sweep(facts(
        listing=(listed("cur", marker()),),
        slots=(slot("cur"), slot("sup", owner=OWNER.model_copy(update={"uid": "uid-2", "name": "b"}))),
        records={"cur": record("cur"), "sup": record("sup", RecordState.SUPERSEDED)},
        running=frozenset({OWNER.uid, "uid-2"})))
    assert result.look == Look()
    assert result.acts == ()


def test_credential_checks_per_sweep_are_bounded() -> None:
    owners = [OWNER.model_copy(update={"uid": f"uid-{i}", "name": f"app-{i}"}) for i in range(5)]
    result = plan_sweep(facts(slots=tuple(slot(f"c{i}", owner=o) for i, o in enumerate(owners)),
                              records={f"c{i}": record(f"c{i}") for i in range(5)},
                              running=frozenset(o.uid for o in owners), credential_checks=3))
    assert result.look == Look(credentials=("c0", "c1", "c2"))
    later = plan_sweep(facts(slots=tuple(slot(f"c{i}", owner=o) for i, o in enumerate(owners)),
                             records={f"c{i}": record(f"c{i}") for i in range(5)},
                             running=frozenset(o.uid for o in owners), credential_checks=3,
                             credentials={"c0": True, "c1": True, "c2": True}))
    assert sum("checked by a later sweep" in note for note in found(later).notes) == 2


# --- stale slots -------------------------------------------------------------------------------------

def test_an_owner_this_process_does_not_run_is_looked_up() -> None:
    result = plan_sweep(facts(slots=(slot("cur"),), records={"cur": record("cur")},
                              listing=(listed("cur", marker()),)))
    assert result.look == Look(owners=(OWNER,))


def test_the_slot_of_an_owner_gone_from_the_cluster_is_freed_past_the_safety_age() -> None:
    gone = facts(slots=(slot("cur"),), records={"cur": record("cur")}, listing=(listed("cur", marker()),),
                 owners={OWNER.uid: False})
    assert plan_sweep(gone).acts == (FreeStaleSlot(slot("cur")),)
    young = replace(gone, slots=(slot("cur", age=M),))
    assert plan_sweep(young).acts == ()
    assert "freed once its claim is 120s old" in found(plan_sweep(young)).notes[0]


def test_a_slot_claimed_before_cluster_ids_or_by_another_cluster_is_never_freed() -> None:
    for cluster in (None, THEM):
        result = plan_sweep(facts(slots=(slot("cur", cluster=cluster),), records={"cur": record("cur")},
                                  listing=(listed("cur", marker()),)))
        assert result.look == Look()  # its owner is not even looked up
        assert result.acts == ()


def test_a_present_owners_slot_is_left_alone() -> None:
    result = plan_sweep(facts(slots=(slot("cur"),), records={"cur": record("cur")},
                              listing=(listed("cur", marker()),), owners={OWNER.uid: True}))
    assert result.acts == ()


def test_an_owner_being_deleted_is_left_to_its_finalizer() -> None:
    """Its finalizer revokes in Astra before it records the revocation: meanwhile Astra's list
    lacks the token while the ledger still says active. Not a deletion behind our back."""
    result = plan_sweep(facts(slots=(slot("cur"),), records={"cur": record("cur")}, owners={OWNER.uid: True},
                              finalizing=frozenset({OWNER.uid})))
    assert (result.look, result.acts) == (Look(), ())


def test_a_slot_without_a_token_yet_whose_owner_is_gone_is_freed_too() -> None:
    result = plan_sweep(facts(slots=(slot(""),), owners={OWNER.uid: False}))
    assert result.acts == (FreeStaleSlot(slot("")),)


# --- when the sweep cannot see ------------------------------------------------------------------------

@pytest.mark.parametrize("unseen", [
    {"listing": Unseen("ListFailed", "Astra's token list could not be read (503)")},
    {"slots": Unseen("LedgerUnreadable", "the ledger could not be read")},
], ids=["list-failed", "ledger-unreadable"])
def test_a_sweep_that_cannot_see_does_nothing(unseen: dict[str, Unseen]) -> None:
    everything = facts(listing=(listed("orphan", marker()),), slots=(slot("cur"),), records={"orphan": None},
                       fresh=frozenset({"orphan"}), intents={OWNER.uid: None}, owners={OWNER.uid: False})
    assert [type(a) for a in plan_sweep(everything).acts] == [RevokeOrphan, FreeStaleSlot]
    result = plan_sweep(replace(everything, **unseen))
    assert result.unseen == next(iter(unseen.values()))
    assert (result.acts, result.look, result.found) == ((), Look(), None)


def test_looking_converges() -> None:
    """Every look the plan asks for, once answered, is never asked again."""
    current = facts(listing=(listed("orphan", marker()), listed("theirs", marker(cluster=THEM))),
                    slots=(slot("cur"), slot("x", owner=OWNER.model_copy(update={"uid": "uid-2", "name": "b"}))),
                    records={"cur": record("cur")})
    for _ in range(5):
        result = plan_sweep(current)
        if not result.look:
            break
        look = result.look
        current = replace(
            current,
            records={**current.records, **dict.fromkeys(look.records)},
            fresh=current.fresh | frozenset(look.records),
            intents={**current.intents, **dict.fromkeys(look.intents)},
            owners={**current.owners, **{o.uid: o.uid == OWNER.uid for o in look.owners}},
            credentials={**current.credentials, **dict.fromkeys(look.credentials, False)})
    assert not result.look
    assert {type(act) for act in result.acts} == {RevokeOrphan, RecordDeletedExternally, FreeStaleSlot}
    assert found(result).foreign == 1


def test_a_record_of_ours_is_still_ours_after_an_action_recorded() -> None:
    deleted = record("cur", RecordState.DELETED_EXTERNALLY, last_action=RecordAction.DELETED_EXTERNALLY,
                     revoked_at=NOW)
    result = plan_sweep(facts(slots=(slot("cur"),), records={"cur": deleted}, running=frozenset({OWNER.uid})))
    assert (result.acts, result.look) == ((), Look())  # recorded: the owner's daemon replaces it


@pytest.mark.parametrize(("overdue", "running", "woken"), [
    (2 * M, True, True),
    (10 * S, True, False),  # its owner's pass may be revoking it right now
    (-M, True, False),  # still in its grace period
    (2 * M, False, False),  # its owner runs elsewhere (or is gone: the slot rules decide)
])
def test_a_superseded_token_still_listed_past_its_revocation_time_wakes_its_owner(
        overdue: timedelta, running: bool, woken: bool) -> None:
    old = record("old", RecordState.SUPERSEDED, revoke_after=NOW - overdue)
    plan = plan_sweep(facts((listed("cur"), listed("old")), (slot("cur"),),
                            records={"cur": record("cur"), "old": old},
                            running=frozenset({OWNER.uid}) if running else frozenset(),
                            owners={OWNER.uid: True}))
    assert found(plan).managed == 2
    assert plan.acts == ((WakeOwner(OWNER.uid, "old"),) if woken else ())
