"""Shared pieces of the contract tests (imported by name: a module called
"conftest" may be another directory's)."""

from __future__ import annotations

from collections.abc import Callable

from astra_token_operator.astra import AstraClient, AstraClientSettings

ORG_ID = "5b2c2bd1-48a3-4b0a-9f6c-7a3c7f6e2b10"
OTHER_ORG_ID = "0f6e7d8c-1a2b-4c3d-8e9f-a0b1c2d3e4f5"

ClientFactory = Callable[..., AstraClient]


def quick_settings(base_url: str, **overrides: object) -> AstraClientSettings:
    options: dict[str, object] = {
        "base_url": base_url,
        "connect_timeout_seconds": 2.0,
        "read_timeout_seconds": 5.0,
        "deadline_seconds": 15.0,
        "backoff_initial_seconds": 0.001,
        "backoff_max_seconds": 0.005,
        "requests_per_second": 1000.0,
        "burst": 1000,
        "concurrency": 16,
    }
    options.update(overrides)
    return AstraClientSettings.model_validate(options)
