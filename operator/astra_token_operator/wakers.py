"""Per-object wake-up events: a handler, the Secret watch or an org becoming
ready wakes a sleeping daemon instead of the daemon polling.

asyncio.Event is not thread-safe: only call these from the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Protocol


class Stoppable(Protocol):
    """Kopf's `stopped` flag of a daemon (or an asyncio.Event)."""

    def wait(self) -> Awaitable[object]: ...


class Wakers:
    """Events keyed by object uid, grouped by kind ("org", "role", "token") so an
    org becoming ready wakes its dependants without waking every org."""

    def __init__(self) -> None:
        self._events: dict[str, tuple[str, asyncio.Event]] = {}

    def register(self, uid: str, kind: str) -> asyncio.Event:
        return self._events.setdefault(uid, (kind, asyncio.Event()))[1]

    def unregister(self, uid: str) -> None:
        self._events.pop(uid, None)

    def wake(self, uid: str) -> bool:
        entry = self._events.get(uid)
        if entry is None:
            return False
        entry[1].set()
        return True

    def wake_kind(self, *kinds: str) -> int:
        woken = [event for kind, event in self._events.values() if kind in kinds]
        for event in woken:
            event.set()
        return len(woken)

    def __len__(self) -> int:
        return len(self._events)


async def sleep_until_woken(wake: asyncio.Event, stopped: Stoppable | None, seconds: float) -> bool:
    """Sleep up to `seconds`, returning early when woken or stopped. True when woken
    (the wake is then cleared, ready for the next one)."""
    waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(wake.wait())]
    if stopped is not None:
        waiters.append(asyncio.ensure_future(stopped.wait()))
    try:
        await asyncio.wait(waiters, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    woken = wake.is_set()
    wake.clear()
    return woken
