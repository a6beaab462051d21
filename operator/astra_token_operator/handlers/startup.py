"""Operator-wide Kopf settings, applied before any resource is watched."""

from __future__ import annotations

from typing import Any

import kopf

# Kopf's own bookkeeping lives under a prefix of its own: annotations under
# astra-tokens.io/ must stay visible to our handlers (see docs/decisions.md).
KOPF_PREFIX = "op.astra-tokens.io"
FINALIZER = "astra-tokens.io/revoke"


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX, v1=False)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=KOPF_PREFIX, v1=False)
    settings.posting.reporting_component = "astra-token-operator"
