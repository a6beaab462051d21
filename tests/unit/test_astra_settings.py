"""Client settings: documented defaults, safe URLs."""

import pytest
from pydantic import ValidationError

from astra_token_operator import __version__
from astra_token_operator.astra import AstraClientSettings


def test_defaults_are_the_documented_ones() -> None:
    settings = AstraClientSettings()
    assert settings.base_url == "https://api.astra.datastax.com"
    assert (settings.connect_timeout_seconds, settings.read_timeout_seconds, settings.deadline_seconds) == (
        5.0, 30.0, 60.0,
    )
    assert settings.max_attempts == 5
    assert (settings.requests_per_second, settings.burst, settings.concurrency) == (10.0, 20, 8)
    assert settings.user_agent == f"astra-token-operator/{__version__}"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://api.astra.datastax.com/", "https://api.astra.datastax.com"),
        ("https://api.dev.cloud.datastax.com/v2", "https://api.dev.cloud.datastax.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:9", "http://localhost:9"),
    ],
)
def test_base_url_is_normalised(given: str, kept: str) -> None:
    assert AstraClientSettings(base_url=given).base_url == kept


def test_cleartext_to_a_remote_host_is_refused_unless_asked_for() -> None:
    with pytest.raises(ValidationError, match="plain http"):
        AstraClientSettings(base_url="http://fake-astra.demo.svc:8080")
    allowed = AstraClientSettings(base_url="http://fake-astra.demo.svc:8080", allow_insecure_http=True)
    assert allowed.base_url == "http://fake-astra.demo.svc:8080"


@pytest.mark.parametrize("url", ["ftp://example.com", "not a url", "https://"])
def test_nonsense_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        AstraClientSettings(base_url=url)


def test_settings_compare_by_value_so_the_pool_can_tell_a_change() -> None:
    assert AstraClientSettings(burst=5) == AstraClientSettings(burst=5)
    assert AstraClientSettings(burst=5) != AstraClientSettings(burst=6)
