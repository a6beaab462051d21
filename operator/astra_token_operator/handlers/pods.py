"""Sidecar mode's pod handlers: the apiserver sends only labelled pods (the
watch's label selector; the webhook's objectSelector), each gets an AstraToken
of its own (reconcile/pods.py)."""

from __future__ import annotations

from typing import Any

import kopf

from astra_token_operator.reconcile.pods import reconcile_pod
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.surface import LABEL_INJECT


@kopf.on.event("v1", "pods", id="pod-token", labels={LABEL_INJECT: "true"})
async def pod_changed(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    deps: Deps = memo.deps
    await reconcile_pod(deps, dict(body), type)
