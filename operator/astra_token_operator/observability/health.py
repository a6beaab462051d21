"""Liveness and readiness, judged without making calls at rest.

Live: the event loop ran within ``stall_seconds`` (a heartbeat task on it), and
none of Kopf's watch streams died. Kopf logs "Watcher for ... has failed" and
never restarts such a stream (kopf #1276): the operator would go on answering
Kopf's own /healthz while seeing no more changes. Here a dead watcher fails
liveness, so the kubelet restarts the pod.

Ready: the admission webhook server is serving, and Vault answers. Whether
Vault answers is read from the outcome of the operator's own Vault calls (the
clients' call listener): no call is made for it while they succeed. Only once a
call found Vault unavailable does the heartbeat ask Vault itself (one cheap
call every ``vault_recheck_seconds``) until it answers again.

The verdicts are read from the server's thread: plain attributes, written on
the event loop, read whole."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from astra_token_operator.calls import CallRecord

# Kopf names the tasks of its watch streams (kopf/_core/reactor/orchestration.py).
WATCH_TASK_PREFIXES = ("watcher for ", "peering observer for ")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str


class Health:
    def __init__(self, *, stall_seconds: float = 30.0, vault_recheck_seconds: float = 30.0,
                 webhook_expected: bool = True, task_scan_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.stall_seconds = stall_seconds
        self.vault_recheck_seconds = vault_recheck_seconds
        self.beat_at = clock()
        self.webhook_expected = webhook_expected
        self.webhook_serving = False
        self.vault_down_since: float | None = None
        self.vault_down_reason = ""
        self._vault_checked_at = 0.0
        self._watchers: dict[str, asyncio.Task[object]] = {}
        self.task_scan_seconds = task_scan_seconds
        self._tasks_scanned_at = float("-inf")
        self.dead_watchers: list[str] = []

    # --- fed from the event loop ---------------------------------------------------------------

    def call_finished(self, call: CallRecord) -> None:
        """The clients' listener: Vault's answers (or their absence) decide readiness."""
        if call.system != "vault":
            return
        if call.outcome == "unavailable":
            if self.vault_down_since is None:
                self.vault_down_since = self._clock()
            self.vault_down_reason = f"{call.operation} found Vault unavailable"
        else:
            self.vault_down_since = None

    def webhook_started(self) -> None:
        self.webhook_serving = True

    def beat(self) -> None:
        self.beat_at = self._clock()
        if self.beat_at - self._tasks_scanned_at >= self.task_scan_seconds or not self._watchers:
            # All tasks are two per object (Kopf's worker and daemon): at 10,000 AstraTokens a scan
            # every beat was a third of the operator's CPU at rest. Known watchers are checked
            # every beat; a new one is found within a scan interval.
            self._tasks_scanned_at = self.beat_at
            self.look_at_watchers(asyncio.all_tasks())
        else:
            self.look_at_watchers(())

    def look_at_watchers(self, tasks: Iterable[object]) -> None:
        """Remember Kopf's watch-stream tasks; one that ended other than by cancellation died."""
        for task in tasks:
            if isinstance(task, asyncio.Task) and task.get_name().startswith(WATCH_TASK_PREFIXES):
                self._watchers.setdefault(task.get_name(), task)
        for name, task in list(self._watchers.items()):
            if not task.done():
                continue
            del self._watchers[name]
            if not task.cancelled():  # failed, or "finished unexpectedly": never restarted by Kopf
                self.dead_watchers.append(name)

    async def run(self, vault_check: Callable[[], Awaitable[None]], interval: float = 1.0) -> None:
        """The heartbeat: runs until cancelled."""
        while True:
            self.beat()
            now = self._clock()
            if self.vault_down_since is not None and now - self._vault_checked_at >= self.vault_recheck_seconds:
                self._vault_checked_at = now
                with contextlib.suppress(Exception):  # the listener records the outcome
                    await vault_check()
            await asyncio.sleep(interval)

    # --- read from the server's thread ---------------------------------------------------------

    def liveness(self) -> Verdict:
        stalled = self._clock() - self.beat_at
        if stalled > self.stall_seconds:
            return Verdict(False, f"the event loop has not run for {stalled:.0f} s")
        if self.dead_watchers:
            return Verdict(False, f"{self.dead_watchers[0]} has failed and is never restarted (kopf #1276)")
        return Verdict(True, "ok")

    def readiness(self) -> Verdict:
        live = self.liveness()
        if not live.ok:
            return live
        if self.webhook_expected and not self.webhook_serving:
            return Verdict(False, "the admission webhook server is not serving yet")
        if self.vault_down_since is not None:
            down = self._clock() - self.vault_down_since
            return Verdict(False, f"Vault has not answered for {down:.0f} s ({self.vault_down_reason})")
        return Verdict(True, "ok")
