"""Kopf handlers. Importing this package registers them in `registry`; the
admission webhooks register with `enable_admission()` (Kopf refuses to start
with webhook handlers but no webhook server)."""

from __future__ import annotations

import kopf

registry = kopf.get_default_registry()

from astra_token_operator.handlers import (  # noqa: E402,F401  (registers on import)
    orgs,
    pods,
    roles,
    secrets,
    startup,
    tokens,
)


def enable_admission() -> None:
    from astra_token_operator.handlers import admission  # noqa: F401  (registers on import)
