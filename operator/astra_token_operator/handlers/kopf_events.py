"""Kubernetes Events for reconciliation, posted through Kopf."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf


class KopfEvents:
    def __init__(self, body: Mapping[str, Any]) -> None:
        self._body = body

    def info(self, reason: str, message: str) -> None:
        kopf.info(self._body, reason=reason, message=message)  # type: ignore[arg-type]

    def warning(self, reason: str, message: str) -> None:
        kopf.warn(self._body, reason=reason, message=message)  # type: ignore[arg-type]

    def about(self, obj: Mapping[str, Any]) -> KopfEvents:
        return KopfEvents(obj)
