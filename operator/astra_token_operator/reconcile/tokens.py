"""One reconciliation pass of an AstraToken: make Astra, the ledger, the Secret
and the status agree, then say when to look again.

Level-triggered: the pass reads the current state (the slot names the current
token, the record holds its lease) and does what is due, so a pass interrupted
by a crash is simply run again. The slot, not the status, is the truth about
which token is current; the status is a report."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from astra_token_operator.astra import AstraError, AstraRetryableError, AstraUnauthorized, RevokeOutcome
from astra_token_operator.durations import DurationError, parse_duration
from astra_token_operator.kube import KubeError
from astra_token_operator.leases import (
    Renew,
    Renewed,
    RevokeAndRotate,
    Rotate,
    WaitUntil,
    decide,
    jittered_wake,
    renew_with_increment,
    superseded_revoke_at,
    to_rfc3339,
)
from astra_token_operator.lifecycle_log import log_action, warn_action
from astra_token_operator.models import (
    ANNOTATION_RENEW,
    ANNOTATION_RESTARTED_AT,
    ANNOTATION_REVOKE,
    ANNOTATION_ROTATE,
    LABEL_CLIENT_ID,
    LABEL_LOGICAL_NAME,
    LABEL_ORG,
    LABEL_ROLE,
    TOKEN_PLURAL,
    AstraToken,
    TokenReason,
)
from astra_token_operator.reconcile.context import TokenContext, resolve_context
from astra_token_operator.reconcile.errors import Blocked, backoff_seconds
from astra_token_operator.reconcile.events import EventSink
from astra_token_operator.reconcile.memory import TokenMemory
from astra_token_operator.reconcile.minting import failpoint, mint, resolve_intent
from astra_token_operator.reconcile.secrets import desired_secret, record_lease
from astra_token_operator.reconcile.status import blocked_status, ready_status, status_changes
from astra_token_operator.services import Services
from astra_token_operator.vault import (
    Principal,
    RecordAction,
    RecordState,
    TokenRecord,
    VaultError,
    VersionedRecord,
)

LABEL_ORG_ID = "astra-tokens.io/org-id"
ANNOTATION_REQUESTED_BY = "astra-tokens.io/requested-by"  # stamped by the webhook on renew/revoke requests
REASON_KUBERNETES = "KubernetesError"


async def reconcile_token(services: Services, body: dict[str, Any], events: EventSink) -> float:
    """Run one pass; return how many seconds to sleep before the next. Never raises
    for Astra, Vault or Kubernetes trouble: it becomes Ready=False and a backoff."""
    token = AstraToken.model_validate(body)
    uid = token.metadata.uid or ""
    memory = services.token_memory(uid)
    if memory.seen_generation is None:
        memory.seen_generation = token.metadata.generation
    now = services.clock()
    try:
        context = await resolve_context(services, token)
        wake_at = await _reconcile(services, context, memory, events, now)
    except Blocked as blocked:
        return await _report_blocked(services, token, memory, events, blocked)
    except VaultError as exc:
        problem = Blocked(TokenReason.VAULT_UNAVAILABLE,
                          f"the Vault ledger is unavailable ({exc}); nothing is minted until it is back, "
                          "the existing Secret is left as it is",
                          retry_after=backoff_seconds(memory.failures + 1, cap=30))
    except AstraError as exc:
        cap = 600.0 if isinstance(exc, AstraUnauthorized) else 300.0
        retry = backoff_seconds(memory.failures + 1, cap=cap) if isinstance(exc, AstraRetryableError) else cap
        problem = Blocked(TokenReason.ASTRA_ERROR, f"Astra DevOps API: {exc}", retry_after=retry)
    except KubeError as exc:
        problem = Blocked(REASON_KUBERNETES, f"Kubernetes API: {exc}",
                          retry_after=backoff_seconds(memory.failures + 1, cap=120))
    else:
        memory.failures = 0
        memory.last_blocked = None
        return max(0.0, (wake_at - services.clock()).total_seconds())
    return await _report_blocked(services, token, memory, events, problem)


async def _report_blocked(services: Services, token: AstraToken, memory: TokenMemory, events: EventSink,
                          blocked: Blocked) -> float:
    memory.failures += 1
    if memory.last_blocked != (blocked.reason, blocked.message):
        memory.last_blocked = (blocked.reason, blocked.message)
        (events.warning if blocked.warning else events.info)(blocked.reason, blocked.message)
        warn_action("wait", namespace=token.metadata.namespace, name=token.metadata.name,
                   message=f"{blocked.reason}: {blocked.message}")
    patch = status_changes(token, blocked_status(token, blocked.reason, blocked.message, services.clock()),
                           memory.written_status)
    if patch:
        with contextlib.suppress(KubeError):  # the condition is a report; the next pass writes it again
            await services.kube.patch_status(TOKEN_PLURAL, token.metadata.name, patch,
                                             namespace=token.metadata.namespace)
            memory.written_status.update(patch)
    return blocked.retry_after


async def _reconcile(services: Services, context: TokenContext, memory: TokenMemory, events: EventSink,
                     now: datetime) -> datetime:
    current = await _load_current(services, context, memory)
    requests = _open_requests(context.token, memory)
    if current is None or current.record.state is not RecordState.ACTIVE:
        current = await _issue(services, context, memory, events, now)
        if requests:  # a fresh token answers any request made of the one it replaces
            await _clear_requests(services, context)
            memory.handled_requests = requests
    elif ANNOTATION_REVOKE in requests:
        current = await _revoke_now_and_replace(services, context, memory, events, now)
        memory.handled_requests = requests
    elif ANNOTATION_RENEW in requests:
        current = await _renew_on_request(services, context, memory, events, now, requests[ANNOTATION_RENEW])
        memory.handled_requests = requests
    elif ANNOTATION_ROTATE in requests:  # a scheduled rotation, now, on the requester's behalf
        current = await _rotate(services, context, memory, events, now, current, actor=_requester(context),
                                restart_stamp=requests[ANNOTATION_ROTATE])
        await _clear_requests(services, context)
        memory.handled_requests = requests

    decision = decide(now, record_lease(current.record), context.policy, slack=memory.slack)
    if isinstance(decision, RevokeAndRotate):
        current = await _replace_expired(services, context, memory, events, now, current)
    elif isinstance(decision, Rotate):
        current = await _rotate(services, context, memory, events, now, current)
    elif isinstance(decision, Renew):
        current = await _write(services, memory, current, decision.lease.lease_expires_at,
                               decision.lease.max_expires_at, RecordAction.RENEWED, Principal.operator(),
                               ttl=context.policy.ttl)
        log_action("renew", client_id=current.record.client_id, lease_id=current.record.lease_id,
                   message=f"until {to_rfc3339(current.record.lease_expires_at)}", **context.log_fields)
        events.info(TokenReason.RENEWED, f"lease renewed until {to_rfc3339(current.record.lease_expires_at)}")

    if current.record.metadata != context.token.spec.metadata:
        updated = current.record.model_copy(update={
            "metadata": dict(context.token.spec.metadata), "last_action": RecordAction.METADATA_UPDATED,
            "actor": Principal.operator()})
        current = await _store(services, memory, current, updated)
        log_action("update-metadata", client_id=current.record.client_id, **context.log_fields)

    await _ensure_secret(services, context, memory, events, current, now)
    revoke_due = await _revoke_superseded_when_due(services, context, memory, events, current, now)
    await _publish_labels(services, context, memory, current)

    after = decide(now, record_lease(current.record), context.policy)
    wake = now
    if isinstance(after, WaitUntil):
        wake = jittered_wake(now, after.at, services.rng)
        memory.slack = after.at - wake
    drift_check = now + timedelta(seconds=services.config.drift_check_interval_seconds)
    wake = min(w for w in (wake, drift_check, revoke_due) if w is not None)
    vault_path = services.ledger.paths.display(services.ledger.paths.record(context.org.org_id,
                                                                            current.record.client_id))
    patch = status_changes(context.token, ready_status(context, current.record, after, now, vault_path),
                           memory.written_status)
    if patch:
        await services.kube.patch_status(TOKEN_PLURAL, context.name, patch, namespace=context.namespace)
        memory.written_status.update(patch)
    return wake


async def _load_current(services: Services, context: TokenContext, memory: TokenMemory) -> VersionedRecord | None:
    """The token the slot names, from memory or (once after start-up) from the ledger."""
    if memory.loaded:
        return memory.current
    slot = await services.ledger.read_slot(context.org.org_id, context.role.role_name, context.logical_name)
    if slot is not None and slot.claim.owner.uid != context.uid:
        holder = slot.claim.owner
        raise Blocked(TokenReason.CONFLICT,
                      f"org {context.org.org_id}, role {context.role.role_name!r} and logical name "
                      f"{context.logical_name!r} are already used by {holder.kind} {holder.namespace}/{holder.name}; "
                      "choose another spec.logicalName", retry_after=120)
    intent = await services.ledger.read_intent(context.uid)
    if intent is not None and intent.intent_id not in services.in_flight_intents:
        await resolve_intent(services, intent, context.client)
        slot = await services.ledger.read_slot(context.org.org_id, context.role.role_name, context.logical_name)
    current = None
    if slot is not None and slot.claim.client_id:
        current = await services.ledger.read_record(context.org.org_id, slot.claim.client_id)
    memory.current, memory.loaded = current, True
    return current


async def _issue(services: Services, context: TokenContext, memory: TokenMemory, events: EventSink,
                 now: datetime) -> VersionedRecord:
    result = await mint(services, context, now)
    _now_current(memory, result.current)
    message = f"token {result.current.record.client_id} issued"
    if not result.native_expiry and context.org.spec.token_defaults.native_expiry:
        message += "; Astra refused tokenExpiry, so the token has no Astra-side expiry (the operator revokes it)"
    events.info(TokenReason.ISSUED, message)
    return result.current


async def _rotate(services: Services, context: TokenContext, memory: TokenMemory, events: EventSink,
                  now: datetime, old: VersionedRecord, *, actor: Principal | None = None,
                  restart_stamp: str | None = None) -> VersionedRecord:
    """A new token replaces `old`, which stays valid for the grace period. ``actor``: who
    asked (astra-tokens.io/rotate), else the operator's schedule; ``restart_stamp``: the
    request's rotation id, shared by tokens rotated together so a common target restarts once."""
    await _revoke_superseded(services, context, memory, events, reason="a newer rotation replaced it")
    new = (await mint(services, context, now, supersedes=old.record.client_id, actor=actor)).current
    _now_current(memory, new)
    await _ensure_secret(services, context, memory, events, new, now)
    revoke_at = superseded_revoke_at(now, context.policy.rotation_grace_period, record_lease(old.record))
    memory.superseded = await _store(services, None, old, old.record.model_copy(update={
        "state": RecordState.SUPERSEDED, "superseded_by": new.record.client_id, "revoke_after": revoke_at,
        "last_action": RecordAction.SUPERSEDED, "actor": actor or Principal.operator()}))
    memory.superseded_loaded = True
    await _restart_targets(services, context, events, now, stamp=restart_stamp)
    by = f" on request by {actor.username}" if actor else ""
    log_action("rotate", client_id=new.record.client_id, lease_id=new.record.lease_id,
               message=f"replaces {old.record.client_id}, revoked at {to_rfc3339(revoke_at)}{by}", **context.log_fields)
    events.info(TokenReason.ROTATED, f"token {new.record.client_id} replaces {old.record.client_id}, which is "
                                     f"revoked at {to_rfc3339(revoke_at)}{by}")
    return new


