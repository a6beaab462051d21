"""``python -m astra_token_operator.fake_astra --port N --org <orgId>=<adminToken>``

Prints ``listening on http://127.0.0.1:<port>`` first, then serves until
interrupted (SIGINT/SIGTERM)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence

from astra_token_operator.fake_astra.faults import FaultConfig
from astra_token_operator.fake_astra.server import FakeAstra
from astra_token_operator.fake_astra.tokens import make_admin_token, parse_token


def _org(value: str) -> tuple[str, str]:
    org_id, sep, token = value.partition("=")
    if not sep or not org_id or not token:
        raise argparse.ArgumentTypeError("expected <orgId>=<adminToken>")
    if parse_token(token) is None:
        raise argparse.ArgumentTypeError(
            f"the admin token of org {org_id} is not AstraCS:<24 letters>:<64 lowercase hex>"
        )
    return org_id, token


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m astra_token_operator.fake_astra",
        description="Serve a fake Astra DevOps API (tokens, roles, current org) for tests and demos.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one")
    parser.add_argument(
        "--org", action="append", type=_org, default=[], metavar="ORG_ID=ADMIN_TOKEN",
        help="an org and its admin token (repeatable); the token must be AstraCS:<24 letters>:<64 hex>",
    )
    parser.add_argument("--faults", default=None, metavar="JSON",
                        help="initial faults, in the JSON that PUT /_fake/faults takes")
    parser.add_argument("--access-log", action="store_true", help="log each request line")
    parser.add_argument("--new-admin-token", action="store_true",
                        help="print a fresh well-formed admin token and exit")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    faults = FaultConfig.model_validate(json.loads(args.faults)) if args.faults else None
    fake = FakeAstra(
        dict(args.org), faults=faults, host=args.host, port=args.port, access_log=args.access_log
    )
    url = await fake.start()
    print(f"listening on {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await fake.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.new_admin_token:
        print(make_admin_token(), flush=True)
        return 0
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
