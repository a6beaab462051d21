"""AstraToken handlers: one daemon per token runs its passes and sleeps until
the next due time; spec edits and renew/revoke requests wake it; the
finalizer revokes. Thin: everything is in reconcile/."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from astra_token_operator.handlers.daemons import run_turns
from astra_token_operator.handlers.kopf_events import KopfEvents
from astra_token_operator.policy.admission_rules import Holder
from astra_token_operator.reconcile.errors import PassBlocked
from astra_token_operator.reconcile.finalize import delete_token
from astra_token_operator.reconcile.holders import holder_key
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.reconcile.resume import resume_token
from astra_token_operator.reconcile.tokens import reconcile_token
from astra_token_operator.surface import GROUP, REQUEST_ANNOTATIONS, TOKEN_PLURAL, VERSION
from astra_token_operator.times import from_rfc3339

RESUME_SPREAD_SECONDS = 10.0


def _initial_delay(status: kopf.Status, **_: Any) -> float:
    """New tokens start at once; after a restart, existing ones spread over a few seconds so a
    thousand daemons do not all call Vault in the same instant, each never past its next due time."""
    if not status.get("clientId"):
        return 0.0
    spread = RESUME_SPREAD_SECONDS
    due = status.get("nextActionAt")
    if isinstance(due, str):
        with contextlib.suppress(ValueError):
            spread = min(spread, max(0.0, (from_rfc3339(due) - datetime.now(UTC)).total_seconds()))
    return random.uniform(0, spread)  # noqa: S311


@kopf.daemon(GROUP, VERSION, TOKEN_PLURAL, id="lifecycle", initial_delay=_initial_delay,
             cancellation_backoff=30, cancellation_timeout=10)
async def token_daemon(body: kopf.Body, meta: kopf.Meta, stopped: kopf.DaemonStopped, memo: kopf.Memo,
                       **_: Any) -> None:
    deps: Deps = memo.deps
    uid = str(meta["uid"])
    events = KopfEvents(body)
    first = True

    async def turn(_: bool) -> float:
        nonlocal first
        async with deps.runtime.lock(uid):
            if stopped or meta.get("deletionTimestamp"):
                return 0.0
            if first:  # after a restart or a hand-over: a Ready token's status says when to look again
                first = False
                armed = resume_token(deps, dict(body))
                if armed is not None:
                    return armed
            return await reconcile_token(deps, dict(body), events)

    try:
        await run_turns(deps, uid, "token", stopped, turn, until=lambda: bool(meta.get("deletionTimestamp")))
    finally:
        # Deleted, or this replica paused for a peer: its figures for the token are no longer current.
        deps.observer.token_forgotten(uid)
        if not meta.get("deletionTimestamp"):  # the finalizer still needs what a deletion knows
            deps.runtime.release(uid)


def drop_managed_fields(event: kopf.RawEvent) -> None:
    """Kopf keeps each AstraToken's latest body for its daemon, as the watch delivered it; this
    drops its ``metadata.managedFields`` (the apiserver's field ownership, which nothing here
    reads), about half of a token's body in memory (7 of 15 KB measured; bench/README.md). The
    event's object is that very dict (Kopf 1.45 hands on.event handlers the raw event it keeps)."""
    body: Mapping[str, Any] = event.get("object", {})
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)


@kopf.on.event(GROUP, VERSION, TOKEN_PLURAL, id="wake-token")
async def token_changed(type: str | None, name: str, namespace: str | None, spec: kopf.Spec, meta: kopf.Meta,
                        memo: kopf.Memo, event: kopf.RawEvent, **_: Any) -> None:
    """Keeps the holders the CREATE review checks current; a new spec generation, or a renew or
    revoke request, wakes the daemon. An event handler, not on.update/on.field: those make Kopf
    write its diff-base annotation on every label change, and each write of an AstraToken passes
    the admission webhooks."""
    drop_managed_fields(event)
    deps: Deps = memo.deps
    uid = str(meta["uid"])
    if type == "DELETED":
        deps.runtime.holders.gone(uid)
        return
    deps.runtime.holders.seen(holder_key(spec, name),
                              Holder(namespace or "", name, uid, deleting=bool(meta.get("deletionTimestamp"))))
    if type != "MODIFIED":
        return
    deps.runtime.spec_changed(uid, meta.get("generation"))
    annotations = meta.get("annotations") or {}
    if any(key in annotations for key in REQUEST_ANNOTATIONS):
        deps.runtime.wakeups.wake(uid)


@kopf.on.delete(GROUP, VERSION, TOKEN_PLURAL, id="revoke")
async def token_deleted(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    """Revoke in Astra before the AstraToken goes. Failures keep the finalizer (the object stays
    Terminating) and are retried: an unrevoked Astra token would live forever."""
    try:
        await delete_token(memo.deps, dict(body), KopfEvents(body), failures=retry)
    except PassBlocked as exc:
        raise kopf.TemporaryError(exc.blocked.message, delay=exc.blocked.retry_after) from None
