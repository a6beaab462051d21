"""The crash-safe mint (DESIGN.md §6) and the resolution of mints a crash interrupted.

Order: claim the slot (so a conflicting AstraToken never mints) -> write the
intent -> create in Astra with the intent's marker as description (and, with
native expiry, tokenExpiry = issuedAt + maxTtl) -> write the record -> point the
slot at it -> delete the intent. A crash anywhere leaves either nothing in
Astra, or a token findable by its marker: resolving the intent completes the
mint when the record exists, and revokes the token when it does not (its secret
was never seen, so it can never be used)."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
from dataclasses import dataclass
from datetime import datetime

from astra_token_operator.astra import (
    AstraAmbiguousCreate,
    AstraClient,
    AstraError,
    AstraTokenExpiryRejected,
    CreatedToken,
)
from astra_token_operator.lifecycle_log import log_action, warn_action
from astra_token_operator.models import TokenReason
from astra_token_operator.reconcile.context import TokenContext, created_by
from astra_token_operator.reconcile.errors import Blocked
from astra_token_operator.services import Services
from astra_token_operator.vault import (
    MintIntent,
    Principal,
    RecordAction,
    RecordState,
    SlotClaim,
    SlotStatus,
    TokenRecord,
    VaultCasMismatch,
    VaultError,
    VersionedRecord,
)

MAX_DESCRIPTION = 200


def failpoint(services: Services, name: str) -> None:
    """Crash-safety tests name points where the operator dies as if killed."""
    if name in services.config.failpoints:
        os.kill(os.getpid(), signal.SIGKILL)


def make_marker(context: TokenContext, nonce: str) -> str:
    """The description sent to Astra: names the owner and this attempt, so the token
    can be found again after a crash and a person reading the Astra UI knows whose it is.
    The nonce makes it unique, so it is never the part cut to fit."""
    prefix = context.org.spec.token_defaults.description_prefix or ""
    tail = f" mint={nonce}"
    body = f"{prefix}astra-token-operator {context.namespace}/{context.name}"
    return body[: MAX_DESCRIPTION - len(tail)] + tail


@dataclass(frozen=True)
class MintResult:
    current: VersionedRecord
    native_expiry: bool  # False when Astra refused tokenExpiry and the token has none


async def claim_slot(services: Services, context: TokenContext, now: datetime) -> None:
    """Take (org, role, logical name) for this AstraToken, or say who holds it."""
    claim = SlotClaim(client_id="", owner=context.owner, claimed_at=now)
    outcome = await services.ledger.claim_slot(context.org.org_id, context.role.role_name,
                                               context.logical_name, claim)
    if outcome.status is SlotStatus.HELD_BY:
        holder = outcome.holder.owner
        raise Blocked(TokenReason.CONFLICT,
                      f"org {context.org.org_id}, role {context.role.role_name!r} and logical name "
                      f"{context.logical_name!r} are already used by {holder.kind} {holder.namespace}/{holder.name}; "
                      "choose another spec.logicalName", retry_after=120)


async def mint(services: Services, context: TokenContext, now: datetime, *,
               supersedes: str | None = None, actor: Principal | None = None) -> MintResult:
    """Mint a token for `context` and record it; the slot then names it.
    Nothing is left in Astra that the ledger does not know, whatever fails."""
    await claim_slot(services, context, now)
    policy = context.policy
    native = context.org.spec.token_defaults.native_expiry
    intent = MintIntent(
        intent_id=context.uid, owner=context.owner, org_id=context.org.org_id, role_id=context.role.role_id,
        role_name=context.role.role_name, logical_name=context.logical_name,
        marker=make_marker(context, secrets.token_hex(6)), created_at=now,
        token_expiry=now + policy.max_ttl if native else None,
    )
    try:
        await services.ledger.write_intent(intent)  # check-and-set: refused while an earlier one is left
    except VaultCasMismatch:
        # An earlier attempt of ours left its intent (a revoke that failed): settle it, then go on.
        existing = await services.ledger.read_intent(intent.intent_id)
        if existing is not None:
            await resolve_intent(services, existing, context.client)
        await services.ledger.write_intent(intent)
    services.in_flight_intents.add(intent.intent_id)
    try:
        failpoint(services, "after-intent")
        created, native = await _create(services, context, intent)
        failpoint(services, "after-create")
        record = TokenRecord(
            token=created.token, client_secret=created.secret, client_id=created.client_id,
            org_id=context.org.org_id, role_name=context.role.role_name, role_id=context.role.role_id,
            logical_name=context.logical_name, metadata=dict(context.token.spec.metadata),
            generated_on=created.generated_on.isoformat(), ttl_seconds=int(policy.ttl.total_seconds()),
            max_ttl_seconds=int(policy.max_ttl.total_seconds()), issued_at=now,
            lease_expires_at=min(now + policy.ttl, now + policy.max_ttl), max_expires_at=now + policy.max_ttl,
            state=RecordState.ACTIVE, created_by=created_by(context.token), last_action=RecordAction.MINTED,
            actor=actor or Principal.operator(), owner=context.owner, secret_name=context.token.secret_name,
            supersedes=supersedes,
        )
        try:
            version = await services.ledger.write_record(record, expected_version=0)
        except VaultError:
            # Fail closed: a token the ledger cannot hold must not stay alive in Astra.
            if await _revoke_quietly(context.client, created.client_id, context):
                await _forget_intent_quietly(services, intent.intent_id)
            raise
        failpoint(services, "after-record")
        await services.ledger.update_slot(
            context.org.org_id, context.role.role_name, context.logical_name,
            SlotClaim(client_id=created.client_id, owner=context.owner, claimed_at=now))
        await services.ledger.delete_intent(intent.intent_id)
    finally:
        services.in_flight_intents.discard(intent.intent_id)
    log_action("mint", client_id=created.client_id, lease_id=record.lease_id, **context.log_fields)
    return MintResult(VersionedRecord(record, version), native)


async def _create(services: Services, context: TokenContext, intent: MintIntent) -> tuple[CreatedToken, bool]:
    client, role_ids = context.client, [context.role.role_id]
    try:
        try:
            return await client.create_token(role_ids=role_ids, description=intent.marker,
                                             token_expiry=intent.token_expiry), intent.token_expiry is not None
        except AstraTokenExpiryRejected:
            log_action("mint", message="Astra refused tokenExpiry; minting without native expiry",
                       **context.log_fields)
            return await client.create_token(role_ids=role_ids, description=intent.marker,
                                             token_expiry=None), False
    except AstraAmbiguousCreate:
        # The token may exist without us having seen its secret: find it by marker and revoke it.
        await resolve_intent(services, intent, client)
        raise Blocked(TokenReason.ASTRA_ERROR, "Astra did not answer a token creation; the attempt was "
                                               "reconciled and will be retried", retry_after=5) from None
    except AstraError:
        await _forget_intent_quietly(services, intent.intent_id)
        raise


@dataclass(frozen=True)
class IntentResolution:
    completed: str | None  # client id of a recorded token the intent had minted
    revoked: tuple[str, ...]  # client ids found in Astra without a record, revoked


async def resolve_intent(services: Services, intent: MintIntent, client: AstraClient, *,
                         owner_gone: bool = False) -> IntentResolution:
    """Settle a mint a crash (or an unanswered create) interrupted: complete it
    when its record was written, revoke what Astra holds otherwise. With
    `owner_gone`, even a recorded token is revoked: nobody will ever use it."""
    listed = await client.list_tokens()
    completed: str | None = None
    revoked: list[str] = []
    for info in (t for t in listed if t.description == intent.marker):
        found = await services.ledger.read_record(intent.org_id, info.client_id)
        if found is not None and not owner_gone:
            completed = info.client_id
            slot = await services.ledger.read_slot(intent.org_id, intent.role_name, intent.logical_name)
            stale = slot is not None and slot.claim.owner.uid == intent.owner.uid and slot.claim.client_id in (
                "", found.record.supersedes)
            if slot is None or stale:
                await services.ledger.update_slot(
                    intent.org_id, intent.role_name, intent.logical_name,
                    SlotClaim(client_id=info.client_id, owner=intent.owner, claimed_at=found.record.issued_at))
            log_action("recover", org=intent.org_id, role=intent.role_name, logical_name=intent.logical_name,
                       client_id=info.client_id, message="a crashed mint was completed from its record")
            continue
        await client.revoke_token(info.client_id)
        revoked.append(info.client_id)
        if found is not None:
            await services.ledger.write_record(
                found.record.model_copy(update={"state": RecordState.REVOKED, "last_action": RecordAction.REVOKED,
                                                "reason": "its AstraToken was deleted during the mint",
                                                "actor": Principal.operator()}),
                expected_version=found.version)
        log_action("rollback", org=intent.org_id, role=intent.role_name, logical_name=intent.logical_name,
                   client_id=info.client_id, message="revoked a token an interrupted mint left in Astra")
    await services.ledger.delete_intent(intent.intent_id)
    return IntentResolution(completed, tuple(revoked))


async def _revoke_quietly(client: AstraClient, client_id: str, context: TokenContext) -> bool:
    try:
        await client.revoke_token(client_id)
    except AstraError as exc:  # the intent stays: the next pass or the sweeper revokes it
        warn_action("rollback", client_id=client_id, message=f"revoke failed: {exc}",
                   **context.log_fields)
        return False
    return True


async def _forget_intent_quietly(services: Services, intent_id: str) -> None:
    # A leftover intent whose marker Astra does not know is deleted by the next resolution.
    with contextlib.suppress(VaultError):
        await services.ledger.delete_intent(intent_id)
