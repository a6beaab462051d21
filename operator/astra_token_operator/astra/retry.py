"""The retry policy, as pure functions: which outcomes are retried, how long
to wait (exponential backoff with full jitter, or Astra's Retry-After) and
when to give up. The random source and the current time are parameters."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from astra_token_operator.backoff import exponential

# astra-devops-api.md §5: network errors, 429 and these 5xx; never 501.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Only these methods are retried: a POST creates a new token every time.
IDEMPOTENT_METHODS = frozenset({"GET", "DELETE"})


def backoff_delay(attempt: int, *, initial: float, maximum: float, random: Callable[[], float]) -> float:
    """Full jitter: uniform in [0, min(maximum, initial * 2^(attempt-1))].
    ``attempt`` is the number of the attempt that just failed, from 1."""
    return exponential(attempt, initial=initial, cap=maximum) * random()


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date.
    None when absent or unreadable; never negative."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def next_delay(
    *,
    attempt: int,
    max_attempts: int,
    retry_after: float | None,
    remaining: float,
    initial: float,
    maximum: float,
    random: Callable[[], float],
) -> float | None:
    """How long to wait before the next attempt, or None to give up: attempts
    used up, or the wait would run past the call's deadline. Astra's
    Retry-After wins over the computed backoff."""
    if attempt >= max_attempts:
        return None
    delay = retry_after if retry_after is not None else backoff_delay(
        attempt, initial=initial, maximum=maximum, random=random
    )
    if delay >= remaining:
        return None
    return delay
