"""AstraOrg handlers: one daemon per org verifies its root token, reports
Ready, and sweeps mint intents whose AstraToken is gone."""

from __future__ import annotations

import time
from typing import Any

import kopf

from astra_token_operator.handlers.kopf_events import KopfEvents
from astra_token_operator.models import (
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
from astra_token_operator.reconcile.status import changed_fields
from astra_token_operator.services import Services
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
    try:
        while not stopped:
            state = await verify_org(services, dict(body))
            if services.directory.publish_org(state):
                services.wakers.wake_kind("role", "token")  # they wait on this org's readiness
                (events.info if state.ready else events.warning)(state.reason, state.message)
            await _report(services, dict(body), state.ready, state.reason, state.message, state.org_name)
            if state.ready and time.monotonic() >= next_sweep:
                await sweep_orphan_intents(services, state)
                next_sweep = time.monotonic() + services.config.intent_sweep_interval_seconds
            await _wait_for_change(services, dict(body), wake, stopped, state.ready)
    finally:
        services.wakers.unregister(uid)


async def _wait_for_change(services: Services, body: dict[str, Any], wake: Any, stopped: kopf.DaemonStopped,
                           ready: bool) -> None:
    """Until a spec change, the root token Secret changing, or the re-verify interval."""
    if not ready:
        await sleep_until_woken(wake, stopped, NOT_READY_RETRY_SECONDS)
        return
    version = await root_token_version(services, body)
    deadline = time.monotonic() + services.config.org_verify_interval_seconds
    while not stopped and time.monotonic() < deadline:
        await sleep_until_woken(wake, stopped, min(ROOT_TOKEN_CHECK_SECONDS, deadline - time.monotonic()))
        if wake.is_set() or await root_token_version(services, body) != version:
            return
        if stopped:
            return


async def _report(services: Services, body: dict[str, Any], ready: bool, reason: str, message: str,
                  org_name: str) -> None:
    org = AstraOrg.model_validate(body)
    now = services.clock()
    conditions = set_condition(org.status.conditions, Condition(
        type=CONDITION_READY, status="True" if ready else "False", reason=reason, message=message,
        observed_generation=org.metadata.generation), now)
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


@kopf.on.delete(GROUP, VERSION, ORG_PLURAL, id="forget-org", optional=True)
async def org_deleted(name: str, spec: kopf.Spec, memo: kopf.Memo, **_: Any) -> None:
    services: Services = memo.services
    services.directory.forget_org(name)
    await services.astra.discard(str(spec.get("orgId", "")))
    services.wakers.wake_kind("role", "token")
