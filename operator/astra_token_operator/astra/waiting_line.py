"""The order in which an org's calls go to its rate limit: first mints before
everything else (a new pod or AstraToken waits for nothing but other first
mints), then arrival order. One waiter at a time holds the turn while it waits
for a slot and the rate limit; whoever is best placed goes next."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import IntEnum


class CallPriority(IntEnum):
    FIRST_MINT = 0  # a token that has none yet: someone is waiting for it
    ROUTINE = 1  # rotations, revocations, listings


class WaitingLine:
    def __init__(self) -> None:
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()
        self._busy = False

    def __len__(self) -> int:
        return sum(1 for _, _, handed in self._waiting if not handed.done())

    @asynccontextmanager
    async def turn(self, priority: CallPriority) -> AsyncIterator[None]:
        if self._busy:
            handed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (int(priority), next(self._arrivals), handed))
            try:
                await handed
            except asyncio.CancelledError:
                if handed.done() and not handed.cancelled():
                    self._hand_on()  # handed the turn as it was cancelled: the next one goes
                raise  # still waiting: its cancelled future is skipped when it comes up
        else:
            self._busy = True
        try:
            yield
        finally:
            self._hand_on()

    def _hand_on(self) -> None:
        while self._waiting:
            _, _, handed = heapq.heappop(self._waiting)
            if not handed.done():
                handed.set_result(None)
                return
        self._busy = False