async def _replace_expired(services: Services, context: TokenContext, memory: TokenMemory, events: EventSink,
                           now: datetime, old: VersionedRecord) -> VersionedRecord:
    """The lease ran out while nobody renewed it: revoke at once, then issue anew."""
    await _revoke_record(services, context, old, RecordState.EXPIRED, RecordAction.EXPIRED, Principal.operator(),
                         "the lease expired before it was renewed")
    events.warning("LeaseExpired", f"the lease of token {old.record.client_id} expired at "
                                   f"{to_rfc3339(old.record.lease_expires_at)} (was the operator down?); "
                                   "it was revoked and is being replaced")
    new = (await mint(services, context, now, supersedes=old.record.client_id)).current
    _now_current(memory, new)
    await _ensure_secret(services, context, memory, events, new, now)
    await _restart_targets(services, context, events, now)
    events.info(TokenReason.ROTATED, f"token {new.record.client_id} replaces the expired {old.record.client_id}")
    return new


async def _revoke_now_and_replace(services: Services, context: TokenContext, memory: TokenMemory,
                                  events: EventSink, now: datetime) -> VersionedRecord:
    """`astra-tokens.io/revoke: now`: an emergency rotation. The current token is
    revoked first (it may be leaked), then a replacement is published."""
    assert memory.current is not None
    old = memory.current
    actor = _requester(context) or Principal.operator()
    await _revoke_record(services, context, old, RecordState.REVOKED, RecordAction.REVOKED_MANUALLY, actor,
                         "revoked on request (astra-tokens.io/revoke)")
    await _revoke_superseded(services, context, memory, events, reason="an emergency revocation")
    new = (await mint(services, context, now, supersedes=old.record.client_id)).current
    _now_current(memory, new)
    await _ensure_secret(services, context, memory, events, new, now)
    await _restart_targets(services, context, events, now)
    await _clear_requests(services, context)
    events.warning("Revoked", f"token {old.record.client_id} revoked on request by {actor.username}; "
                              f"{new.record.client_id} replaces it")
    return new


