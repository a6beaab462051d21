"""Read Astra's error bodies leniently (astra-devops-api.md §2 "Errors"):
``{"errors":[{"ID":..,"message":..}]}``, a bare JSON string, plain text or
nothing at all. Pure functions, no I/O."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from astra_token_operator.astra.redaction import scrub


@dataclass(frozen=True)
class ErrorBody:
    error_id: int | None = None
    message: str | None = None


def _lookup(mapping: dict[str, object], key: str) -> object:
    """Case-insensitive key lookup: Astra spells it ``ID``, others ``id``."""
    for name, value in mapping.items():
        if name.lower() == key:
            return value
    return None


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _from_json(data: object) -> ErrorBody:
    if isinstance(data, str):
        return ErrorBody(message=data)
    if isinstance(data, dict):
        errors = _lookup(data, "errors")
        if isinstance(errors, list) and errors:
            entries = [e for e in errors if isinstance(e, dict)]
            messages = [str(m) for e in entries if (m := _lookup(e, "message"))]
            first_id = next((i for e in entries if (i := _as_int(_lookup(e, "id"))) is not None), None)
            return ErrorBody(error_id=first_id, message="; ".join(messages) or None)
        for key in ("message", "description", "error"):
            value = _lookup(data, key)
            if isinstance(value, str) and value:
                return ErrorBody(error_id=_as_int(_lookup(data, "id")), message=value)
    return ErrorBody(message=json.dumps(data) if data not in (None, {}, []) else None)


def parse_error_body(content: bytes, secrets: Iterable[str] = ()) -> ErrorBody:
    """Astra's error id and message, with any token scrubbed from the message."""
    text = content.decode("utf-8", errors="replace").strip()
    if not text:
        return ErrorBody()
    try:
        parsed = _from_json(json.loads(text))
    except ValueError:
        parsed = ErrorBody(message=text)
    message = scrub(parsed.message, secrets) if parsed.message else None
    return ErrorBody(error_id=parsed.error_id, message=message or None)
