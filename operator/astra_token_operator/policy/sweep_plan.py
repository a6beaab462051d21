"""What one sweep of an org should do, decided from Astra's token list and the ledger: pure.

The sweep (reconcile/sweep.py) lists the org's tokens once, takes the ledger's slots and records
from its in-memory view, and asks ``plan_sweep``. The plan either asks to look closer first (read
records or intents the view does not hold, look up owners this process does not run, check the
credentials of tokens the list lacks), or, once nothing more needs looking at, says what to do and
what was found. Looking never changes anything; only the acts do, and each act reads what it acts
on again before acting.

The rules (DESIGN.md §6, docs/decisions.md):

* A listed token the ledger holds live (active or superseded) is *managed*, whatever its
  description says. The org's root token and tokens without a marker are *unmanaged*; tokens whose
  marker names another cluster are *foreign*: counted, never touched. So are *legacy* markers
  (minted before cluster ids) the ledger does not hold, and tokens recorded *abandoned*.
* An *orphan*: a listed token whose marker names this cluster, that the ledger does not hold at all,
  older than the safety age, whose mint is neither running in this process nor pending as an
  intent with that very marker (crash recovery settles those). Also a token the ledger records
  revoked, expired or deleted externally that Astra still lists past the safety age (Astra's list
  lags behind revocations). Orphans are revoked and recorded.
* *Deleted externally*: the current record of a slot whose owner exists is active, Astra does not
  list it, and Astra refuses its own credentials (a lagging list alone proves nothing). It is
  recorded so; the owner's daemon mints a replacement.
* A *stale slot*: its claim names this cluster, its owner (an AstraToken uid) no longer exists in
  the cluster, and it was claimed longer ago than the safety age. Its live tokens are revoked and
  the slot freed.
* A slot whose AstraToken is being deleted is left to its finalizer (which revokes in Astra first,
  then records it: in between, Astra's list lacks a token the ledger still holds active).
* A superseded token Astra still lists past its revocation time (with a margin) whose owner runs in
  this process: the owner is woken, and its pass revokes it.
* A sweep that cannot see (the list failed, the ledger could not be read) does nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from astra_token_operator.policy.markers import parse_marker
from astra_token_operator.records import OwnerRef, RecordState, TokenRecord

# A superseded token is revoked by its owner's pass at its revoke_after: one still listed this long
# after it is overdue (the owner's timer missed it), not merely caught between two steps.
OVERDUE_MARGIN = timedelta(seconds=30)

# --- facts -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unseen:
    """Why the sweep could not see (what it needed could not be read): it does nothing."""

    reason: str  # a SweepReason
    message: str


@dataclass(frozen=True)
class ListedToken:
    client_id: str
    description: str
    generated_on: datetime


@dataclass(frozen=True)
class SlotView:
    """One (role, logical name) slot of the org, as the ledger holds it."""

    role_name: str
    logical_name: str
    owner: OwnerRef
    client_id: str  # "": claimed, no token recorded yet
    claimed_at: datetime
    cluster_id: str | None  # None: claimed before cluster ids were recorded


@dataclass(frozen=True)
class SweepFacts:
    now: datetime
    cluster_id: str
    safety_age: timedelta
    root_client_id: str | None  # the org's root token: never touched
    listing: tuple[ListedToken, ...] | Unseen
    slots: tuple[SlotView, ...] | Unseen
    records: Mapping[str, TokenRecord | None] = field(default_factory=dict)  # client id -> record (None: none)
    fresh: frozenset[str] = frozenset()  # client ids whose record was read from Vault during this sweep
    intents: Mapping[str, str | None] = field(default_factory=dict)  # owner uid -> its intent's marker, read now
    in_flight: frozenset[str] = frozenset()  # owner uids whose mint runs in this process right now
    running: frozenset[str] = frozenset()  # owner uids this process runs a daemon for: they exist
    owners: Mapping[str, bool] = field(default_factory=dict)  # owner uid -> exists, looked up during this sweep
    finalizing: frozenset[str] = frozenset()  # owner uids being deleted: their finalizer revokes and frees
    credentials: Mapping[str, bool | None] = field(default_factory=dict)  # accepted by Astra (None: no answer)
    credential_checks: int = 20  # at most this many credential checks in one sweep


# --- the plan --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Look:
    """Read or ask before deciding; nothing is changed."""

    records: tuple[str, ...] = ()  # client ids whose record to read
    intents: tuple[str, ...] = ()  # owner uids whose mint intent to read
    owners: tuple[OwnerRef, ...] = ()  # AstraTokens to look up in the cluster
    credentials: tuple[str, ...] = ()  # client ids whose own credentials to try against Astra

    def __bool__(self) -> bool:
        return bool(self.records or self.intents or self.owners or self.credentials)


@dataclass(frozen=True)
class RevokeOrphan:
    token: ListedToken
    owner_uid: str | None
    reason: str


@dataclass(frozen=True)
class RecordDeletedExternally:
    slot: SlotView
    client_id: str


@dataclass(frozen=True)
class FreeStaleSlot:
    slot: SlotView


@dataclass(frozen=True)
class WakeOwner:
    """A superseded token past its revocation time that Astra still lists: its owner (running in
    this process) takes a pass, which revokes it. Its timer may have been armed from a status that
    predates the rotation's end (reconcile/resume.py), or a crash came in between."""

    owner_uid: str
    client_id: str


