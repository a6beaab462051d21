"""Restarts of one workload asked for by several tokens within a window become
one restart: the first ask opens a batch due a window later, later asks join
it, and the first token to find it due restarts the workload for all of them.
In memory: a restart the process forgot (a crash) is asked again by the
records that still owe it, and repeats with the same stamp change nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

Workload = tuple[str, str, str]  # namespace, kind, name


@dataclass
class Batch:
    due: datetime
    stamps: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)  # names of the AstraTokens in it
    done: bool = False

    @property
    def stamp(self) -> str:
        """One stamp for the whole batch, the same whoever carries it out."""
        return max(self.stamps)


class RestartBatches:
    def __init__(self) -> None:
        self._open: dict[Workload, Batch] = {}

    def join(self, workload: Workload, stamp: str, token: str, now: datetime, window: timedelta) -> Batch:
        """The batch that restarts ``workload`` for ``stamp``: the open one, or a new one due after
        ``window``. A stamp already carried out by a batch is answered by that batch."""
        batch = self._open.get(workload)
        if batch is None or (batch.done and stamp not in batch.stamps):
            batch = self._open[workload] = Batch(due=now + window)
        if not batch.done:
            batch.stamps.add(stamp)
            batch.tokens.add(token)
        return batch

    def forget_done(self, now: datetime, keep: timedelta) -> None:
        """Drop batches carried out longer than ``keep`` ago (their tokens have all moved on)."""
        for workload, batch in list(self._open.items()):
            if batch.done and now >= batch.due + keep:
                del self._open[workload]

    def __len__(self) -> int:
        return len(self._open)
