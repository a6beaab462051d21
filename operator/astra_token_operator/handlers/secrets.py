"""The Secrets this operator manages (server-side label selector, never all
Secrets): a change or deletion wakes the owning token, which restores it."""

from __future__ import annotations

from typing import Any

import kopf

from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.surface import LABEL_MANAGED, TOKEN_KIND, TokenReason


@kopf.on.event("v1", "secrets", id="managed-secret", labels={LABEL_MANAGED: "true"})
async def managed_secret_changed(type: str | None, meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    if type is None:  # the initial listing: nothing changed
        return
    deps: Deps = memo.deps
    # A deletion is always news; a modification is, unless it is our own last write.
    version = None if type == "DELETED" else meta.get("resourceVersion")
    for owner in meta.get("ownerReferences") or []:
        if owner.get("kind") == TOKEN_KIND:
            deps.runtime.secret_changed(str(owner.get("uid")), version)
    if type == "DELETED":
        # Its name may be what an AstraToken waits for: the Secret of one deleted without its finalizer,
        # taken away by Kubernetes' garbage collector.
        deps.runtime.wake_blocked(TokenReason.CONFLICT)
