"""JSON log lines with the same keys everywhere: ``timestamp``, ``severity``,
``logger``, ``message``, then the lifecycle vocabulary (``action``, ``org``,
``role``, ``logical_name``, ``client_id``, ``namespace``, ``name``,
``lease_id``) whenever a line carries them, whether the caller put them in
``extra`` directly or under ``extra={"astra": {...}}`` (lifecycle_log.py), and
``object`` for lines Kopf logs about one object. Nothing else is copied from a
record, so a field nobody meant to log never reaches the output."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

VOCABULARY = ("action", "org", "role", "logical_name", "client_id", "namespace", "name", "lease_id")
# Flat extras the clients already use; "name" is the logger's own attribute, so it only ever
# comes from the "astra" dict.
FLAT = ("action", "org", "role", "logical_name", "client_id", "namespace", "lease_id", "status", "kind", "method")
SEVERITIES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn", logging.ERROR: "error",
              logging.CRITICAL: "fatal"}


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "severity": SEVERITIES.get(record.levelno, record.levelname.lower()),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields: dict[str, Any] = {key: getattr(record, key) for key in FLAT if getattr(record, key, None) is not None}
        nested = getattr(record, "astra", None)
        if isinstance(nested, dict):
            fields.update({key: value for key, value in nested.items() if value not in (None, "")})
        for key in VOCABULARY:
            if key in fields:
                entry[key] = fields.pop(key)
        entry.update(sorted(fields.items()))
        ref = getattr(record, "k8s_ref", None)  # Kopf's per-object loggers
        if isinstance(ref, dict):
            entry["object"] = {key: ref[key] for key in ("kind", "namespace", "name", "uid") if ref.get(key)}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def level_of(log_level: str, *, verbose: bool) -> int:
    return logging.DEBUG if verbose else logging.getLevelName(log_level.upper())
