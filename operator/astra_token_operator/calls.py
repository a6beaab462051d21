"""What each call to an outside system came to, told to whoever listens.

The three clients (astra/, vault/, kube/) report every call they finish here,
without knowing who listens: the recovery waker (a system answering again wakes
the tokens that were waiting on it) and, later, metrics. Pure data: no I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

System = Literal["astra", "vault", "kube"]
# ok: done; refused: the system answered no (404, a lost check-and-set, 401, 400);
# unavailable: no answer of its own (unreachable, timeout, 5xx, 429 after retries).
Outcome = Literal["ok", "refused", "unavailable"]


@dataclass(frozen=True)
class CallRecord:
    """One finished call (retries included): which system, what was asked, how it ended."""

    system: System
    operation: str
    outcome: Outcome
    seconds: float
    org: str = ""  # Astra calls: the org whose root token made the call
    status: int | None = None  # the HTTP status when there was one
    attempts: int = 1  # requests sent for this call (Astra retries GET and DELETE)
    rate_limited_seconds: float = 0.0  # time spent waiting for the org's rate limit

    @property
    def answered(self) -> bool:
        """The system is there: it did what was asked or said why not."""
        return self.outcome != "unavailable"


CallListener = Callable[[CallRecord], None]


def ignore_calls(_: CallRecord) -> None:
    """The listener of clients built without one."""


def fan_out(*listeners: CallListener) -> CallListener:
    """One listener that tells each of ``listeners`` in turn."""
    def tell(call: CallRecord) -> None:
        for listener in listeners:
            listener(call)

    return tell
