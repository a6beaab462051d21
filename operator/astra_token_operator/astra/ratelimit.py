"""A token bucket: at most ``burst`` requests at once, refilled at ``rate``
per second. Clock and sleep are injected so tests need no real time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now

    def wait_time(self) -> float:
        """Seconds until a request taken now could be sent."""
        self._refill()
        return max(0.0, (1.0 - self._tokens) / self._rate)

    async def acquire(self, max_wait: float = float("inf")) -> bool:
        """Take one token, waiting for it if needed. Returns False without
        taking anything when the wait would exceed ``max_wait``.

        A waiter reserves its token before sleeping (the balance goes
        negative), so waiters are served in arrival order without a lock."""
        wait = self.wait_time()
        if wait > max_wait:
            return False
        self._tokens -= 1.0
        if wait > 0:
            try:
                await self._sleep(wait)
            except BaseException:
                self._tokens += 1.0  # a cancelled waiter gives its reservation back
                raise
        return True
