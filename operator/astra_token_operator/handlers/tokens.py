"""AstraToken handlers: one daemon per token runs the lifecycle and sleeps
until its next due time; spec edits and renew/revoke requests wake it; the
finalizer revokes."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import Any

import kopf

from astra_token_operator.astra import AstraError
from astra_token_operator.handlers.kopf_events import KopfEvents
from astra_token_operator.kube import KubeError
from astra_token_operator.reconcile.errors import Blocked, backoff_seconds, blocked_by
from astra_token_operator.reconcile.finalize import finalize_token
from astra_token_operator.reconcile.tokens import reconcile_token
from astra_token_operator.reconcile.wakeups import sleep_until_woken
from astra_token_operator.services import Services
from astra_token_operator.surface import ANNOTATION_RENEW, ANNOTATION_REVOKE, GROUP, TOKEN_PLURAL, VERSION
from astra_token_operator.vault import VaultError

RESUME_SPREAD_SECONDS = 10.0
# A deletion retries inside its handler this long (woken when the failing system answers again)
# before handing the wait to Kopf's own retry.
FINALIZER_PATIENCE_SECONDS = 120.0


def _initial_delay(status: kopf.Status, **_: Any) -> float:
    """New tokens start at once; after a restart, existing ones spread over a few
    seconds so a thousand daemons do not all call Vault in the same instant."""
    return random.uniform(0, RESUME_SPREAD_SECONDS) if status.get("clientId") else 0.0  # noqa: S311


@kopf.daemon(GROUP, VERSION, TOKEN_PLURAL, id="lifecycle", initial_delay=_initial_delay,
             cancellation_backoff=30, cancellation_timeout=10)
async def token_daemon(body: kopf.Body, meta: kopf.Meta, stopped: kopf.DaemonStopped, memo: kopf.Memo,
                       **_: Any) -> None:
    services: Services = memo.services
    uid = str(meta["uid"])
    wake = services.wakers.register(uid, "token")
    events = KopfEvents(body)
    try:
        while not stopped and not meta.get("deletionTimestamp"):
            async with services.lock(uid):
                if stopped or meta.get("deletionTimestamp"):
                    break
                delay = await reconcile_token(services, dict(body), events)
            await sleep_until_woken(wake, stopped, delay)
    finally:
        services.wakers.unregister(uid)


@kopf.on.event(GROUP, VERSION, TOKEN_PLURAL, id="wake-token")
async def token_changed(type: str | None, meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    """A new spec generation, or a renew/revoke request, wakes the daemon. An event
    handler, not on.update/on.field: those make Kopf write its diff-base annotation on
    every label change, and each write of an AstraToken passes the admission webhooks."""
    if type != "MODIFIED":
        return
    services: Services = memo.services
    uid = str(meta["uid"])
    services.spec_changed(uid, meta.get("generation"))
    annotations = meta.get("annotations") or {}
    if ANNOTATION_RENEW in annotations or ANNOTATION_REVOKE in annotations:
        services.wakers.wake(uid)


@kopf.on.delete(GROUP, VERSION, TOKEN_PLURAL, id="revoke")
async def token_deleted(body: kopf.Body, meta: kopf.Meta, memo: kopf.Memo, retry: int, **_: Any) -> None:
    """Revoke in Astra before the AstraToken goes. Failures keep the finalizer
    (the object stays Terminating) and are retried: at once when the system at
    fault answers again, else after a backoff. An unrevoked Astra token would
    live forever."""
    services: Services = memo.services
    uid = str(meta["uid"])
    events = KopfEvents(body)
    patience = time.monotonic() + FINALIZER_PATIENCE_SECONDS
    failures, told = retry, ""
    while True:
        try:
            async with services.lock(uid):
                deleted_by = await services.ledger.read_deletion(uid)  # recorded by the admission webhook
                result = await finalize_token(services, dict(body), deleted_by)
                await services.ledger.forget_deletion(uid)
            break
        except Blocked as exc:
            blocked = exc
        except (AstraError, VaultError, KubeError) as exc:
            blocked = blocked_by(exc, failures + 1)
            blocked.reason, blocked.message = "RevokeFailed", f"revocation is retried: {blocked.message}"
        failures += 1
        if blocked.message != told:  # one Event per distinct problem, not one per attempt
            told = blocked.message
            (events.warning if blocked.warning else events.info)(blocked.reason, blocked.message)
        delay = min(blocked.retry_after, backoff_seconds(failures, base=2, cap=60))
        if time.monotonic() + delay > patience:
            raise kopf.TemporaryError(blocked.message, delay=delay)
        await _wait_for(services, blocked.cause, delay)
    if result.revoked:
        events.info("Revoked", f"revoked in Astra: {', '.join(result.revoked)}")
    if result.abandoned:
        events.warning("Abandoned", f"released without revoking (astra-tokens.io/abandon): "
                                    f"{', '.join(result.abandoned)}")


async def _wait_for(services: Services, cause: str | None, seconds: float) -> None:
    """Up to ``seconds``, less when ``cause`` (a system at fault) answers again."""
    cleared = asyncio.Event()
    if cause is not None:
        services.wakers.park(cause, cleared)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(cleared.wait(), timeout=seconds)
    finally:
        if cause is not None:
            services.wakers.unpark(cause, cleared)