async def _renew_on_request(services: Services, context: TokenContext, memory: TokenMemory, events: EventSink,
                            now: datetime, increment_text: str) -> VersionedRecord:
    """`astra-tokens.io/renew: <increment>`, as `vault lease renew -increment`."""
    assert memory.current is not None
    current = memory.current
    try:
        increment = parse_duration(increment_text)
        outcome = renew_with_increment(now, record_lease(current.record), increment)
    except (DurationError, ValueError) as exc:
        events.warning("RenewRefused", f"astra-tokens.io/renew={increment_text!r} is not an increment: {exc}")
    else:
        if isinstance(outcome, Renewed):
            actor = _requester(context) or Principal.operator()
            current = await _write(services, memory, current, outcome.lease.lease_expires_at,
                                   outcome.lease.max_expires_at, RecordAction.RENEWED_MANUALLY, actor)
            capped = " (capped at the token's max expiry)" if outcome.capped_at_max else ""
            log_action("renew", client_id=current.record.client_id, message=f"on request by {actor.username}",
                       **context.log_fields)
            events.info("RenewedOnRequest", f"lease renewed until {to_rfc3339(current.record.lease_expires_at)}"
                                            f"{capped}, on request by {actor.username}")
        else:
            events.warning("RenewRefused", outcome.reason.value)
    await _clear_requests(services, context)
    return current