Act = RevokeOrphan | RecordDeletedExternally | FreeStaleSlot | WakeOwner


@dataclass(frozen=True)
class Found:
    """What the listing holds, by whose it is (acts not counted: the apply counts what it did)."""

    managed: int = 0
    foreign: int = 0
    unmanaged: int = 0
    notes: tuple[str, ...] = ()  # what waits, and why, for people


@dataclass(frozen=True)
class SweepPlan:
    unseen: Unseen | None = None
    look: Look = Look()
    acts: tuple[Act, ...] = ()
    found: Found | None = None  # set once nothing more needs looking at


# --- planning --------------------------------------------------------------------------------------


def plan_sweep(facts: SweepFacts) -> SweepPlan:
    if isinstance(facts.listing, Unseen):
        return SweepPlan(unseen=facts.listing)
    if isinstance(facts.slots, Unseen):
        return SweepPlan(unseen=facts.slots)
    look = _Looks()
    acts: list[Act] = []
    counts = {"managed": 0, "foreign": 0, "unmanaged": 0}
    notes: list[str] = []
    for token in facts.listing:
        verdict = _listed(facts, token, look, acts, notes)
        if verdict is not None:
            counts[verdict] += 1
    listed = {token.client_id for token in facts.listing}
    for slot in facts.slots:
        _slot(facts, slot, listed, look, acts, notes)
    if look:
        return SweepPlan(look=look.freeze())
    return SweepPlan(acts=tuple(acts), found=Found(notes=tuple(notes), **counts))


class _Looks:
    def __init__(self) -> None:
        self.records: dict[str, None] = {}
        self.intents: dict[str, None] = {}
        self.owners: dict[str, OwnerRef] = {}
        self.credentials: dict[str, None] = {}

    def __bool__(self) -> bool:
        return bool(self.records or self.intents or self.owners or self.credentials)

    def freeze(self) -> Look:
        return Look(tuple(self.records), tuple(self.intents), tuple(self.owners.values()), tuple(self.credentials))


