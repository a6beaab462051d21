"""Settings of one org's DevOps API client: timeouts, retries, rate limit.

One frozen object, so the client pool can tell "same settings" from "changed"
by equality and replace a client only when something really changed."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from astra_token_operator import __version__

PRODUCTION_URL = "https://api.astra.datastax.com"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def default_user_agent() -> str:
    return f"astra-token-operator/{__version__}"


class AstraClientSettings(BaseModel):
    """Defaults follow astra-devops-api.md §5 (connect 5 s, read 30 s, a 60 s
    deadline per call, at most 5 attempts) and DESIGN.md §9 (10 requests/s,
    burst 20, 8 calls in flight per org)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = PRODUCTION_URL
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    read_timeout_seconds: float = Field(default=30.0, gt=0)
    # Covers every attempt, backoff sleep and rate-limit wait of one call.
    deadline_seconds: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    backoff_initial_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=10.0, ge=0)
    requests_per_second: float = Field(default=10.0, gt=0)
    burst: int = Field(default=20, ge=1)
    concurrency: int = Field(default=8, ge=1)
    user_agent: str = Field(default_factory=default_user_agent)
    # The root token travels in a header: plain http only to loopback (the
    # fake in tests and the demo) unless someone opts in explicitly.
    allow_insecure_http: bool = False

    @field_validator("base_url")
    @classmethod
    def _normalise_base_url(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        url = url.removesuffix("/v2")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url {value!r} must be an http(s) URL such as {PRODUCTION_URL}")
        return url

    @model_validator(mode="after")
    def _refuse_cleartext_to_remote_hosts(self) -> AstraClientSettings:
        parts = urlsplit(self.base_url)
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS and not self.allow_insecure_http:
            raise ValueError(
                f"base_url {self.base_url!r} uses plain http to a non-loopback host; use https "
                "(or set allow_insecure_http for a test fake)"
            )
        return self
