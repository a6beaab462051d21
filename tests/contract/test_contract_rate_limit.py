"""The client's per-org rate limit and concurrency cap keep a burst under the
fake's hard per-org limit; without them the limit trips."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from astra_contract_support import ORG_ID, ClientFactory

from astra_token_operator.astra import AstraClient, AstraRetryableError
from astra_token_operator.fake_astra import BUILTIN_ROLE_IDS, FakeAstra

RO_USER = BUILTIN_ROLE_IDS["RO User"]
CALLS = 200


def mixed_calls(client: AstraClient, count: int) -> list[asyncio.Future[object]]:
    makers: list[Callable[[], Awaitable[object]]] = [
        lambda: client.list_tokens(),
        lambda: client.current_org(),
        lambda: client.list_roles(),
        lambda: client.create_token(role_ids=[RO_USER], description="burst"),
    ]
    return [asyncio.ensure_future(makers[i % len(makers)]()) for i in range(count)]


async def test_a_burst_of_200_calls_never_trips_the_fakes_limit(
    make_client: ClientFactory, fake: FakeAstra
) -> None:
    fake.set_faults(rate_limit_per_second=400, rate_limit_burst=40)
    # max_attempts=1: a single 429 would fail the call, not hide behind a retry.
    client = make_client(requests_per_second=200, burst=10, concurrency=8, max_attempts=1)
    started = time.monotonic()
    await asyncio.gather(*mixed_calls(client, CALLS))
    elapsed = time.monotonic() - started
    counters = fake.counters()
    assert counters.count(status=429) == 0
    assert counters.rate_limited == {}
    assert counters.count(org=ORG_ID) == CALLS
    assert counters.max_in_flight[ORG_ID] <= 8
    # The client paced itself: beyond its burst, at most 200 requests a second.
    assert elapsed >= (CALLS - 10) / 200


async def test_without_a_client_limit_below_it_the_fakes_limit_trips(
    make_client: ClientFactory, fake: FakeAstra
) -> None:
    fake.set_faults(rate_limit_per_second=20, rate_limit_burst=5)
    client = make_client(requests_per_second=10_000, burst=10_000, concurrency=32, max_attempts=1)
    outcomes = await asyncio.gather(*mixed_calls(client, 60), return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, AstraRetryableError)]
    assert refused
    assert all(o.status == 429 and o.retry_after is not None and o.retry_after >= 1 for o in refused)
    assert fake.counters().rate_limited[ORG_ID] == len(refused)


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_calls_in_flight_never_exceed_the_concurrency_cap(
    make_client: ClientFactory, fake: FakeAstra, concurrency: int
) -> None:
    # Answers slow enough that the calls overlap at the fake whenever the client lets them.
    fake.set_faults(latency_seconds=0.1)
    client = make_client(concurrency=concurrency)
    await asyncio.gather(*(client.list_tokens() for _ in range(2 * concurrency)))
    assert fake.counters().max_in_flight[ORG_ID] == concurrency
