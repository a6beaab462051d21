"""Kopf handlers. Importing this package registers them in `registry`."""

from __future__ import annotations

import kopf

registry = kopf.get_default_registry()

from astra_token_operator.handlers import (  # noqa: E402,F401  (registers on import)
    admission,
    orgs,
    roles,
    secrets,
    startup,
    tokens,
)
