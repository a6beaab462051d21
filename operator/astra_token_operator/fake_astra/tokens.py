"""Astra token shapes (astra-devops-api.md §3): a 24-letter clientId, a
128-character secret and ``AstraCS:<clientId>:<sha256 hex of the secret>``.
Also the timestamp formats: 9 fractional digits on create, 3 on list."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime

TOKEN_PATTERN = re.compile(r"^AstraCS:[A-Za-z]{24}:[0-9a-f]{64}$")
CLIENT_ID_LENGTH = 24
SECRET_LENGTH = 128
# The alphabet of the documented sample secret.
SECRET_ALPHABET = string.ascii_letters + string.digits + ".,+_-"


def make_client_id() -> str:
    return "".join(secrets.choice(string.ascii_letters) for _ in range(CLIENT_ID_LENGTH))


def make_secret() -> str:
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(SECRET_LENGTH))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_for(client_id: str, secret: str) -> str:
    return f"AstraCS:{client_id}:{hash_secret(secret)}"


def make_admin_token() -> str:
    """A fresh, well-formed AstraCS token to register as an org's admin token."""
    return token_for(make_client_id(), make_secret())


@dataclass(frozen=True)
class ParsedToken:
    client_id: str
    secret_hash: str


def parse_token(token: str) -> ParsedToken | None:
    """The parts of a well-formed token; None when it does not match the format."""
    if not TOKEN_PATTERN.match(token):
        return None
    _, client_id, secret_hash = token.split(":")
    return ParsedToken(client_id, secret_hash)


def epoch_nanos(moment: datetime, extra_nanos: int = 0) -> int:
    """A datetime (microseconds) as epoch nanoseconds, plus sub-microsecond digits."""
    whole = int(moment.astimezone(UTC).replace(microsecond=0).timestamp())
    return whole * 1_000_000_000 + moment.microsecond * 1000 + extra_nanos


def format_nanos(nanos: int, digits: int) -> str:
    """RFC 3339 UTC with ``digits`` fractional digits: 9 on create, 3 on list."""
    seconds, fraction = divmod(nanos, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{fraction:09d}"[: len(stamp) + 1 + digits] + "Z"


def format_instant(moment: datetime) -> str:
    """``2026-08-19T14:30:00Z``, the form tokenExpiry is sent and listed in."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
