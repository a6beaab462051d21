"""The one backoff curve: initial, then doubled after each failure, capped.
Callers add jitter or honour a server's Retry-After on top of it."""

from __future__ import annotations


def exponential(attempt: int, *, initial: float, cap: float) -> float:
    """Seconds to wait after failure number ``attempt`` (from 1): initial, 2x, 4x, ... at most ``cap``."""
    return float(min(cap, initial * 2.0 ** max(0, attempt - 1)))
