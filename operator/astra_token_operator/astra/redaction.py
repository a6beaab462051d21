"""Keep tokens out of anything the client says: error texts from Astra are
scrubbed of AstraCS tokens, bearer values and the caller's known secrets
before they reach an exception message or a log line."""

from __future__ import annotations

import re
from collections.abc import Iterable

_ASTRA_TOKEN = re.compile(r"AstraCS:[A-Za-z0-9]*(?::[0-9A-Za-z]*)?")
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")
_MAX_TEXT = 300
REDACTED = "[redacted]"


def redact_token(token: str) -> str:
    """The CLI's way to name a token without revealing it: prefix + last 4."""
    if len(token) <= 12:
        return REDACTED
    return f"{token[:8]}...{token[-4:]}"


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Text safe to show: known secrets, AstraCS tokens and bearer values are
    replaced, and the result is cut to a readable length."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _ASTRA_TOKEN.sub("AstraCS:" + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    text = " ".join(text.split())
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 3] + "..."
    return text
