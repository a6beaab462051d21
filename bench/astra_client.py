"""Benchmark: create+revoke round trips per second through AstraClient against
the fake DevOps API, at concurrency 1, 16 and 64, next to raw httpx doing the
same requests in the same run (the client's overhead as a time ratio).

    .venv/bin/python bench/astra_client.py [--round-trips 400] [--repeats 3]

By default the fake is embedded in the same event loop (``--fake thread`` or
``--fake process`` move it); client and raw httpx runs are interleaved so both
share the machine the same way. Prints figures; asserts nothing."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from pydantic import SecretStr

from astra_token_operator.astra import AstraClient, AstraClientSettings
from astra_token_operator.fake_astra import BUILTIN_ROLE_IDS, FakeAstra, FakeAstraThread, make_admin_token

ORG_ID = "5b2c2bd1-48a3-4b0a-9f6c-7a3c7f6e2b10"
ROLE = BUILTIN_ROLE_IDS["RO User"]
RoundTrip = Callable[[int], Awaitable[None]]


async def run_workers(round_trips: int, concurrency: int, round_trip: RoundTrip) -> float:
    """Seconds to do ``round_trips`` round trips with ``concurrency`` workers."""
    counter = iter(range(round_trips))

    async def worker() -> None:
        for index in counter:
            await round_trip(index)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def time_client(url: str, root: str, round_trips: int, concurrency: int) -> float:
    # Limits far above the load: measure the client's own cost, not its pacing.
    settings = AstraClientSettings(
        base_url=url, requests_per_second=1_000_000, burst=1_000_000, concurrency=concurrency
    )
    client = AstraClient(ORG_ID, SecretStr(root), settings)

    async def round_trip(index: int) -> None:
        created = await client.create_token(role_ids=[ROLE], description=f"bench-{index}")
        await client.revoke_token(created.client_id)

    try:
        return await run_workers(round_trips, concurrency, round_trip)
    finally:
        await client.aclose()


async def time_raw_httpx(url: str, root: str, round_trips: int, concurrency: int) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {root}", "Accept": "application/json"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as http:

        async def round_trip(index: int) -> None:
            created = await http.post(
                "/v2/clientIdSecrets", json={"roles": [ROLE], "description": f"bench-{index}"}
            )
            created.raise_for_status()
            revoked = await http.delete(f"/v2/clientIdSecrets/{created.json()['clientId']}")
            revoked.raise_for_status()

        return await run_workers(round_trips, concurrency, round_trip)


async def measure(
    url: str, root: str, round_trips: int, concurrency: int, repeats: int
) -> tuple[float, float]:
    """Best (lowest) seconds for client and raw httpx, runs interleaved."""
    await time_client(url, root, 20, concurrency)  # warm up connections and code paths
    await time_raw_httpx(url, root, 20, concurrency)
    client_runs, raw_runs = [], []
    for _ in range(repeats):
        raw_runs.append(await time_raw_httpx(url, root, round_trips, concurrency))
        client_runs.append(await time_client(url, root, round_trips, concurrency))
    return min(client_runs), min(raw_runs)


@contextlib.asynccontextmanager
async def running_fake(where: str, root: str) -> AsyncIterator[str]:
    """The fake's URL: in this event loop, in a thread of this process, or in
    a process of its own (the thread suffers GIL hand-offs under load)."""
    if where == "loop":
        async with FakeAstra({ORG_ID: root}) as fake:
            yield fake.url
    elif where == "thread":
        with FakeAstraThread({ORG_ID: root}) as threaded:
            yield threaded.url
    else:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "astra_token_operator.fake_astra",
            "--port", "0", "--org", f"{ORG_ID}={root}",
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            line = (await process.stdout.readline()).decode().strip()
            yield line.removeprefix("listening on ")
        finally:
            process.send_signal(signal.SIGINT)
            await process.wait()


async def bench(args: argparse.Namespace) -> None:
    root = make_admin_token()
    async with running_fake(args.fake, root) as url:
        print(f"fake Astra at {url} ({args.fake}); {args.round_trips} create+revoke round trips per run, "
              f"best of {args.repeats}, client and raw httpx interleaved")
        print(f"{'concurrency':>11}  {'client rt/s':>11}  {'httpx rt/s':>10}  {'time ratio':>10}  "
              f"{'overhead/call':>13}")
        ratios = []
        for concurrency in args.concurrency:
            client_s, raw_s = await measure(url, root, args.round_trips, concurrency, args.repeats)
            ratio = client_s / raw_s
            ratios.append(ratio)
            overhead_us = (client_s - raw_s) / (2 * args.round_trips) * 1e6
            client_rate, raw_rate = args.round_trips / client_s, args.round_trips / raw_s
            print(f"{concurrency:>11}  {client_rate:>11.0f}  {raw_rate:>10.0f}  {ratio:>10.2f}  "
                  f"{overhead_us:>10.0f} us")
        print(f"median client/raw time ratio: {statistics.median(ratios):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--round-trips", type=int, default=400, help="round trips per run (default 400)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per side; the best is kept (default 3)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--fake", choices=["loop", "thread", "process"], default="loop",
                        help="where the fake runs: this event loop (default), a thread, or its own process")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
