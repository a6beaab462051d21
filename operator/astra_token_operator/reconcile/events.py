"""Where reconciliation reports what happened to a resource. The Kopf handlers
supply an implementation that posts Kubernetes Events; tests may record them."""

from __future__ import annotations

from typing import Protocol


class EventSink(Protocol):
    def info(self, reason: str, message: str) -> None: ...

    def warning(self, reason: str, message: str) -> None: ...
