"""Fault injection settings of the fake, and the pure decisions made from them.

Set through the constructor, ``FakeAstra.set_faults`` or ``PUT /_fake/faults``
(the same JSON). Every field has a harmless default: no faults."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ErrorBodyStyle = Literal["json", "text", "json_string", "empty"]


class ScriptedResponse(BaseModel):
    """Answer the next ``times`` matching calls with ``status`` instead of
    serving them. Deterministic, unlike the ``rate_*`` knobs."""

    model_config = ConfigDict(extra="forbid")

    status: int = Field(ge=400, le=599)
    endpoint: str | None = None  # "POST /v2/clientIdSecrets", ...; None matches every /v2 call
    org: str | None = None  # None matches every org
    times: int = Field(default=1, ge=1)
    retry_after: str | None = None  # the Retry-After header to send, verbatim
    message: str = "injected fault"
    body: ErrorBodyStyle | None = None  # None: the config's error_body


class FaultConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latency_seconds: float = Field(default=0.0, ge=0)  # added before every /v2 answer
    # Random failures, drawn from a seeded generator (``seed``).
    rate_429: float = Field(default=0.0, ge=0, le=1)
    rate_500: float = Field(default=0.0, ge=0, le=1)
    rate_503: float = Field(default=0.0, ge=0, le=1)
    retry_after: str | None = "1"  # Retry-After on random 429s
    seed: int | None = None
    script: list[ScriptedResponse] = Field(default_factory=list)
    # How error bodies are written: errors[] JSON, text/plain, a bare JSON string, or nothing.
    error_body: ErrorBodyStyle = "json"
    # The ambiguous create: the next N creates make the token, then the
    # connection is closed ("close") or the answer held back ("hang").
    drop_create_responses: int = Field(default=0, ge=0)
    drop_mode: Literal["close", "hang"] = "close"
    hang_seconds: float = Field(default=120.0, ge=0)
    # An org that refuses tokenExpiry on create (400 naming tokenExpiry).
    reject_token_expiry: bool = False
    # The hard per-org limit: beyond it, 429 with Retry-After.
    rate_limit_per_second: float | None = Field(default=None, gt=0)
    rate_limit_burst: int = Field(default=10, ge=1)
    # Eventual consistency: a new token shows in lists, and a revoked one
    # leaves them, only after this many seconds (of the fake's clock).
    consistency_lag_seconds: float = Field(default=0.0, ge=0)
    # The next N token lists answer 200 with a body that is not valid JSON (cut short).
    malformed_lists: int = Field(default=0, ge=0)


@dataclass(frozen=True)
class InjectedError:
    status: int
    message: str
    retry_after: str | None
    body: ErrorBodyStyle | None


def pick_random_error(faults: FaultConfig, rng: random.Random) -> InjectedError | None:
    """One draw against the random rates (pure given the generator)."""
    draw = rng.random()
    for status, rate in ((429, faults.rate_429), (500, faults.rate_500), (503, faults.rate_503)):
        if draw < rate:
            retry_after = faults.retry_after if status == 429 else None
            return InjectedError(status, "injected fault", retry_after, None)
        draw -= rate
    return None


def script_matches(entry: ScriptedResponse, org: str, endpoint: str) -> bool:
    return (entry.endpoint is None or entry.endpoint == endpoint) and (entry.org is None or entry.org == org)


def error_payload(style: ErrorBodyStyle, error_id: int, message: str) -> tuple[bytes, str | None]:
    """An error body in one of the forms Astra has been seen to send."""
    if style == "json":
        return json.dumps({"errors": [{"ID": error_id, "message": message}]}).encode(), "application/json"
    if style == "json_string":
        return json.dumps(message).encode(), "application/json"
    if style == "text":
        return message.encode(), "text/plain"
    return b"", None
