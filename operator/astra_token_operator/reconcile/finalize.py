"""Deleting an AstraToken: revoke its tokens in Astra (404 = already gone),
mark the records revoked (kept for audit) with who deleted it, free the slot,
delete the Secret. With `astra-tokens.io/abandon: "true"`, set by someone
allowed to abandon AstraTokens (checked at admission, which stamps who), it is
released without revoking, and the ledger says who did it.

Failures raise: the caller (the delete handler) keeps the finalizer and tries
again, woken when the system at fault answers; the same error policy as a
pass (reconcile/errors.py) says what to tell the user."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any

from astra_token_operator.astra import AstraError
from astra_token_operator.kube import KubeError
from astra_token_operator.lifecycle_log import log_action, warn_action
from astra_token_operator.models import AstraToken
from astra_token_operator.policy.token_plan import Blocked, Presence
from astra_token_operator.reconcile.errors import PassBlocked, backoff_seconds, blocked_by
from astra_token_operator.reconcile.events import EventSink
from astra_token_operator.reconcile.minting import resolve_intent, revoke_and_record
from astra_token_operator.reconcile.ports import AstraPort, Deps
from astra_token_operator.reconcile.verified import OrgState
from astra_token_operator.reconcile.wakeups import astra_cause
from astra_token_operator.records import Principal, RecordState, VersionedRecord
from astra_token_operator.surface import (
    ANNOTATION_ABANDON,
    ANNOTATION_ABANDONED_BY,
    ANNOTATION_OWNED_BY_POD,
    ORG_PLURAL,
    EventReason,
    TokenReason,
)
from astra_token_operator.vault import VaultError

VERIFICATION_WAIT_SECONDS = 20.0  # how long a deletion waits in one go for its org's first verification
# A deletion retries inside its handler this long (woken when the failing system answers again)
# before handing the wait to Kopf's own retry.
FINALIZER_PATIENCE_SECONDS = 120.0


@dataclass(frozen=True)
class Finalized:
    revoked: tuple[str, ...]
    abandoned: tuple[str, ...]
    abandoned_by: str = ""


def abandoned_by(token: AstraToken) -> Principal | None:
    """Who released the token without revoking it: astra-tokens.io/abandon is "true" and the admission
    webhook, having checked that user's permission to abandon, stamped them in abandoned-by. Without
    that stamp (set before the permission existed, or with the webhook off) the token is revoked."""
    annotations = token.metadata.annotations
    if annotations.get(ANNOTATION_ABANDON) != "true":
        return None
    try:
        data = json.loads(annotations.get(ANNOTATION_ABANDONED_BY) or "")
        return Principal(username=str(data["username"]), uid=str(data.get("uid", "")),
                         groups=[str(g) for g in data.get("groups") or []])
    except (ValueError, KeyError, TypeError):
        return None


async def remember_deleter(deps: Deps, owner_uid: str, who: Principal) -> None:
    """Seen at admission: who asked to delete the AstraToken, for the finalizer to write into the
    record's revokedBy, whichever replica runs it. Never fails the deletion (an unrevoked token
    would be worse than an unnamed deleter)."""
    try:
        await deps.ledger.write_deletion(owner_uid, who)
    except VaultError as exc:
        warn_action("record-deleter", message=f"the deleter of {owner_uid} could not be recorded: {exc}")


async def delete_token(deps: Deps, body: dict[str, Any], events: EventSink, *, failures: int = 0,
                       patience_seconds: float = FINALIZER_PATIENCE_SECONDS) -> Finalized:
    """Finalize the AstraToken, trying again (woken when the system at fault answers again) for up
    to ``patience_seconds``; then the last problem is raised as PassBlocked for the caller's own
    retry. Each distinct problem is told once."""
    uid = str(body.get("metadata", {}).get("uid") or "")
    patience = time.monotonic() + patience_seconds
    told = ""
    while True:
        try:
            async with deps.runtime.lock(uid):
                # Recorded by the admission webhooks: who deleted the pod (sidecar mode: the operator
                # deletes its AstraToken after it), else who deleted the AstraToken.
                pod_uid = str(((body.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_OWNED_BY_POD, ""))
                deleted_by = await deps.ledger.read_deletion(pod_uid) if pod_uid else None
                if deleted_by is None:
                    deleted_by = await deps.ledger.read_deletion(uid)
                result = await finalize_token(deps, body, deleted_by)
                await deps.ledger.forget_deletion(uid)
                if pod_uid:
                    await deps.ledger.forget_deletion(pod_uid)
        except PassBlocked as exc:
            blocked = exc.blocked
        except (AstraError, VaultError, KubeError) as exc:
            found = blocked_by(exc, failures + 1)
            blocked = replace(found, reason=EventReason.REVOKE_FAILED,
                              message=f"revocation is retried: {found.message}")
        else:
            if result.revoked:
                events.info(EventReason.REVOKED, f"revoked in Astra: {', '.join(result.revoked)}")
            if result.abandoned:
                events.warning(EventReason.ABANDONED, f"released without revoking in Astra by {result.abandoned_by} "
                                                      f"(astra-tokens.io/abandon): {', '.join(result.abandoned)}")
            return result
        failures += 1
        if blocked.message != told:
            told = blocked.message
            (events.warning if blocked.warning else events.info)(blocked.reason, blocked.message)
        delay = min(blocked.retry_after, backoff_seconds(failures, cap=60))
        if time.monotonic() + delay > patience:
            raise PassBlocked(replace(blocked, retry_after=delay))
        await deps.runtime.wakeups.wait_for(blocked.cause, delay)


async def finalize_token(deps: Deps, body: dict[str, Any], deleted_by: Principal | None) -> Finalized:
    token = AstraToken.model_validate(body)
    uid = token.metadata.uid or ""
    identity = await _identity(deps, token)
    abandoner = abandoned_by(token)
    abandon = abandoner is not None
    actor = deleted_by or Principal.operator()
    revoked: list[str] = []
    abandoned: list[str] = []
    if identity is not None:
        org_id, role_name, logical_name = identity
        where = {"org": org_id, "role": role_name, "logical_name": logical_name,
                 "namespace": token.metadata.namespace, "name": token.metadata.name}
        intent = await deps.ledger.read_intent(uid)
        if intent is not None and intent.intent_id not in deps.runtime.in_flight_intents and not abandon:
            await resolve_intent(deps, intent, await _client(deps, token, org_id), owner_gone=True)
        slot = await deps.ledger.read_slot(org_id, role_name, logical_name)
        ours = slot is not None and slot.claim.owner.uid == uid
        for found in await live_records(deps, org_id, slot.claim.client_id if ours and slot else ""):
            client_id = found.record.client_id
            if abandoner is not None:
                reason = (f"AstraToken deleted by {actor.username} with astra-tokens.io/abandon=true set by "
                          f"{abandoner.username}: not revoked in Astra")
                await deps.ledger.write_record(found.record.abandoned(actor=abandoner, reason=reason),
                                               expected_version=found.version)
                abandoned.append(client_id)
                log_action("abandon", client_id=client_id, message=f"by {abandoner.username}", **where)
                continue
            await revoke_and_record(deps, await _client(deps, token, org_id), found, actor=actor,
                                    reason="AstraToken deleted")
            revoked.append(client_id)
        if ours:
            await deps.ledger.free_slot(org_id, role_name, logical_name, uid)
    namespace, secret_name = token.metadata.namespace or "", token.secret_name
    found_secret = await deps.kube.read_secret(namespace, secret_name)
    if found_secret is not None and uid in found_secret.owner_uids:
        await deps.kube.delete_secret(namespace, secret_name, uid=found_secret.uid)
    deps.runtime.forget(uid)
    deps.observer.token_forgotten(uid)
    return Finalized(tuple(revoked), tuple(abandoned), abandoner.username if abandoner else "")


async def _identity(deps: Deps, token: AstraToken) -> tuple[str, str, str] | None:
    """(orgId, roleName, logicalName) the token was minted under: the status says, else the verified
    org and role (a token that never minted may have nothing to clean)."""
    status = token.status
    if status.org_id and status.role_name and status.logical_name:
        return status.org_id, status.role_name, status.logical_name
    org = await _org(deps, token, ready=False)
    verified = deps.runtime.verified
    role = verified.role(token.spec.role_ref)
    if role is None and verified.role_presence(token.spec.role_ref) is Presence.PENDING:
        role = await verified.wait_for_role(token.spec.role_ref, VERIFICATION_WAIT_SECONDS)
        if role is None:
            raise _pending(f"AstraRole {token.spec.role_ref!r} is not verified yet; the deletion goes on once it is")
    if org is None or role is None:
        return None
    return org.org_id, role.role_name, token.logical_name


async def _org(deps: Deps, token: AstraToken, *, ready: bool) -> OrgState | None:
    """The token's org; after a start-up, wait (bounded) for its first verification rather than take
    it for missing. None only when it really does not exist."""
    name, verified = token.spec.org_ref, deps.runtime.verified
    org = verified.org(name)
    if org is not None and (org.ready or not ready):
        return org
    if org is None and verified.org_presence(name) is Presence.ABSENT:
        # Not listed at start-up nor seen since; ask the apiserver before calling it gone.
        if await deps.kube.get_object(ORG_PLURAL, name) is None:
            return None
        verified.note_org(name)
    org = await verified.wait_for_org(name, VERIFICATION_WAIT_SECONDS, ready=ready)
    if org is None:
        raise _pending(f"AstraOrg {name!r} is not verified yet; the revocation goes on once it is")
    return org


async def _client(deps: Deps, token: AstraToken, org_id: str) -> AstraPort:
    org = await _org(deps, token, ready=True)
    if org is None:
        raise _pending(f"cannot revoke in Astra: AstraOrg {token.spec.org_ref!r} does not exist; recreate it, or "
                       "annotate the AstraToken astra-tokens.io/abandon=true to remove it without revoking (that "
                       "takes the permission to abandon AstraTokens)",
                       retry_after=30, warning=True)
    if org.org_id != org_id:
        raise _pending(f"cannot revoke in Astra: the token was minted in org {org_id} but AstraOrg "
                       f"{token.spec.org_ref!r} now names org {org.org_id}", retry_after=30, warning=True)
    if not org.ready or org.root_token is None:
        # Transient as far as this token knows (Astra unreachable, root token being rotated):
        # the revocation waits for the org, it is never given up.
        raise PassBlocked(Blocked(TokenReason.REVOKE_PENDING,
                                  f"cannot revoke in Astra yet: AstraOrg {token.spec.org_ref!r} is not Ready "
                                  f"({org.message}); the revocation goes on once it is", retry_after=15,
                                  cause=astra_cause(org_id)))
    return deps.astra.get(org.org_id, org.root_token, org.client_settings)


def _pending(message: str, *, retry_after: float = 5, warning: bool = False) -> PassBlocked:
    return PassBlocked(Blocked(TokenReason.REVOKE_PENDING, message, retry_after=retry_after, warning=warning))


async def live_records(deps: Deps, org_id: str, current_id: str) -> list[VersionedRecord]:
    """The current token and the one it superseded, if either still lives in Astra."""
    live: list[VersionedRecord] = []
    client_id = current_id
    for _ in range(2):
        if not client_id:
            break
        found = await deps.ledger.read_record(org_id, client_id)
        if found is None:
            break
        if found.record.state in (RecordState.ACTIVE, RecordState.SUPERSEDED):
            live.append(found)
        client_id = found.record.supersedes or ""
    return live