async def _clear_requests(services: Services, context: TokenContext) -> None:
    await services.kube.patch_metadata(TOKEN_PLURAL, context.name, namespace=context.namespace, annotations={
        ANNOTATION_RENEW: None, ANNOTATION_REVOKE: None, ANNOTATION_ROTATE: None, ANNOTATION_REQUESTED_BY: None})


def _open_requests(token: AstraToken, memory: TokenMemory) -> dict[str, str]:
    """The renew/revoke requests on the AstraToken not handled yet. A handled request's
    annotation is removed, but the watched body may still show it for a moment: the
    same request is never acted on twice. Once the body shows it gone, it is forgotten,
    so the same value set again later is a new request."""
    annotations = token.metadata.annotations
    present = {key: annotations[key] for key in (ANNOTATION_REVOKE, ANNOTATION_RENEW, ANNOTATION_ROTATE)
               if key in annotations}
    if not present:
        memory.handled_requests = {}
        return {}
    return {} if present == memory.handled_requests else present


def _now_current(memory: TokenMemory, new: VersionedRecord) -> None:
    """A new token is current: publish it, and derive what it superseded from its
    record on the next look (if a step after the mint fails, the next pass still
    marks the old token superseded and revokes it after the grace period)."""
    memory.current, memory.loaded = new, True
    memory.superseded, memory.superseded_loaded = None, False
    memory.secret_dirty = memory.expect_secret_change = True


