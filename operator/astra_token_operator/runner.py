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
    quiet_event_handlers(verbose)
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


# The watch-event handlers: Kopf logs "Handler '<id>' succeeded." at INFO after every event each
# of them sees (20,000 lines when a restart lists 10,000 tokens and their Secrets), a sixth of the
# event loop's time in a restart's profile. They report nothing a user acts on; their
# failures are still logged, and the lifecycle log says what the operator did.
EVENT_HANDLERS = ("wake-token", "managed-secret", "wake-org-on-request", "pod-token")


class _SuccessOfEventHandlers(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.quiet = frozenset(f"Handler '{handler_id}' succeeded." for handler_id in EVENT_HANDLERS)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in self.quiet


_QUIET_EVENT_HANDLERS = _SuccessOfEventHandlers()


def quiet_event_handlers(verbose: bool) -> None:
    """Drop the per-event success lines of the watch-event handlers on Kopf's object logger (before
    any formatting); kept with --verbose."""
    objects = logging.getLogger("kopf.objects")
    objects.removeFilter(_QUIET_EVENT_HANDLERS)
    if not verbose:
        objects.addFilter(_QUIET_EVENT_HANDLERS)
