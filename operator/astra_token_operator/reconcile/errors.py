"""Why a resource is waiting, as data: a Ready=False reason, a message for the
user, and when to look again."""

from __future__ import annotations


class Blocked(Exception):
    """The resource cannot progress now. The message is shown to users: it
    names what is wrong and how to fix it, and never holds a secret."""

    def __init__(self, reason: str, message: str, *, retry_after: float = 30.0, warning: bool = True) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.warning = warning


def backoff_seconds(failures: int, *, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential backoff for repeated failures of one object: 2, 4, 8, ... capped."""
    return float(min(cap, base * 2 ** max(0, failures - 1)))