def _requester(context: TokenContext) -> Principal | None:
    raw = context.token.metadata.annotations.get(ANNOTATION_REQUESTED_BY)
    return Principal(username=raw) if raw else None


async def _write(services: Services, memory: TokenMemory, current: VersionedRecord, lease_expires_at: datetime,
                 max_expires_at: datetime, action: RecordAction, actor: Principal,
                 ttl: timedelta | None = None) -> VersionedRecord:
    update: dict[str, Any] = {
        "lease_expires_at": lease_expires_at, "max_expires_at": max_expires_at,
        "renewals": current.record.renewals + 1, "last_renewed_at": services.clock(), "last_action": action,
        "actor": actor}
    if ttl is not None:
        update["ttl_seconds"] = int(ttl.total_seconds())
    stored = await _store(services, memory, current, current.record.model_copy(update=update))
    memory.secret_dirty = memory.expect_secret_change = True  # expiresAt moved
    return stored


async def _store(services: Services, memory: TokenMemory | None, current: VersionedRecord,
                 updated: TokenRecord) -> VersionedRecord:
    version = await services.ledger.write_record(updated, expected_version=current.version)
    stored = VersionedRecord(updated, version)
    if memory is not None:
        memory.current = stored
    return stored


async def _revoke_record(services: Services, context: TokenContext, current: VersionedRecord,
                         state: RecordState, action: RecordAction, actor: Principal, reason: str) -> None:
    outcome = await context.client.revoke_token(current.record.client_id)
    gone = " (it was already gone from Astra)" if outcome is RevokeOutcome.ALREADY_GONE else ""
    await _store(services, None, current, current.record.model_copy(update={
        "state": state, "last_action": action, "actor": actor, "revoked_at": services.clock(),
        "revoked_by": actor, "reason": reason}))
    log_action("revoke", client_id=current.record.client_id, lease_id=current.record.lease_id,
               message=f"{reason}{gone}", **context.log_fields)


async def _load_superseded(services: Services, context: TokenContext, memory: TokenMemory,
                           current: VersionedRecord) -> VersionedRecord | None:
    if not memory.superseded_loaded:
        previous = current.record.supersedes
        found = await services.ledger.read_record(context.org.org_id, previous) if previous else None
        if found is not None and found.record.state is RecordState.ACTIVE:
            # A crash between publishing the new token and marking the old one: mark it now.
            revoke_at = superseded_revoke_at(services.clock(), context.policy.rotation_grace_period,
                                             record_lease(found.record))
            found = await _store(services, None, found, found.record.model_copy(update={
                "state": RecordState.SUPERSEDED, "superseded_by": current.record.client_id,
                "revoke_after": revoke_at, "last_action": RecordAction.SUPERSEDED,
                "actor": Principal.operator()}))
        keep = found is not None and found.record.state is RecordState.SUPERSEDED
        memory.superseded, memory.superseded_loaded = (found if keep else None), True
    return memory.superseded


async def _revoke_superseded_when_due(services: Services, context: TokenContext, memory: TokenMemory,
                                      events: EventSink, current: VersionedRecord, now: datetime) -> datetime | None:
    """Revoke the rotated-out token once its grace period is over; else say when."""
    old = await _load_superseded(services, context, memory, current)
    if old is None:
        return None
    due = old.record.revoke_after or now
    if now < due:
        return due
    await _revoke_superseded(services, context, memory, events, reason="its rotation grace period ended")
    return None


