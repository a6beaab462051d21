"""The crash-safe mint (DESIGN.md §6), the resolution of mints a crash
interrupted, and the one way a token is revoked and recorded.

Order: claim the slot (so a conflicting AstraToken never mints; skipped when
the pass already knows the slot is ours) -> write the intent -> create in
Astra with the intent's marker as description (and, with native expiry,
tokenExpiry = issuedAt + maxTtl) -> write the record (its credentials first,
apart from it) -> point the slot at it -> delete the intent: six Vault
requests for a first token. A crash anywhere
leaves either nothing in Astra, or a token findable by its marker: resolving
the intent completes the mint when the record exists, and revokes the token
when it does not (its secret was never seen, so it can never be used)."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from astra_token_operator.astra import (
    AstraAmbiguousCreate,
    AstraError,
    AstraTokenExpiryRejected,
    CreatedToken,
    RevokeOutcome,
)
from astra_token_operator.config import OperatorConfig
from astra_token_operator.lifecycle_log import log_action, warn_action
from astra_token_operator.policy.leases import taken_by_its_own_expiry
from astra_token_operator.policy.markers import format_marker
from astra_token_operator.policy.token_plan import Blocked
from astra_token_operator.reconcile.errors import PassBlocked, StaleFacts
from astra_token_operator.reconcile.observer import Lifecycle
from astra_token_operator.reconcile.ports import AstraPort, Deps
from astra_token_operator.records import (
    MintIntent,
    OwnerRef,
    Principal,
    RecordAction,
    RecordState,
    SlotClaim,
    SlotStatus,
    TokenRecord,
    VersionedRecord,
)
from astra_token_operator.surface import TokenReason
from astra_token_operator.times import to_rfc3339
from astra_token_operator.vault import VaultCasMismatch, VaultError


def failpoint(config: OperatorConfig, name: str) -> None:
    """Crash-safety tests name points where the operator dies as if killed."""
    if name in config.failpoints:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class TokenIdentity:
    """Whose token, and under which (org, role, logical name): plain data, no client."""

    owner: OwnerRef
    org_id: str
    role_name: str
    role_id: str
    logical_name: str

    @property
    def log_fields(self) -> dict[str, str]:
        return {"org": self.org_id, "role": self.role_name, "logical_name": self.logical_name,
                "namespace": self.owner.namespace or "", "name": self.owner.name}

    def conflict(self, holder: OwnerRef) -> PassBlocked:
        return PassBlocked(Blocked(
            TokenReason.CONFLICT,
            f"org {self.org_id}, role {self.role_name!r} and logical name {self.logical_name!r} are already "
            f"used by {holder.kind} {holder.namespace}/{holder.name}; choose another spec.logicalName",
            retry_after=120))


@dataclass(frozen=True)
class MintOrder:
    """What to mint, besides who for."""

    ttl: timedelta
    max_ttl: timedelta
    metadata: Mapping[str, str]
    created_by: Principal | None
    secret_name: str
    native_expiry: bool
    description_prefix: str
    supersedes: str | None = None
    restart_pending: bool = False
    restart_stamp: str | None = None  # None: the mint's time
    actor: Principal | None = None  # who asked for this token (a rotate request); None: the operator
    restarts: int = 0  # workload restarts the AstraToken caused so far (carried from token to token)
    replacing: str | None = None  # why it replaces ``supersedes`` (the planner's Replacing value)


@dataclass(frozen=True)
class Minted:
    current: VersionedRecord
    slot_version: int
    native_expiry: bool  # False when Astra refused tokenExpiry and the token has none


def make_marker(identity: TokenIdentity, prefix: str, nonce: str, *, cluster_id: str) -> str:
    """The description sent to Astra (policy/markers.py): names this cluster, the owner and this
    attempt, so the sweep can prove the token is ours, a crash can find it again, and a person
    reading the Astra UI knows whose it is. The nonce makes it unique, so it is never cut."""
    owner = identity.owner
    return format_marker(prefix=prefix, cluster_id=cluster_id, namespace=owner.namespace or "", name=owner.name,
                         owner_uid=owner.uid, nonce=nonce)


async def mint(deps: Deps, client: AstraPort, identity: TokenIdentity, order: MintOrder, now: datetime, *,
               slot_version: int | None = None) -> Minted:
    """Mint a token and record it; the slot then names it. ``slot_version``: the pass knows the
    slot is ours at that version (a rotation), so it is not claimed again. Nothing is left in
    Astra that the ledger does not know, whatever fails."""
    ledger, runtime = deps.ledger, deps.runtime
    cluster_id = runtime.cluster_id
    if not cluster_id:
        raise RuntimeError("the cluster id is not known yet: nothing is minted without it")
    if slot_version is None:
        claim = SlotClaim(client_id="", owner=identity.owner, claimed_at=now, cluster_id=cluster_id)
        outcome = await ledger.claim_slot(identity.org_id, identity.role_name, identity.logical_name, claim)
        if outcome.status is SlotStatus.HELD_BY:
            raise identity.conflict(outcome.holder.owner)
        if outcome.status is SlotStatus.ALREADY_OURS:
            # An earlier pass of ours claimed it (a restart, a crash): read the ledger and decide again.
            raise StaleFacts("the slot was already ours")
        slot_version = outcome.version
    intent = MintIntent(
        intent_id=identity.owner.uid, owner=identity.owner, org_id=identity.org_id, role_id=identity.role_id,
        role_name=identity.role_name, logical_name=identity.logical_name,
        marker=make_marker(identity, order.description_prefix, secrets.token_hex(6), cluster_id=cluster_id),
        created_at=now,
        token_expiry=now + order.max_ttl if order.native_expiry else None,
    )
    try:
        await ledger.write_intent(intent)  # check-and-set: refused while an earlier one is left
    except VaultCasMismatch:
        # An earlier attempt of ours left its intent (a revoke that failed): settle it, then go on.
        existing = await ledger.read_intent(intent.intent_id)
        if existing is not None:
            await resolve_intent(deps, existing, client)
        await ledger.write_intent(intent)
    runtime.in_flight_intents.add(intent.intent_id)
    try:
        failpoint(deps.config, "after-intent")
        created, native = await _create(deps, client, intent, identity, first=order.supersedes is None)
        failpoint(deps.config, "after-create")
        record = TokenRecord(
            token=created.token, client_secret=created.secret, client_id=created.client_id,
            org_id=identity.org_id, role_name=identity.role_name, role_id=identity.role_id,
            logical_name=identity.logical_name, metadata=dict(order.metadata),
            generated_on=created.generated_on.isoformat(), ttl_seconds=int(order.ttl.total_seconds()),
            max_ttl_seconds=int(order.max_ttl.total_seconds()), issued_at=now,
            lease_expires_at=min(now + order.ttl, now + order.max_ttl), max_expires_at=now + order.max_ttl,
            state=RecordState.ACTIVE, created_by=order.created_by, last_action=RecordAction.MINTED,
            actor=order.actor or Principal.operator(), owner=identity.owner, secret_name=order.secret_name,
            supersedes=order.supersedes,
            restart_for=(order.restart_stamp or to_rfc3339(now)) if order.restart_pending else None,
            requested_by=order.actor, restarts=order.restarts, cluster_id=cluster_id,
            replacing=order.replacing,
        )
        try:
            version = await ledger.write_record(record, expected_version=0)
        except VaultError:
            # Fail closed: a token the ledger cannot hold must not stay alive in Astra.
            if await _revoke_quietly(client, created.client_id, identity):
                await _forget_intent_quietly(deps, intent.intent_id)
            raise
        failpoint(deps.config, "after-record")
        moved = await ledger.update_slot(
            identity.org_id, identity.role_name, identity.logical_name,
            SlotClaim(client_id=created.client_id, owner=identity.owner, claimed_at=now, cluster_id=cluster_id),
            expected_version=slot_version)
        await ledger.delete_intent(intent.intent_id)
    finally:
        runtime.in_flight_intents.discard(intent.intent_id)
    log_action("mint", client_id=created.client_id, lease_id=record.lease_id, **identity.log_fields)
    return Minted(VersionedRecord(record, version), moved.version, native)


async def _create(deps: Deps, client: AstraPort, intent: MintIntent, identity: TokenIdentity, *,
                  first: bool) -> tuple[CreatedToken, bool]:
    """``first``: nobody holds a token of this AstraToken yet (not a rotation): it goes first."""
    role_ids = [intent.role_id]
    try:
        try:
            created = await client.create_token(role_ids=role_ids, description=intent.marker,
                                                token_expiry=intent.token_expiry, first=first)
            return created, intent.token_expiry is not None
        except AstraTokenExpiryRejected:
            log_action("mint", message="Astra refused tokenExpiry; minting without native expiry",
                       **identity.log_fields)
            return await client.create_token(role_ids=role_ids, description=intent.marker, token_expiry=None,
                                             first=first), False
    except AstraAmbiguousCreate:
        # The token may exist without us having seen its secret: find it by marker and revoke it.
        await resolve_intent(deps, intent, client)
        raise PassBlocked(Blocked(TokenReason.ASTRA_ERROR, "Astra did not answer a token creation; the attempt "
                                                           "was reconciled and will be retried",
                                  retry_after=5)) from None
    except AstraError:
        await _forget_intent_quietly(deps, intent.intent_id)
        raise


@dataclass(frozen=True)
class IntentResolution:
    completed: str | None  # client id of a recorded token the intent had minted
    revoked: tuple[str, ...]  # client ids found in Astra without a record, revoked


async def resolve_intent(deps: Deps, intent: MintIntent, client: AstraPort, *,
                         owner_gone: bool = False) -> IntentResolution:
    """Settle a mint a crash (or an unanswered create) interrupted: complete it when its record
    was written, revoke what Astra holds otherwise. With ``owner_gone``, even a recorded token is
    revoked: nobody will ever use it."""
    ledger = deps.ledger
    listed = await client.list_tokens()
    completed: str | None = None
    revoked: list[str] = []
    where = {"org": intent.org_id, "role": intent.role_name, "logical_name": intent.logical_name}
    for info in (t for t in listed if t.description == intent.marker):
        found = await ledger.read_record(intent.org_id, info.client_id)
        if found is not None and not owner_gone:
            completed = info.client_id
            slot = await ledger.read_slot(intent.org_id, intent.role_name, intent.logical_name)
            stale = slot is not None and slot.claim.owner.uid == intent.owner.uid and slot.claim.client_id in (
                "", found.record.supersedes)
            if slot is None or stale:
                await ledger.update_slot(
                    intent.org_id, intent.role_name, intent.logical_name,
                    SlotClaim(client_id=info.client_id, owner=intent.owner, claimed_at=found.record.issued_at,
                              cluster_id=found.record.cluster_id))
            log_action("recover", client_id=info.client_id, message="a crashed mint was completed from its record",
                       **where)
            continue
        if found is not None:
            await revoke_and_record(deps, client, found, actor=Principal.operator(),
                                    reason="its AstraToken was deleted during the mint")
        else:
            await client.revoke_token(info.client_id)
        revoked.append(info.client_id)
        log_action("rollback", client_id=info.client_id,
                   message="revoked a token an interrupted mint left in Astra", **where)
    await ledger.delete_intent(intent.intent_id)
    return IntentResolution(completed, tuple(revoked))


async def revoke_and_record(deps: Deps, client: AstraPort, found: VersionedRecord, *, actor: Principal,
                            reason: str, state: RecordState = RecordState.REVOKED,
                            action: RecordAction = RecordAction.REVOKED) -> VersionedRecord:
    """Revoke the token in Astra, then record it revoked (who, why, when). A token Astra no longer
    knows is recorded as expired when its max expiry has passed (Astra's own tokenExpiry took it),
    else as deleted externally. The one place a revocation is written."""
    record = found.record
    try:
        outcome = await client.revoke_token(record.client_id)
        gone = outcome is RevokeOutcome.ALREADY_GONE
        now = deps.clock()
        if gone and state is RecordState.REVOKED and taken_by_its_own_expiry(record.max_expires_at, now):
            state, reason = RecordState.EXPIRED, f"{reason} (already gone from Astra: its max expiry had passed)"
        elif gone and state is RecordState.REVOKED:
            state, reason = RecordState.DELETED_EXTERNALLY, f"{reason} (already gone from Astra)"
        updated = record.revoked(at=now, actor=actor, reason=reason, state=state, action=action)
        version = await deps.ledger.write_record(updated, expected_version=found.version)
    except Exception:
        deps.observer.lifecycle(Lifecycle.REVOCATION, record.org_id, "error")
        raise
    deps.observer.lifecycle(Lifecycle.REVOCATION, record.org_id, "ok")
    log_action("revoke", org=record.org_id, role=record.role_name, logical_name=record.logical_name,
               client_id=record.client_id, lease_id=record.lease_id, message=f"{reason}; by {actor.username}")
    return VersionedRecord(updated, version)


async def _revoke_quietly(client: AstraPort, client_id: str, identity: TokenIdentity) -> bool:
    try:
        await client.revoke_token(client_id)
    except AstraError as exc:  # the intent stays: the next pass or the sweeper revokes it
        warn_action("rollback", client_id=client_id, message=f"revoke failed: {exc}", **identity.log_fields)
        return False
    return True


async def _forget_intent_quietly(deps: Deps, intent_id: str) -> None:
    # A leftover intent whose marker Astra does not know is deleted by the next resolution.
    with contextlib.suppress(VaultError):
        await deps.ledger.delete_intent(intent_id)
