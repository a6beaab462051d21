"""The per-org token bucket, on a fake clock."""

import asyncio

import pytest

from astra_token_operator.astra.ratelimit import TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_burst_passes_at_once_then_requests_are_paced_at_the_rate() -> None:
    time = FakeTime()
    bucket = TokenBucket(10.0, 3, clock=time.clock, sleep=time.sleep)
    for _ in range(5):
        assert await bucket.acquire()
    assert time.sleeps == [pytest.approx(0.1), pytest.approx(0.1)]


async def test_concurrent_waiters_reserve_in_order_and_wait_for_their_turn() -> None:
    time = FakeTime()
    waits: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    bucket = TokenBucket(10.0, 1, clock=time.clock, sleep=recording_sleep)
    await asyncio.gather(*(bucket.acquire() for _ in range(4)))
    assert waits == [pytest.approx(0.1), pytest.approx(0.2), pytest.approx(0.3)]


async def test_idle_time_refills_but_never_beyond_the_burst() -> None:
    time = FakeTime()
    bucket = TokenBucket(10.0, 2, clock=time.clock, sleep=time.sleep)
    await bucket.acquire()
    await bucket.acquire()
    time.now += 60
    for _ in range(2):
        await bucket.acquire()
    assert time.sleeps == []
    await bucket.acquire()
    assert time.sleeps == [pytest.approx(0.1)]


async def test_a_wait_longer_than_allowed_takes_nothing() -> None:
    time = FakeTime()
    bucket = TokenBucket(1.0, 1, clock=time.clock, sleep=time.sleep)
    assert await bucket.acquire()
    assert not await bucket.acquire(max_wait=0.5)
    assert bucket.wait_time() == pytest.approx(1.0)


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    time = FakeTime()

    async def never(seconds: float) -> None:
        await asyncio.Event().wait()

    bucket = TokenBucket(1.0, 1, clock=time.clock, sleep=never)
    await bucket.acquire()
    waiter = asyncio.ensure_future(bucket.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bucket.wait_time() == pytest.approx(1.0)


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0, 1)
