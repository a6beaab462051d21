"""AstraOrg handlers: one daemon per org takes its turns (reconcile.orgs.OrgCycle):
verification, role sync, the intent sweep and the status."""

from __future__ import annotations

from typing import Any

import kopf

from astra_token_operator.handlers.daemons import run_turns
from astra_token_operator.handlers.kopf_events import KopfEvents
from astra_token_operator.reconcile.orgs import OrgCycle
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.surface import ANNOTATION_SYNC_ROLES, GROUP, ORG_PLURAL, VERSION


@kopf.daemon(GROUP, VERSION, ORG_PLURAL, id="verify", cancellation_backoff=10, cancellation_timeout=10)
async def org_daemon(body: kopf.Body, meta: kopf.Meta, stopped: kopf.DaemonStopped, memo: kopf.Memo,
                     **_: Any) -> None:
    deps: Deps = memo.deps
    deps.runtime.verified.note_org(str(meta["name"]))
    cycle = OrgCycle(deps, KopfEvents(body))
    await run_turns(deps, str(meta["uid"]), "org", stopped, lambda woken: cycle.step(dict(body), woken))


@kopf.on.update(GROUP, VERSION, ORG_PLURAL, id="wake-org", field="spec")
async def org_spec_changed(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    memo.deps.runtime.wakeups.wake(str(meta["uid"]))


@kopf.on.event(GROUP, VERSION, ORG_PLURAL, id="wake-org-on-request")
async def org_sync_requested(type: str | None, meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    """An astra-tokens.io/sync-roles request wakes the org's daemon (an event handler: no diff-base write)."""
    if type == "MODIFIED" and ANNOTATION_SYNC_ROLES in (meta.get("annotations") or {}):
        memo.deps.runtime.wakeups.wake(str(meta["uid"]))


@kopf.on.delete(GROUP, VERSION, ORG_PLURAL, id="forget-org", optional=True)
async def org_deleted(name: str, spec: kopf.Spec, memo: kopf.Memo, **_: Any) -> None:
    deps: Deps = memo.deps
    deps.runtime.verified.forget_org(name)
    deps.observer.org_forgotten(name)
    await deps.astra.discard(str(spec.get("orgId", "")))
    deps.runtime.wakeups.wake_kind("role", "token")
