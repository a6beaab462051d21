"""When a failed Kubernetes call is tried again, as a pure decision, and the
small async loop that applies it (sleeping on the event loop, never holding a
worker thread).

Only KubeUnavailable is retried: 404, 403, 409 and 422 are answers, not
failures. How far depends on the call:

- ``idempotent`` calls (GETs; merge patches that set absolute values; deletes,
  whose outcome "gone" is the same however often they are sent) are retried
  on any KubeUnavailable;
- the others (create, update with a resourceVersion) only when the request
  certainly did not take effect: no connection was made, or 429. A create
  replayed after a timeout would meet its own Secret and fail AlreadyExists;
  the caller is better placed to read and decide.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from astra_token_operator.backoff import exponential
from astra_token_operator.kube.errors import KubeError, KubeUnavailable

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # in all, including the first
    initial_backoff: float = 0.2  # seconds before the second attempt; doubled after each
    max_backoff: float = 2.0  # cap on any one wait, Retry-After included


def next_delay(error: KubeError, *, attempt: int, idempotent: bool, policy: RetryPolicy) -> float | None:
    """Seconds to wait before trying again after ``attempt`` (from 1) failed
    with ``error``; None to give up and raise it."""
    if not isinstance(error, KubeUnavailable) or attempt >= policy.attempts:
        return None
    if not idempotent and error.maybe_applied:
        return None
    backoff = exponential(attempt, initial=policy.initial_backoff, cap=policy.max_backoff)
    wanted = error.retry_after if error.retry_after is not None else backoff
    return max(0.0, min(wanted, policy.max_backoff))


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    idempotent: bool,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Await ``call()`` until it succeeds or ``next_delay`` gives up."""
    attempt = 1
    while True:
        try:
            return await call()
        except KubeError as error:
            delay = next_delay(error, attempt=attempt, idempotent=idempotent, policy=policy)
            if delay is None:
                raise
        await sleep(delay)
        attempt += 1
