"""AstraOrg handlers: one daemon per org takes its turns (reconcile.orgs.OrgCycle):
verification, role sync, the intent sweep and the status; the finalizer keeps
the org while AstraTokens use it (reconcile.dependents)."""

from __future__ import annotations

from typing import Any

import kopf

from astra_token_operator.astra import AstraError
from astra_token_operator.handlers.daemons import run_turns
from astra_token_operator.handlers.kopf_events import KopfEvents
from astra_token_operator.kube import KubeError
from astra_token_operator.reconcile.dependents import release_org
from astra_token_operator.reconcile.errors import PassBlocked
from astra_token_operator.reconcile.orgs import OrgCycle
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.surface import ANNOTATION_SYNC_ROLES, GROUP, ORG_PLURAL, VERSION
from astra_token_operator.vault import VaultError


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


@kopf.on.delete(GROUP, VERSION, ORG_PLURAL, id="release-org")
async def org_deleted(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    """The org goes only once no AstraToken uses it (with astra-tokens.io/cascade=true, once they
    are deleted and revoked): until then it stays, verified, so they can be revoked."""
    try:
        await release_org(memo.deps, dict(body), KopfEvents(body), first=retry == 0)
    except PassBlocked as exc:
        raise kopf.TemporaryError(exc.blocked.message, delay=exc.blocked.retry_after) from None
    except (KubeError, VaultError, AstraError) as exc:
        raise kopf.TemporaryError(f"cannot check the AstraTokens that use it yet: {exc}", delay=10) from None