async def _revoke_superseded(services: Services, context: TokenContext, memory: TokenMemory, events: EventSink,
                             *, reason: str) -> None:
    if memory.current is not None:
        await _load_superseded(services, context, memory, memory.current)
    old = memory.superseded
    if old is None:
        return
    await _revoke_record(services, context, old, RecordState.REVOKED, RecordAction.REVOKED, Principal.operator(),
                         f"superseded: {reason}")
    events.info("SupersededRevoked", f"token {old.record.client_id} revoked: {reason}")
    memory.superseded = None


async def _ensure_secret(services: Services, context: TokenContext, memory: TokenMemory, events: EventSink,
                         current: VersionedRecord, now: datetime) -> None:
    """Publish the record as the Secret; restore it from the ledger (never by
    minting) when it was deleted or edited."""
    interval = timedelta(seconds=services.config.drift_check_interval_seconds)
    checked = memory.secret_checked_at
    if not memory.secret_dirty and checked is not None and now - checked < interval:
        return
    desired = desired_secret(context.token, current.record, org_name=context.org.name)
    found = await services.kube.read_secret(desired.namespace, desired.name)
    publishing = memory.expect_secret_change
    if found is None:
        memory.secret_resource_version = (await services.kube.create_secret(desired)).resource_version
        failpoint(services, "after-secret")
        drift = ["the Secret was missing"]
    elif context.uid not in found.owner_uids:
        raise Blocked(TokenReason.CONFLICT, f"Secret {desired.namespace}/{desired.name} exists and is not owned by "
                                            "this AstraToken; delete it or set spec.secret.name to another name",
                      retry_after=120)
    elif not found.matches(desired):
        drift = found.drift(desired)
        memory.secret_resource_version = (
            await services.kube.update_secret(desired, resource_version=found.resource_version)).resource_version
    else:
        drift = []
    if drift and not publishing:
        # Someone deleted or edited the Secret: restored from the ledger, no mint.
        await _store(services, memory, current, current.record.model_copy(update={
            "last_action": RecordAction.RESTORED, "actor": Principal.operator()}))
        log_action("restore", client_id=current.record.client_id, secret=desired.name,
                   message="; ".join(drift), **context.log_fields)
        events.warning("SecretRestored", f"Secret {desired.name} restored from the ledger ({'; '.join(drift)})")
    memory.secret_checked_at, memory.secret_dirty, memory.expect_secret_change = now, False, False


async def _restart_targets(services: Services, context: TokenContext, events: EventSink, now: datetime,
                           stamp: str | None = None) -> None:
    """Stamp each target's pod template; the same stamp twice changes nothing (one restart)."""
    stamp = now.isoformat() if stamp in (None, "now") else stamp
    for target in context.token.spec.rollout_restart_targets:
        try:
            found = await services.kube.restart_rollout(context.namespace, target.kind, target.name,
                                                        annotation=ANNOTATION_RESTARTED_AT, value=stamp)
        except KubeError as exc:
            events.warning("RolloutRestartFailed", f"{target.kind} {target.name}: {exc}")
            continue
        if found:
            log_action("restart", workload=f"{target.kind}/{target.name}", **context.log_fields)
            events.info("RolloutRestarted", f"{target.kind} {target.name} restarted to pick up the new token")
        else:
            events.warning("RolloutRestartFailed", f"{target.kind} {target.name} does not exist in "
                                                   f"{context.namespace}; fix spec.rolloutRestartTargets")


async def _publish_labels(services: Services, context: TokenContext, memory: TokenMemory,
                          current: VersionedRecord) -> None:
    """Labels answer the plugin's lookups: by (org, role, logical name) and by client id."""
    wanted = {
        LABEL_ORG: context.org.name,
        LABEL_ORG_ID: context.org.org_id,
        LABEL_ROLE: context.role.role_name,
        LABEL_LOGICAL_NAME: context.logical_name,
        LABEL_CLIENT_ID: current.record.client_id,
    }
    have = {**context.token.metadata.labels, **memory.written_labels}
    changes: dict[str, str | None] = {k: v for k, v in wanted.items() if have.get(k) != v}
    if changes:
        await services.kube.patch_metadata(TOKEN_PLURAL, context.name, namespace=context.namespace,
                                           labels=changes)
        memory.written_labels.update(wanted)