def _listed(facts: SweepFacts, token: ListedToken, look: _Looks, acts: list[Act], notes: list[str]) -> str | None:
    """Classify one listed token (or plan to look closer, or to revoke it); the count it goes to,
    None when it is not counted (revoked by this sweep, or looked at first)."""
    if token.client_id == facts.root_client_id:
        return "unmanaged"
    known = token.client_id in facts.records
    record = facts.records.get(token.client_id)
    if record is not None and record.live:
        owner = record.owner.uid if record.owner is not None else None
        if (record.state is RecordState.SUPERSEDED and record.revoke_after is not None and owner in facts.running
                and facts.now - record.revoke_after > OVERDUE_MARGIN):
            acts.append(WakeOwner(owner, token.client_id))
        return "managed"
    marker = parse_marker(token.description)
    if record is not None:  # in our ledger, and not live
        if record.state is RecordState.ABANDONED:
            return "unmanaged"  # released by an admin on purpose: it stays valid
        since = record.revoked_at or record.issued_at
        if facts.now - since < facts.safety_age:
            return "managed"  # recorded gone moments ago: Astra's list lags behind revocations
        acts.append(RevokeOrphan(token, marker.owner_uid if marker else None,
                                 f"the ledger records it {record.state.value}, yet Astra still lists it"))
        return None
    if marker is None:
        return "unmanaged"
    if marker.cluster_id is not None and marker.cluster_id != facts.cluster_id:
        return "foreign"
    if not known or (marker.cluster_id is not None and token.client_id not in facts.fresh):
        look.records[token.client_id] = None  # the view does not know it: a mint since, or an orphan
        return None
    if marker.legacy:
        return "unmanaged"  # names no cluster, and the ledger does not hold it: not provably ours
    # Ours by its marker, and the ledger (read just now) has no record of it.
    if facts.now - token.generated_on < facts.safety_age:
        notes.append(f"token {token.client_id} is not in the ledger yet; it is left alone until it is "
                     f"{_seconds(facts.safety_age)} old (a mint may still be recording it)")
        return "managed"
    uid = marker.owner_uid
    if uid is not None and uid in facts.in_flight:
        return "managed"
    if uid is not None and uid not in facts.intents:
        look.intents[uid] = None
        return None
    if uid is not None and facts.intents[uid] == token.description:
        return "managed"  # its mint was interrupted: settling the intent decides it
    acts.append(RevokeOrphan(token, uid, "its description names this cluster but the ledger has no record of it"))
    return None


def _slot(facts: SweepFacts, slot: SlotView, listed: set[str], look: _Looks, acts: list[Act],
          notes: list[str]) -> None:
    uid = slot.owner.uid
    ours = slot.cluster_id == facts.cluster_id
    if uid in facts.finalizing:
        return  # its deletion is under way: the finalizer revokes its tokens and frees the slot
    if uid in facts.running:
        present = True
    elif uid in facts.owners:
        present = facts.owners[uid]
    elif ours:
        look.owners[uid] = slot.owner
        return
    else:
        present = True  # claimed before cluster ids: its owner is never judged gone
    if not present:
        if facts.now - slot.claimed_at < facts.safety_age:
            notes.append(f"the owner of slot {slot.role_name}/{slot.logical_name} is gone; the slot is freed once "
                         f"its claim is {_seconds(facts.safety_age)} old")
            return
        acts.append(FreeStaleSlot(slot))
        return
    client_id = slot.client_id
    if not client_id or client_id in listed:
        return
    if client_id not in facts.records:
        look.records[client_id] = None
        return
    record = facts.records[client_id]
    if record is None or record.state is not RecordState.ACTIVE:
        return
    if client_id not in facts.credentials:
        if len(facts.credentials) + len(look.credentials) < facts.credential_checks:
            look.credentials[client_id] = None
        else:
            notes.append(f"token {client_id} is not listed by Astra; it is checked by a later sweep")
        return
    verdict = facts.credentials[client_id]
    if verdict is False:
        acts.append(RecordDeletedExternally(slot, client_id))
    elif verdict is None:
        notes.append(f"token {client_id} is not listed by Astra, and checking its own credentials failed; "
                     "nothing was recorded")
    else:
        notes.append(f"token {client_id} is not listed by Astra, yet Astra accepts it (the list lags behind or "
                     "is partial); nothing was recorded")


def _seconds(delta: timedelta) -> str:
    return f"{delta.total_seconds():g}s"
