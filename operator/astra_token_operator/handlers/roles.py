"""AstraRole handlers: one daemon per role takes its turns (reconcile.roles.RoleCycle):
resolve it in Astra, publish it, report Ready."""

from __future__ import annotations

from typing import Any

import kopf

from astra_token_operator.handlers.daemons import run_turns
from astra_token_operator.handlers.kopf_events import KopfEvents
from astra_token_operator.kube import KubeError
from astra_token_operator.reconcile.dependents import release_role
from astra_token_operator.reconcile.errors import PassBlocked
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


@kopf.on.delete(GROUP, VERSION, ROLE_PLURAL, id="release-role")
async def role_deleted(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    """The role goes only once no AstraToken uses it (see org_deleted)."""
    try:
        await release_role(memo.deps, dict(body), KopfEvents(body), first=retry == 0)
    except PassBlocked as exc:
        raise kopf.TemporaryError(exc.blocked.message, delay=exc.blocked.retry_after) from None
    except KubeError as exc:
        raise kopf.TemporaryError(f"cannot check the AstraTokens that use it yet: {exc}", delay=10) from None
