"""Wake-up events: a sleeping daemon wakes when told, when stopped, or when
its time is up, and a wake is consumed once."""

from __future__ import annotations

import asyncio
import time

from astra_token_operator.calls import CallRecord
from astra_token_operator.reconcile.wakeups import KUBE, VAULT, Wake, Wakeups, astra_cause, sleep_until_woken

SHORT = 0.05  # seconds: a timeout the test is willing to wait for
LONG = 5.0  # seconds: a sleep that must be cut short, or the test times out visibly


def test_registering_twice_returns_the_same_event() -> None:
    wakeups = Wakeups()
    first = wakeups.register("uid-1", "token")
    assert wakeups.register("uid-1", "token") is first
    assert len(wakeups) == 1


def test_waking_a_known_uid_sets_only_its_event() -> None:
    wakeups = Wakeups()
    mine, other = wakeups.register("uid-1", "token"), wakeups.register("uid-2", "token")
    assert wakeups.wake("uid-1") is True
    assert (mine.is_set(), other.is_set()) == (True, False)


def test_waking_an_unknown_uid_says_nobody_was_there() -> None:
    assert Wakeups().wake("nobody") is False


def test_waking_a_kind_wakes_every_object_of_that_kind_and_no_other() -> None:
    wakeups = Wakeups()
    tokens = [wakeups.register(f"t{i}", "token") for i in range(3)]
    role = wakeups.register("r1", "role")
    org = wakeups.register("o1", "org")
    assert wakeups.wake_kind("token") == 3
    assert all(event.is_set() for event in tokens)
    assert (role.is_set(), org.is_set()) == (False, False)


def test_waking_several_kinds_counts_them_all() -> None:
    wakeups = Wakeups()
    wakeups.register("t1", "token")
    wakeups.register("r1", "role")
    wakeups.register("o1", "org")
    assert wakeups.wake_kind("token", "role") == 2
    assert wakeups.wake_kind() == 0
    assert wakeups.wake_kind("nothing") == 0


def test_an_unregistered_uid_is_no_longer_woken() -> None:
    wakeups = Wakeups()
    event = wakeups.register("uid-1", "token")
    wakeups.unregister("uid-1")
    wakeups.unregister("uid-1")  # twice is harmless
    assert wakeups.wake("uid-1") is False
    assert wakeups.wake_kind("token") == 0
    assert not event.is_set()
    assert len(wakeups) == 0


async def test_a_wake_ends_the_sleep_early_and_is_consumed() -> None:
    wakeups = Wakeups()
    event = wakeups.register("uid-1", "token")
    started = time.monotonic()
    sleeper = asyncio.create_task(sleep_until_woken(event, None, LONG))
    await asyncio.sleep(0)  # let it start sleeping
    wakeups.wake("uid-1")
    assert await asyncio.wait_for(sleeper, timeout=1.0) is True
    assert time.monotonic() - started < 1.0
    assert not event.is_set()


async def test_a_wake_that_came_before_the_sleep_returns_at_once() -> None:
    event = Wake()
    event.set()
    assert await asyncio.wait_for(sleep_until_woken(event, None, LONG), timeout=1.0) is True
    assert not event.is_set()


async def test_stopping_ends_the_sleep_early() -> None:
    wake, stopped = Wake(), asyncio.Event()
    sleeper = asyncio.create_task(sleep_until_woken(wake, stopped, LONG))
    await asyncio.sleep(0)
    stopped.set()
    assert await asyncio.wait_for(sleeper, timeout=1.0) is False  # stopped, not woken
    assert stopped.is_set()  # the stop flag is the daemon's to read, not ours to clear


async def test_without_a_wake_the_sleep_lasts_its_time() -> None:
    wake, stopped = Wake(), asyncio.Event()
    started = time.monotonic()
    assert await sleep_until_woken(wake, stopped, SHORT) is False
    assert time.monotonic() - started >= SHORT * 0.9
    assert not wake.is_set()


async def test_a_negative_time_returns_at_once() -> None:
    assert await asyncio.wait_for(sleep_until_woken(Wake(), None, -1.0), timeout=1.0) is False


async def test_the_sleep_leaves_no_waiters_behind() -> None:
    wake, stopped = Wake(), asyncio.Event()
    before = len(asyncio.all_tasks())
    await sleep_until_woken(wake, stopped, 0.01)
    await asyncio.sleep(0)  # let cancelled waiters finish
    assert len(asyncio.all_tasks()) == before


async def test_a_sleep_without_a_stop_flag_runs_no_task_of_its_own() -> None:
    """Thousands of tokens sleep at once: each sleep is a future and a timer, not tasks."""
    wakeups = Wakeups()
    wake = wakeups.register("uid-1", "token")
    sleeper = asyncio.create_task(sleep_until_woken(wake, None, LONG))
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) == 2  # this test's and the sleeper's
    wakeups.wake("uid-1")
    assert await asyncio.wait_for(sleeper, timeout=1.0) is True


# --- waiting on a system to answer again ----------------------------------------------------------

def test_an_answer_from_a_system_wakes_only_those_waiting_on_it() -> None:
    wakeups = Wakeups()
    on_vault, on_org_a, on_org_b = (wakeups.register(u, "token") for u in ("t1", "t2", "t3"))
    wakeups.park(VAULT, on_vault)
    wakeups.park(astra_cause("org-a"), on_org_a)
    wakeups.park(astra_cause("org-b"), on_org_b)

    wakeups.call_finished(CallRecord("astra", "GET /v2/currentOrg", "ok", 0.01, org="org-a"))
    assert (on_vault.is_set(), on_org_a.is_set(), on_org_b.is_set()) == (False, True, False)
    wakeups.call_finished(CallRecord("vault", "write", "refused", 0.01))  # a lost check-and-set: Vault is there
    assert on_vault.is_set()
    assert wakeups.parked(VAULT) == 0  # woken once, then forgotten


def test_a_system_that_still_fails_wakes_nobody() -> None:
    wakeups = Wakeups()
    waiting = wakeups.register("t1", "token")
    wakeups.park(KUBE, waiting)
    wakeups.park(KUBE, waiting)  # parking twice is one wait
    wakeups.call_finished(CallRecord("kube", "patch astratokens", "unavailable", 15.0, status=500))
    assert not waiting.is_set()
    assert wakeups.parked(KUBE) == 1
