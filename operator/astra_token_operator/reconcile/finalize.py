"""Deleting an AstraToken: revoke its tokens in Astra (404 = already gone),
mark the records revoked (kept for audit) with who deleted it, free the slot,
delete the Secret. With `astra-tokens.io/abandon: "true"` an admin releases it
without revoking, and the ledger says so."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from astra_token_operator.astra import AstraClient, RevokeOutcome
from astra_token_operator.lifecycle_log import log_action
from astra_token_operator.models import AstraToken
from astra_token_operator.reconcile.errors import Blocked
from astra_token_operator.reconcile.minting import resolve_intent
from astra_token_operator.reconcile.verified import OrgState, Presence
from astra_token_operator.reconcile.wakeups import astra_cause
from astra_token_operator.records import Principal, RecordAction, RecordState, VersionedRecord
from astra_token_operator.services import Services
from astra_token_operator.surface import ANNOTATION_ABANDON, ORG_PLURAL, TokenReason

VERIFICATION_WAIT_SECONDS = 20.0  # how long a deletion waits in one go for its org's first verification


@dataclass(frozen=True)
class Finalized:
    revoked: tuple[str, ...]
    abandoned: tuple[str, ...]


async def _identity(services: Services, token: AstraToken) -> tuple[str, str, str] | None:
    """(orgId, roleName, logicalName) the token was minted under: the status says,
    else the directory (a token that never minted may have nothing to clean)."""
    status = token.status
    if status.org_id and status.role_name and status.logical_name:
        return status.org_id, status.role_name, status.logical_name
    org = await _org(services, token, ready=False)
    role = services.directory.role(token.spec.role_ref)
    if role is None and services.directory.role_presence(token.spec.role_ref) is Presence.PENDING:
        role = await services.directory.wait_for_role(token.spec.role_ref, VERIFICATION_WAIT_SECONDS)
        if role is None:
            raise Blocked(TokenReason.REVOKE_PENDING, f"AstraRole {token.spec.role_ref!r} is not verified yet; the "
                                                 "deletion goes on once it is", retry_after=5, warning=False)
    if org is None or role is None:
        return None
    return org.org_id, role.role_name, token.logical_name


async def _org(services: Services, token: AstraToken, *, ready: bool) -> OrgState | None:
    """The token's org; after a start-up, wait (bounded) for its first verification rather
    than take it for missing. None only when it really does not exist."""
    name = token.spec.org_ref
    org = services.directory.org(name)
    if org is not None and (org.ready or not ready):
        return org
    if org is None and services.directory.org_presence(name) is Presence.ABSENT:
        # Not listed at start-up nor seen since; ask the apiserver before calling it gone.
        if await services.kube.get_object(ORG_PLURAL, name) is None:
            return None
        services.directory.note_org(name)
    org = await services.directory.wait_for_org(name, VERIFICATION_WAIT_SECONDS, ready=ready)
    if org is None:
        raise Blocked(TokenReason.REVOKE_PENDING, f"AstraOrg {name!r} is not verified yet; the revocation goes on "
                                             "once it is", retry_after=5, warning=False)
    return org


async def _client(services: Services, token: AstraToken, org_id: str) -> AstraClient:
    org = await _org(services, token, ready=True)
    if org is None:
        raise Blocked(TokenReason.REVOKE_PENDING,
                      f"cannot revoke in Astra: AstraOrg {token.spec.org_ref!r} does not exist; recreate it, or "
                      "annotate the AstraToken astra-tokens.io/abandon=true to remove it without revoking",
                      retry_after=30)
    if org.org_id != org_id:
        raise Blocked(TokenReason.REVOKE_PENDING,
                      f"cannot revoke in Astra: the token was minted in org {org_id} but AstraOrg "
                      f"{token.spec.org_ref!r} now names org {org.org_id}", retry_after=30)
    if not org.ready or org.root_token is None:
        # Transient as far as this token knows (Astra unreachable, root token being rotated):
        # the revocation waits for the org, it is never given up.
        raise Blocked(TokenReason.REVOKE_PENDING,
                      f"cannot revoke in Astra yet: AstraOrg {token.spec.org_ref!r} is not Ready ({org.message}); "
                      "the revocation goes on once it is", retry_after=15, cause=astra_cause(org_id))
    return services.astra.get(org.org_id, org.root_token, org.client_settings)


async def finalize_token(services: Services, body: dict[str, Any], deleted_by: Principal | None) -> Finalized:
    token = AstraToken.model_validate(body)
    uid = token.metadata.uid or ""
    identity = await _identity(services, token)
    abandon = token.metadata.annotations.get(ANNOTATION_ABANDON, "").lower() == "true"
    actor = deleted_by or Principal.operator()
    revoked: list[str] = []
    abandoned: list[str] = []
    if identity is not None:
        org_id, role_name, logical_name = identity
        intent = await services.ledger.read_intent(uid)
        if intent is not None and intent.intent_id not in services.in_flight_intents and not abandon:
            await resolve_intent(services, intent, await _client(services, token, org_id), owner_gone=True)
        slot = await services.ledger.read_slot(org_id, role_name, logical_name)
        ours = slot is not None and slot.claim.owner.uid == uid
        for found in await _live_records(services, org_id, slot.claim.client_id if ours and slot else ""):
            if abandon:
                await services.ledger.write_record(found.record.model_copy(update={
                    "state": RecordState.ABANDONED, "last_action": RecordAction.ABANDONED, "actor": actor,
                    "reason": "AstraToken deleted with astra-tokens.io/abandon=true: not revoked in Astra"}),
                    expected_version=found.version)
                abandoned.append(found.record.client_id)
                log_action("abandon", org=org_id, role=role_name, logical_name=logical_name,
                           client_id=found.record.client_id, namespace=token.metadata.namespace,
                           name=token.metadata.name, message=f"by {actor.username}")
                continue
            outcome = await (await _client(services, token, org_id)).revoke_token(found.record.client_id)
            gone = outcome is RevokeOutcome.ALREADY_GONE
            await services.ledger.write_record(found.record.model_copy(update={
                "state": RecordState.DELETED_EXTERNALLY if gone else RecordState.REVOKED,
                "last_action": RecordAction.REVOKED, "actor": actor, "revoked_at": services.clock(),
                "revoked_by": actor,
                "reason": "AstraToken deleted" + (" (already gone from Astra)" if gone else "")}),
                expected_version=found.version)
            revoked.append(found.record.client_id)
            log_action("revoke", org=org_id, role=role_name, logical_name=logical_name,
                       client_id=found.record.client_id, lease_id=found.record.lease_id,
                       namespace=token.metadata.namespace, name=token.metadata.name,
                       message=f"AstraToken deleted by {actor.username}")
        if ours:
            await services.ledger.free_slot(org_id, role_name, logical_name, uid)
    namespace, secret_name = token.metadata.namespace or "", token.secret_name
    found_secret = await services.kube.read_secret(namespace, secret_name)
    if found_secret is not None and uid in found_secret.owner_uids:
        await services.kube.delete_secret(namespace, secret_name, uid=found_secret.uid)
    services.forget(uid)
    return Finalized(tuple(revoked), tuple(abandoned))


async def _live_records(services: Services, org_id: str, current_id: str) -> list[VersionedRecord]:
    """The current token and the one it superseded, if either still lives in Astra."""
    live: list[VersionedRecord] = []
    client_id = current_id
    for _ in range(2):
        if not client_id:
            break
        found = await services.ledger.read_record(org_id, client_id)
        if found is None:
            break
        if found.record.state in (RecordState.ACTIVE, RecordState.SUPERSEDED):
            live.append(found)
        client_id = found.record.supersedes or ""
    return live
