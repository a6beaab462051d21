"""The one daemon loop: a turn, then sleep until its answer, a wake-up or a stop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import kopf

from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.reconcile.wakeups import sleep_until_woken

Turn = Callable[[bool], Awaitable[float]]  # woken? -> seconds until the next turn


async def run_turns(deps: Deps, uid: str, kind: str, stopped: kopf.DaemonStopped, turn: Turn,
                    *, until: Callable[[], bool] = lambda: False) -> None:
    """Turn after turn until the daemon is stopped (or ``until()``), each sleeping as long as the
    previous one said, less when woken (a spec change, an org becoming Ready, a system answering
    again)."""
    wake = deps.runtime.wakeups.register(uid, kind)
    woken = True
    try:
        while not stopped and not until():
            seconds = await turn(woken)
            if stopped or until():
                break
            woken = await sleep_until_woken(wake, stopped, seconds)
    finally:
        deps.runtime.wakeups.unregister(uid)
