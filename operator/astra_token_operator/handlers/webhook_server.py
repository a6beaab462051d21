"""The admission webhook server: where it listens, its certificate, the
address the apiserver is told to call, and which requests it is sent."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import kopf
from kopf._core.engines import admission as kopf_admission

from astra_token_operator.certs import make_serving_certificate
from astra_token_operator.config import OperatorConfig
from astra_token_operator.policy.admission_rules import with_match_conditions

BIND_RETRY_SECONDS = 2.0
logger = logging.getLogger(__name__)


class AnnouncingWebhookServer(kopf.WebhookServer):
    """Says when it serves (readiness): Kopf's server yields its client configuration once it
    listens. A port still held when it starts is tried again every 2 s: Kopf would end the whole
    operator on it."""

    def __init__(self, *, on_serving: Callable[[], None] = lambda: None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_serving = on_serving

    async def __call__(self, fn: Any) -> AsyncIterator[dict[str, Any]]:  # type: ignore[override]
        while True:
            served = False
            try:
                async for client_config in super().__call__(fn):
                    served = True
                    self.on_serving()
                    yield dict(client_config)
                return
            except OSError as exc:
                # The previous process (a force-deleted pod on the host network) may hold the port for
                # a few seconds; so may a client's connection when the port is in the ephemeral range.
                if served or exc.errno != errno.EADDRINUSE:
                    raise
                logger.warning("cannot listen for admission reviews on %s:%s yet (%s); retrying in %g s",
                               self.addr or "*", self.port, os.strerror(exc.errno), BIND_RETRY_SECONDS)
            await asyncio.sleep(BIND_RETRY_SECONDS)


class ServiceWebhookServer(AnnouncingWebhookServer):
    """In a cluster the apiserver reaches the operator through a Service, not a URL
    (it rarely resolves *.svc names itself)."""

    def __init__(self, *, service: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service = service

    async def __call__(self, fn: Any) -> AsyncIterator[dict[str, Any]]:  # type: ignore[override]
        async for client_config in super().__call__(fn):
            yield {"service": dict(self.service), "caBundle": client_config.get("caBundle")}


def build_webhook_server(config: OperatorConfig, *, on_serving: Callable[[], None] = lambda: None
                         ) -> kopf.WebhookServer:
    certfile, pkeyfile, cafile = config.webhook_cert_file, config.webhook_key_file, config.webhook_ca_file
    if (certfile is None or pkeyfile is None) and config.webhook_service_name:
        raise ValueError("the webhook is served through a Service but ASTRA_OPERATOR_WEBHOOK_CERT_FILE and "
                         "ASTRA_OPERATOR_WEBHOOK_KEY_FILE are not set: mount the webhook certificate Secret "
                         "(the Helm chart does) or disable the webhook")
    if certfile is None or pkeyfile is None:
        # Local runs: a fresh self-signed CA and certificate for the address the apiserver calls.
        directory = Path(tempfile.mkdtemp(prefix="astra-token-operator-webhook-"))
        ca, cert, key = make_serving_certificate([config.webhook_host]).write(directory)
        certfile, pkeyfile, cafile = str(cert), str(key), str(ca)
    common: dict[str, Any] = {"addr": config.webhook_listen_addr, "port": config.webhook_port,
                              "certfile": certfile, "pkeyfile": pkeyfile, "cafile": cafile, "on_serving": on_serving}
    if config.webhook_service_name:
        service = {"name": config.webhook_service_name,
                   "namespace": config.webhook_service_namespace or config.operator_namespace,
                   "port": config.webhook_service_port}
        return ServiceWebhookServer(service=service, **common)
    return AnnouncingWebhookServer(host=config.webhook_host, **common)


def limit_token_reviews() -> None:
    """Kopf writes the webhook configurations itself (settings.admission.managed) and, in 1.45, has
    no setting for matchConditions: its builder is wrapped so that every configuration it writes
    carries ours (policy.admission_rules.with_match_conditions). Idempotent."""
    build = kopf_admission.build_webhooks
    if getattr(build, "with_match_conditions", False):
        return

    def build_with_conditions(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return with_match_conditions(build(*args, **kwargs))

    build_with_conditions.with_match_conditions = True  # type: ignore[attr-defined]
    kopf_admission.build_webhooks = build_with_conditions
