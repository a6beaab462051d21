"""The org's waiting line to its rate limit: a first mint (a new pod or AstraToken, someone
waiting for it) goes before routine calls queued earlier, and calls of equal standing go in
arrival order; a waiter that gives up never blocks the line."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from astra_token_operator.astra.client import AstraClient
from astra_token_operator.astra.settings import AstraClientSettings
from astra_token_operator.astra.waiting_line import CallPriority, WaitingLine

FIRST, ROUTINE = CallPriority.FIRST_MINT, CallPriority.ROUTINE


async def serve(line: WaitingLine, arrivals: list[tuple[str, CallPriority]]) -> list[str]:
    """Everyone arrives while the line is busy; the order in which they get their turn."""
    served: list[str] = []
    gate = asyncio.Event()

    async def holder() -> None:
        async with line.turn(ROUTINE):
            await gate.wait()

    async def waiter(name: str, priority: CallPriority) -> None:
        async with line.turn(priority):
            served.append(name)
            await asyncio.sleep(0)

    holding = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiters = []
    for name, priority in arrivals:
        waiters.append(asyncio.create_task(waiter(name, priority)))
        await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(holding, *waiters)
    return served


async def test_a_first_mint_overtakes_routine_calls_that_came_before_it() -> None:
    order = await serve(WaitingLine(), [("rotate-a", ROUTINE), ("revoke-b", ROUTINE), ("pod-1", FIRST),
                                        ("list", ROUTINE), ("pod-2", FIRST)])
    assert order == ["pod-1", "pod-2", "rotate-a", "revoke-b", "list"]


@given(st.lists(st.sampled_from([FIRST, ROUTINE]), max_size=30))
def test_first_mints_all_go_first_and_each_kind_keeps_its_arrival_order(priorities: list[CallPriority]) -> None:
    arrivals = [(f"{p.name}-{i}", p) for i, p in enumerate(priorities)]
    order = asyncio.run(serve(WaitingLine(), arrivals))
    assert order == [n for n, p in arrivals if p is FIRST] + [n for n, p in arrivals if p is ROUTINE]


async def test_a_waiter_cancelled_in_the_line_is_skipped_and_the_line_moves_on() -> None:
    line = WaitingLine()
    gate, served = asyncio.Event(), []

    async def holder() -> None:
        async with line.turn(ROUTINE):
            await gate.wait()

    async def waiter(name: str) -> None:
        async with line.turn(FIRST):
            served.append(name)

    holding = asyncio.create_task(holder())
    await asyncio.sleep(0)
    doomed, kept = asyncio.create_task(waiter("doomed")), asyncio.create_task(waiter("kept"))
    await asyncio.sleep(0)
    doomed.cancel()
    gate.set()
    await asyncio.gather(holding, kept)
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert served == ["kept"]
    assert len(line) == 0
    async with asyncio.timeout(1):  # the line is free again
        async with line.turn(ROUTINE):
            pass


async def test_under_the_rate_limit_a_pods_first_mint_is_sent_before_a_queue_of_rotations() -> None:
    """Real time, scaled down: one request per 50 ms; five rotations queue, then a first mint."""
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.read().decode())
        return httpx.Response(201, json={"clientId": "c", "secret": "s", "orgId": "o", "roles": ["r"],
                                         "token": "AstraCS:x", "generatedOn": "2026-01-01T00:00:00Z"})

    settings = AstraClientSettings(base_url="https://astra.test", requests_per_second=20, burst=1)
    client = AstraClient("org-1", SecretStr("AstraCS:root"), settings, transport=httpx.MockTransport(answer))
    try:
        calls = [asyncio.create_task(client.create_token(role_ids=["r"], description=f"rotation-{i}"))
                 for i in range(5)]
        await asyncio.sleep(0.01)
        calls.append(asyncio.create_task(client.create_token(role_ids=["r"], description="pod", first=True)))
        await asyncio.gather(*calls)
    finally:
        await client.aclose()
    order = [next(d for d in ("pod", *(f"rotation-{i}" for i in range(5))) if f'"{d}"' in body) for body in sent]
    assert order.index("pod") <= 2  # behind at most what was already at the limit when it came
