"""AstraToken status as a pure function of the ledger record and the lease
decision; patches carry only what changed, so a pass at rest writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from astra_token_operator.models import AstraToken, AstraTokenStatus, Condition, set_condition
from astra_token_operator.policy.leases import Decision, WaitUntil
from astra_token_operator.reconcile.context import TokenContext
from astra_token_operator.records import TokenRecord
from astra_token_operator.surface import CONDITION_READY, TokenReason
from astra_token_operator.times import to_rfc3339


def _ready_reason(record: TokenRecord) -> TokenReason:
    if record.renewals > 0:
        return TokenReason.RENEWED
    return TokenReason.ROTATED if record.supersedes else TokenReason.ISSUED


def ready_status(context: TokenContext, record: TokenRecord, decision: Decision, now: datetime,
                 vault_path: str) -> AstraTokenStatus:
    token = context.token
    waiting = decision if isinstance(decision, WaitUntil) else None
    message = f"token {record.client_id} is valid; lease until {to_rfc3339(record.lease_expires_at)}"
    if waiting is not None:
        message += f"; next: {waiting.next.value} at {to_rfc3339(waiting.at)}"
    conditions = set_condition(
        token.status.conditions,
        Condition(type=CONDITION_READY, status="True", reason=_ready_reason(record), message=message,
                  observed_generation=token.metadata.generation),
        now,
    )
    return AstraTokenStatus(
        conditions=conditions,
        client_id=record.client_id,
        org_id=record.org_id,
        role_name=record.role_name,
        logical_name=record.logical_name,
        generated_on=_parse_generated_on(record.generated_on) or record.issued_at,
        lease_id=record.lease_id,
        lease_duration=record.ttl_seconds,
        lease_expires_at=record.lease_expires_at,
        max_expires_at=record.max_expires_at,
        last_renewed_at=record.last_renewed_at,
        renewals=record.renewals,
        secret_name=token.secret_name,
        vault_path=vault_path,
        created_by=record.created_by.username if record.created_by else None,
        next_action=waiting.next.value if waiting else None,
        next_action_at=waiting.at if waiting else None,
        observed_generation=token.metadata.generation,
    )


def blocked_status(token: AstraToken, reason: str, message: str, now: datetime) -> AstraTokenStatus:
    conditions = set_condition(
        token.status.conditions,
        Condition(type=CONDITION_READY, status="False", reason=reason, message=message,
                  observed_generation=token.metadata.generation),
        now,
    )
    return AstraTokenStatus(conditions=conditions, observed_generation=token.metadata.generation)


def status_changes(token: AstraToken, wanted: AstraTokenStatus,
                   written: dict[str, Any] | None = None) -> dict[str, Any] | None:
    return changed_fields(token.status, wanted, written)


def changed_fields(have: BaseModel, wanted: BaseModel, written: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The merge patch that turns status `have` into `wanted` (the fields `wanted`
    sets), or None when nothing differs: a pass at rest writes nothing. `written`:
    what this process last wrote, which the watched `have` may not show yet."""
    current = {**have.model_dump(mode="json", by_alias=True), **(written or {})}
    want = wanted.model_dump(mode="json", by_alias=True, exclude_unset=True)
    patch = {key: value for key, value in want.items() if current.get(key) != value}
    return patch or None


def _parse_generated_on(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)  # Astra's times are UTC
