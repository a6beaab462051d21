"""Kopf handlers. Importing this package registers them in `registry`."""

from __future__ import annotations

import kopf

registry = kopf.get_default_registry()

from astra_token_operator.handlers import orgs, roles, secrets, startup, tokens  # noqa: E402,F401  (registers on import)
