"""AstraOrg handlers: one daemon per org verifies its root token, reports
Ready, syncs the org's Astra roles into AstraRoles when spec.roleSync asks
(and at once on an astra-tokens.io/sync-roles request), and sweeps mint
intents whose AstraToken is gone."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import kopf

from astra_token_operator.astra import AstraError
from astra_token_operator.handlers.kopf_events import KopfEvents
from astra_token_operator.kube import KubeError
from astra_token_operator.lifecycle_log import warn_action
from astra_token_operator.models import (
    ANNOTATION_SYNC_ROLES,
    CONDITION_READY,
    GROUP,
    ORG_PLURAL,
    VERSION,
    AstraOrg,
    AstraOrgStatus,
    Condition,
    set_condition,
)
from astra_token_operator.reconcile.intents import sweep_orphan_intents
from astra_token_operator.reconcile.orgs import root_token_version, verify_org
from astra_token_operator.reconcile.rolesync import RoleSyncSchedule, sync_roles_if_due, with_roles_synced
from astra_token_operator.reconcile.status import changed_fields
from astra_token_operator.services import Services
from astra_token_operator.vault import VaultError
from astra_token_operator.wakers import sleep_until_woken

ROOT_TOKEN_CHECK_SECONDS = 15.0  # one Secret GET: notices a rotated root token quickly
NOT_READY_RETRY_SECONDS = 15.0


@kopf.daemon(GROUP, VERSION, ORG_PLURAL, id="verify", cancellation_backoff=10, cancellation_timeout=10)
async def org_daemon(body: kopf.Body, meta: kopf.Meta, stopped: kopf.DaemonStopped, memo: kopf.Memo,
                     **_: Any) -> None:
    services: Services = memo.services
    uid = str(meta["uid"])
    wake = services.wakers.register(uid, "org")
    events = KopfEvents(body)
    next_sweep = 0.0
    role_sync = RoleSyncSchedule()
    roles_synced: Condition | None = None
    handled_sync_request: str | None = None
    try:
        while not stopped:
            state = await verify_org(services, dict(body))
            if services.directory.publish_org(state):
                services.wakers.wake_kind("role", "token")  # they wait on this org's readiness
                (events.info if state.ready else events.warning)(state.reason, state.message)
            # A sync-roles request (kubectl astra roles import) makes the sync due now; handled once.
            sync_request = (meta.get("annotations") or {}).get(ANNOTATION_SYNC_ROLES)
            handled_sync_request = handled_sync_request if sync_request is not None else None
            if sync_request is not None and sync_request != handled_sync_request:
                role_sync.reset()
            try:
                roles_synced = await sync_roles_if_due(services, dict(body), state, role_sync, roles_synced,
                                                       time.monotonic())
                await _report(services, dict(body), state.ready, state.reason, state.message, state.org_name,
                              roles_synced)
                if sync_request is not None and sync_request != handled_sync_request:  # done: RolesSynced says how
                    await services.kube.patch_metadata(ORG_PLURAL, str(meta["name"]),
                                                       annotations={ANNOTATION_SYNC_ROLES: None})
                    handled_sync_request = sync_request
                if state.ready and time.monotonic() >= next_sweep:
                    await sweep_orphan_intents(services, state)
                    next_sweep = time.monotonic() + services.config.intent_sweep_interval_seconds
            except (KubeError, VaultError, AstraError) as exc:
                # A report or sweep that failed is retried; the daemon itself never dies of it.
                warn_action("verify-org", org=state.org_id, name=state.name, message=f"will retry: {exc}")
                await sleep_until_woken(wake, stopped, NOT_READY_RETRY_SECONDS)
                continue
            await _wait_for_change(services, body, wake, stopped, state.ready, role_sync.wake_at())
    finally:
        services.wakers.unregister(uid)


async def _wait_for_change(services: Services, body: kopf.Body, wake: Any, stopped: kopf.DaemonStopped,
                           ready: bool, role_sync_at: float | None) -> None:
    """Until a spec change, the root token Secret changing, the re-verify
    interval, or the next role sync (``role_sync_at``, in time.monotonic())."""
    if not ready:
        await sleep_until_woken(wake, stopped, NOT_READY_RETRY_SECONDS)
        return
    version = await root_token_version(services, dict(body))
    deadline = time.monotonic() + services.config.org_verify_interval_seconds
    if role_sync_at is not None:
        deadline = min(deadline, role_sync_at)
    while not stopped and time.monotonic() < deadline:
        woken = await sleep_until_woken(wake, stopped, min(ROOT_TOKEN_CHECK_SECONDS, deadline - time.monotonic()))
        if stopped or woken or await root_token_version(services, dict(body)) != version:
            return
        await _refresh_counts(services, dict(body))


async def _refresh_counts(services: Services, body: dict[str, Any]) -> None:
    """TOKENS and ROLES move between verifications; written only when they change."""
    org = AstraOrg.model_validate(body)
    wanted = AstraOrgStatus(active_tokens=services.active_tokens(org_id=org.spec.org_id),
                            roles=len(services.directory.roles_of(org.metadata.name)))
    patch = changed_fields(org.status, wanted)
    if patch is not None:
        with contextlib.suppress(KubeError):  # counts; the next tick writes them again
            await services.kube.patch_status(ORG_PLURAL, org.metadata.name, patch)


async def _report(services: Services, body: dict[str, Any], ready: bool, reason: str, message: str,
                  org_name: str, roles_synced: Condition | None) -> None:
    org = AstraOrg.model_validate(body)
    now = services.clock()
    conditions = set_condition(org.status.conditions, Condition(
        type=CONDITION_READY, status="True" if ready else "False", reason=reason, message=message,
        observed_generation=org.metadata.generation), now)
    conditions = with_roles_synced(conditions, roles_synced, now)
    wanted = AstraOrgStatus(
        conditions=conditions, observed_generation=org.metadata.generation,
        active_tokens=services.active_tokens(org_id=org.spec.org_id),
        roles=len(services.directory.roles_of(org.metadata.name)))
    if ready:  # a verification at rest costs one small write per interval, and says when it happened
        wanted = AstraOrgStatus(**{**wanted.model_dump(exclude_unset=True), "org_name": org_name,
                                   "last_verified": now})
    patch = changed_fields(org.status, wanted)
    if patch is not None:
        await services.kube.patch_status(ORG_PLURAL, org.metadata.name, patch)


@kopf.on.update(GROUP, VERSION, ORG_PLURAL, id="wake-org", field="spec")
async def org_spec_changed(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    memo.services.wakers.wake(str(meta["uid"]))


@kopf.on.event(GROUP, VERSION, ORG_PLURAL, id="wake-org-on-request")
async def org_sync_requested(type: str | None, meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    """An astra-tokens.io/sync-roles request wakes the org's daemon (an event handler: no diff-base write)."""
    if type == "MODIFIED" and ANNOTATION_SYNC_ROLES in (meta.get("annotations") or {}):
        memo.services.wakers.wake(str(meta["uid"]))


@kopf.on.delete(GROUP, VERSION, ORG_PLURAL, id="forget-org", optional=True)
async def org_deleted(name: str, spec: kopf.Spec, memo: kopf.Memo, **_: Any) -> None:
    services: Services = memo.services
    services.directory.forget_org(name)
    await services.astra.discard(str(spec.get("orgId", "")))
    services.wakers.wake_kind("role", "token")
