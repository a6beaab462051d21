"""The `astra-token-operator` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence

from astra_token_operator import __version__
from astra_token_operator.config import OperatorConfig


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="astra-token-operator",
        description="Manage DataStax Astra DB application tokens as Kubernetes custom resources.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="run the operator (Kopf) with this package's handlers",
        description="Run the operator. Settings come from ASTRA_OPERATOR_* environment variables; "
        "the flags below override them.",
    )
    run.add_argument(
        "-n", "--namespace", action="append", dest="namespaces", default=None, metavar="PATTERN",
        help="watch AstraTokens only in these namespaces (globs, repeatable); default: all namespaces",
    )
    run.add_argument("--liveness", metavar="URL", default=None,
                     help="serve liveness probes at this URL, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("--standalone", action="store_true", default=None,
                     help="do not coordinate with other replicas (no peering)")
    run.add_argument("--priority", type=int, default=None, help="peering priority of this replica")
    run.add_argument("--verbose", action="store_true", help="log at DEBUG level (else ASTRA_OPERATOR_LOG_LEVEL)")
    run.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], default=None,
                     help="log level (default INFO)")
    run.add_argument("--log-format", choices=["plain", "json"], default=None, help="log line format")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        overrides = {
            key: value
            for key, value in {
                "namespaces": args.namespaces,
                "liveness_endpoint": args.liveness,
                "standalone": args.standalone,
                "priority": args.priority,
                "log_format": args.log_format,
                "log_level": args.log_level,
            }.items()
            if value is not None
        }
        config = OperatorConfig(**overrides)
        from astra_token_operator.runner import run_operator  # imports Kopf and the handlers

        logging.getLogger(__name__).debug("starting with %s", config.describe())
        asyncio.run(run_operator(config, verbose=args.verbose))
        return 0
    return 2
