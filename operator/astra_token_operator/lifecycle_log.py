"""One log vocabulary for lifecycle actions: the same keys everywhere
(org, role, logical_name, client_id, namespace, name, action, lease_id), never a token."""

from __future__ import annotations

import logging

logger = logging.getLogger("astra_token_operator.lifecycle")

_KEYS = ("action", "org", "role", "logical_name", "client_id", "namespace", "name", "lease_id")


def log_action(action: str, *, message: str = "", **fields: object) -> None:
    """One line per lifecycle action: `action=mint org=... role=... ...`, plus `extra` fields
    for JSON log formats."""
    _log(logging.INFO, action, message, fields)


def warn_action(action: str, *, message: str = "", **fields: object) -> None:
    _log(logging.WARNING, action, message, fields)


def debug_action(action: str, *, message: str = "", **fields: object) -> None:
    _log(logging.DEBUG, action, message, fields)


def _log(level: int, action: str, message: str, fields: dict[str, object]) -> None:
    values = {"action": action, **fields}
    ordered = [key for key in _KEYS if key in values] + sorted(set(values) - set(_KEYS))
    text = " ".join(f"{key}={values[key]}" for key in ordered if values[key] not in (None, ""))
    logger.log(level, "%s", f"{text} {message}".rstrip(), extra={"astra": values})
