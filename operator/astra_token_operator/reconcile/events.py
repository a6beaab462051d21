"""Where reconciliation reports what happened to a resource. The Kopf handlers
supply an implementation that posts Kubernetes Events; tests may record them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class EventSink(Protocol):
    def info(self, reason: str, message: str) -> None: ...

    def warning(self, reason: str, message: str) -> None: ...

    def about(self, obj: Mapping[str, Any]) -> EventSink:
        """A sink for Events about another object (``obj``: apiVersion, kind, metadata)."""
        ...
