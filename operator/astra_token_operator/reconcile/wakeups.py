"""Per-object wake-up events: a handler, the Secret watch or an org becoming
ready wakes a sleeping daemon instead of the daemon polling; and an outside
system answering again wakes whoever waits on it (``park``/``wake_cause``), so
nobody sleeps out a backoff meant for a fault that has ended.

asyncio.Event is not thread-safe: only call these from the event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Protocol

from astra_token_operator.calls import CallRecord


class Wake(asyncio.Event):
    """One object's wake-up: an asyncio.Event that also ends the sleep bound to it at once, so a
    sleeping daemon needs no task of its own to wait on it (with thousands of tokens asleep, each
    such task cost about 1.8 KB; bench/README.md)."""

    def __init__(self) -> None:
        super().__init__()
        self._sleep: asyncio.Future[None] | None = None

    def bind(self, sleep: asyncio.Future[None] | None) -> None:
        """The sleep that a set() ends (None: none)."""
        self._sleep = sleep

    def set(self) -> None:
        super().set()
        if self._sleep is not None and not self._sleep.done():
            self._sleep.set_result(None)


class Stoppable(Protocol):
    """Kopf's `stopped` flag of a daemon (or an asyncio.Event)."""

    def wait(self) -> Awaitable[object]: ...


class Wakeups:
    """Events keyed by object uid, grouped by kind ("org", "role", "token") so an
    org becoming ready wakes its dependants without waking every org."""

    def __init__(self) -> None:
        self._events: dict[str, tuple[str, Wake]] = {}
        self._parked: dict[str, list[asyncio.Event]] = {}  # cause -> who waits for it to clear

    def register(self, uid: str, kind: str) -> Wake:
        return self._events.setdefault(uid, (kind, Wake()))[1]

    def unregister(self, uid: str) -> None:
        self._events.pop(uid, None)

    def registered(self, kind: str) -> list[str]:
        """The uids of the objects of ``kind`` that have a daemon waiting here."""
        return [uid for uid, (registered_kind, _) in self._events.items() if registered_kind == kind]

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

    def park(self, cause: str, event: asyncio.Event) -> None:
        """``event`` is set, once, when ``cause`` clears (see ``cause_of``)."""
        waiting = self._parked.setdefault(cause, [])
        if not any(parked is event for parked in waiting):
            waiting.append(event)

    def unpark(self, cause: str, event: asyncio.Event) -> None:
        waiting = self._parked.get(cause)
        if waiting is not None:
            waiting[:] = [parked for parked in waiting if parked is not event]
            if not waiting:
                del self._parked[cause]

    def wake_cause(self, cause: str) -> int:
        woken = self._parked.pop(cause, [])
        for event in woken:
            event.set()
        return len(woken)

    async def wait_for(self, cause: str | None, seconds: float) -> None:
        """Up to ``seconds``, less when ``cause`` (a system at fault) answers again."""
        cleared = asyncio.Event()
        if cause is not None:
            self.park(cause, cleared)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cleared.wait(), timeout=seconds)
        finally:
            if cause is not None:
                self.unpark(cause, cleared)

    def parked(self, cause: str) -> int:
        return len(self._parked.get(cause, ()))

    def call_finished(self, call: CallRecord) -> None:
        """A client's listener: any answer from a system clears the cause of those waiting on it."""
        if call.answered and self._parked:
            self.wake_cause(cause_of(call))

    def __len__(self) -> int:
        return len(self._events)


VAULT = "vault"
KUBE = "kube"


def astra_cause(org_id: str) -> str:
    return f"astra:{org_id}"


def cause_of(call: CallRecord) -> str:
    """What a call says is working again: Vault, the apiserver, or one org's Astra."""
    if call.system == "astra":
        return astra_cause(call.org)
    return VAULT if call.system == "vault" else KUBE


async def sleep_until_woken(wake: Wake, stopped: Stoppable | None, seconds: float) -> bool:
    """Sleep up to `seconds`, returning early when woken or stopped. True when woken
    (the wake is then cleared, ready for the next one). One future and a timer; a task only for
    `stopped` (Kopf's stop flag can be awaited, nothing more)."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()

    def end(*_: object) -> None:
        if not ended.done():
            ended.set_result(None)

    timer = loop.call_later(max(0.0, seconds), end)
    stop = asyncio.ensure_future(stopped.wait()) if stopped is not None else None
    if stop is not None:
        stop.add_done_callback(end)
    wake.bind(ended)
    if wake.is_set():
        end()
    try:
        await ended
    finally:
        wake.bind(None)
        timer.cancel()
        if stop is not None:
            stop.cancel()
    woken = wake.is_set()
    wake.clear()
    return woken
