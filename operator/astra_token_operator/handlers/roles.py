"""AstraRole handlers: one daemon per role takes its turns (reconcile.roles.RoleCycle):
resolve it in Astra, publish it, report Ready."""

from __future__ import annotations

from typing import Any

import kopf

from astra_token_operator.handlers.daemons import run_turns
from astra_token_operator.handlers.kopf_events import KopfEvents
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.reconcile.roles import RoleCycle
from astra_token_operator.surface import GROUP, ROLE_PLURAL, VERSION


@kopf.daemon(GROUP, VERSION, ROLE_PLURAL, id="resolve", cancellation_backoff=10, cancellation_timeout=10)
async def role_daemon(body: kopf.Body, meta: kopf.Meta, stopped: kopf.DaemonStopped, memo: kopf.Memo,
                      **_: Any) -> None:
    deps: Deps = memo.deps
    deps.runtime.verified.note_role(str(meta["name"]))
    cycle = RoleCycle(deps, KopfEvents(body))
    await run_turns(deps, str(meta["uid"]), "role", stopped, lambda woken: cycle.step(dict(body), woken))


@kopf.on.update(GROUP, VERSION, ROLE_PLURAL, id="wake-role", field="spec")
async def role_spec_changed(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    memo.deps.runtime.wakeups.wake(str(meta["uid"]))


@kopf.on.delete(GROUP, VERSION, ROLE_PLURAL, id="forget-role", optional=True)
async def role_deleted(name: str, memo: kopf.Memo, **_: Any) -> None:
    deps: Deps = memo.deps
    deps.runtime.verified.forget_role(name)
    deps.runtime.wakeups.wake_kind("token")
