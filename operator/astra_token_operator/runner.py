"""Starts Kopf with this package's handlers and the operator's settings."""

from __future__ import annotations

import logging

import kopf

from astra_token_operator import handlers
from astra_token_operator.config import OperatorConfig
from astra_token_operator.logformat import JsonLines, level_of


async def run_operator(config: OperatorConfig, *, verbose: bool = False) -> None:
    if config.webhook_enabled:
        handlers.enable_admission()
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.PLAIN)
    root = logging.getLogger()
    root.setLevel(level_of(config.log_level, verbose=verbose))
    if config.log_format == "json":
        for handler in root.handlers:  # Kopf's own handler: our formatter, the same keys on every line
            handler.setFormatter(JsonLines())
    quiet_access_log(verbose)
    await kopf.operator(
        registry=handlers.registry,
        memo=kopf.Memo(config=config),
        clusterwide=not config.namespaces,
        namespaces=config.namespaces,
        standalone=config.standalone,
        priority=config.priority,
        # A peering name makes peering mandatory, which would pause a standalone operator forever.
        peering_name=None if config.standalone else config.peering_name,
        liveness_endpoint=config.liveness_endpoint,
    )


def quiet_access_log(verbose: bool) -> None:
    """aiohttp's access log, one line per request to the webhook and liveness servers (two per new
    AstraToken), took a sixth of the webhooks' time in a 1,000-token ramp; Kopf logs each review's
    outcome itself. Kept with --verbose."""
    logging.getLogger("aiohttp.access").setLevel(logging.DEBUG if verbose else logging.WARNING)
