"""AstraRole handlers: one daemon per role resolves it in Astra and reports Ready."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import kopf

from astra_token_operator.handlers.kopf_events import KopfEvents
from astra_token_operator.kube import KubeError, KubeNotFound
from astra_token_operator.lifecycle_log import warn_action
from astra_token_operator.models import AstraRole, AstraRoleStatus, Condition, set_condition
from astra_token_operator.reconcile.roles import verify_role
from astra_token_operator.reconcile.status import changed_fields
from astra_token_operator.reconcile.wakeups import sleep_until_woken
from astra_token_operator.services import Services
from astra_token_operator.surface import CONDITION_READY, GROUP, ROLE_PLURAL, VERSION

NOT_READY_RETRY_SECONDS = 15.0
COUNT_REFRESH_SECONDS = 15.0


@kopf.daemon(GROUP, VERSION, ROLE_PLURAL, id="resolve", cancellation_backoff=10, cancellation_timeout=10)
async def role_daemon(body: kopf.Body, meta: kopf.Meta, stopped: kopf.DaemonStopped, memo: kopf.Memo,
                      **_: Any) -> None:
    services: Services = memo.services
    uid = str(meta["uid"])
    services.directory.note_role(str(meta["name"]))
    wake = services.wakers.register(uid, "role")
    events = KopfEvents(body)
    try:
        while not stopped:
            state = await verify_role(services, dict(body))
            if services.directory.publish_role(state):
                services.wakers.wake_kind("token")
                (events.info if state.ready else events.warning)(state.reason, state.message)
            role = AstraRole.model_validate(dict(body))
            conditions = set_condition(role.status.conditions, Condition(
                type=CONDITION_READY, status="True" if state.ready else "False", reason=state.reason,
                message=state.message, observed_generation=role.metadata.generation), services.clock())
            wanted = AstraRoleStatus(
                conditions=conditions, role_name=state.role_name, role_id=state.role_id or None,
                astra_role_name=state.astra_role_name or None, observed_generation=role.metadata.generation,
                active_tokens=services.active_tokens(role_name=state.role_name, org_ref=state.org_ref))
            patch = changed_fields(role.status, wanted)
            try:
                if patch is not None:
                    await services.kube.patch_status(ROLE_PLURAL, role.metadata.name, patch)
            except KubeNotFound:
                return  # deleted meanwhile: the watch stops this daemon
            except KubeError as exc:
                warn_action("resolve-role", name=role.metadata.name, message=f"status not written, will retry: {exc}")
                await sleep_until_woken(wake, stopped, NOT_READY_RETRY_SECONDS)
                continue
            interval = services.config.org_verify_interval_seconds if state.ready else NOT_READY_RETRY_SECONDS
            await _wait(services, body, wake, stopped, interval, state.role_name, state.org_ref)
    finally:
        services.wakers.unregister(uid)


async def _wait(services: Services, body: kopf.Body, wake: Any, stopped: kopf.DaemonStopped, seconds: float,
                role_name: str, org_ref: str) -> None:
    """Until woken or `seconds` pass; the TOKENS count is refreshed meanwhile (only written when it moves)."""
    deadline = time.monotonic() + seconds
    while not stopped and time.monotonic() < deadline:
        if await sleep_until_woken(wake, stopped, min(COUNT_REFRESH_SECONDS, deadline - time.monotonic())):
            return
        if stopped:
            return
        role = AstraRole.model_validate(dict(body))
        patch = changed_fields(role.status, AstraRoleStatus(
            active_tokens=services.active_tokens(role_name=role_name, org_ref=org_ref)))
        if patch is not None:
            with contextlib.suppress(KubeError):  # a count; the next tick writes it again
                await services.kube.patch_status(ROLE_PLURAL, role.metadata.name, patch)


@kopf.on.update(GROUP, VERSION, ROLE_PLURAL, id="wake-role", field="spec")
async def role_spec_changed(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    memo.services.wakers.wake(str(meta["uid"]))


@kopf.on.delete(GROUP, VERSION, ROLE_PLURAL, id="forget-role", optional=True)
async def role_deleted(name: str, memo: kopf.Memo, **_: Any) -> None:
    memo.services.directory.forget_role(name)
    memo.services.wakers.wake_kind("token")
