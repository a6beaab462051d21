"""AstraToken handlers: one daemon per token runs the lifecycle and sleeps
until its next due time; spec edits and renew/revoke requests wake it; the
finalizer revokes."""

from __future__ import annotations

import random
from typing import Any

import kopf

from astra_token_operator.astra import AstraError
from astra_token_operator.handlers.kopf_events import KopfEvents
from astra_token_operator.kube import KubeError
from astra_token_operator.models import (
    ANNOTATION_RENEW,
    ANNOTATION_REVOKE,
    ANNOTATION_ROTATE,
    GROUP,
    TOKEN_PLURAL,
    VERSION,
)
from astra_token_operator.reconcile.errors import Blocked, backoff_seconds
from astra_token_operator.reconcile.finalize import finalize_token
from astra_token_operator.reconcile.tokens import reconcile_token
from astra_token_operator.services import Services
from astra_token_operator.vault import VaultError
from astra_token_operator.wakers import sleep_until_woken

RESUME_SPREAD_SECONDS = 10.0


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
    if ANNOTATION_RENEW in annotations or ANNOTATION_REVOKE in annotations or ANNOTATION_ROTATE in annotations:
        services.wakers.wake(uid)


@kopf.on.delete(GROUP, VERSION, TOKEN_PLURAL, id="revoke")
async def token_deleted(body: kopf.Body, meta: kopf.Meta, memo: kopf.Memo, retry: int, **_: Any) -> None:
    """Revoke in Astra before the AstraToken goes. Failures keep the finalizer
    (the object stays Terminating) and retry with backoff: an unrevoked Astra
    token would live forever."""
    services: Services = memo.services
    uid = str(meta["uid"])
    events = KopfEvents(body)
    delay = backoff_seconds(retry + 1, base=5, cap=600)
    try:
        async with services.lock(uid):
            deleted_by = await services.ledger.read_deletion(uid)  # recorded by the admission webhook
            result = await finalize_token(services, dict(body), deleted_by)
            await services.ledger.forget_deletion(uid)
    except Blocked as blocked:
        events.warning(blocked.reason, blocked.message)
        raise kopf.TemporaryError(blocked.message, delay=min(delay, blocked.retry_after)) from None
    except (AstraError, VaultError, KubeError) as exc:
        events.warning("RevokeFailed", f"revocation will be retried in {delay:.0f}s: {exc}")
        raise kopf.TemporaryError(str(exc), delay=delay) from None
    if result.revoked:
        events.info("Revoked", f"revoked in Astra: {', '.join(result.revoked)}")
    if result.abandoned:
        events.warning("Abandoned", f"released without revoking (astra-tokens.io/abandon): "
                                    f"{', '.join(result.abandoned)}")
