"""The retry policy as pure functions: backoff, Retry-After, giving up."""

from datetime import UTC, datetime

import pytest

from astra_token_operator.astra.retry import backoff_delay, next_delay, parse_retry_after

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempt", "draw", "expected"),
    [(1, 1.0, 0.5), (2, 1.0, 1.0), (3, 1.0, 2.0), (4, 0.5, 2.0), (10, 1.0, 10.0), (3, 0.0, 0.0)],
)
def test_backoff_grows_exponentially_under_a_cap_with_full_jitter(
    attempt: int, draw: float, expected: float
) -> None:
    assert backoff_delay(attempt, initial=0.5, maximum=10.0, random=lambda: draw) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        ("Thu, 01 Jan 2026 12:00:30 GMT", 30.0),
        ("Thu, 01 Jan 2026 11:59:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after_reads_seconds_or_an_http_date(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected


def _next(**overrides: object) -> float | None:
    arguments: dict[str, object] = {
        "attempt": 1, "max_attempts": 5, "retry_after": None, "remaining": 60.0,
        "initial": 0.5, "maximum": 10.0, "random": lambda: 1.0,
    }
    arguments.update(overrides)
    return next_delay(**arguments)  # type: ignore[arg-type]


def test_retry_after_wins_over_backoff() -> None:
    assert _next(retry_after=7.0) == 7.0


def test_no_retry_once_attempts_are_used_up() -> None:
    assert _next(attempt=5) is None
    assert _next(attempt=4) == pytest.approx(4.0)


def test_no_retry_when_the_wait_would_pass_the_deadline() -> None:
    assert _next(retry_after=30.0, remaining=29.0) is None
    assert _next(attempt=3, remaining=1.0) is None
