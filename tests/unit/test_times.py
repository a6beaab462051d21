"""RFC 3339 times as the operator writes and reads them: UTC with "Z", whole
seconds for people (dropped, never rounded up), microseconds for the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from astra_token_operator.times import TimeFormatError, from_rfc3339, to_rfc3339

H = timedelta(hours=1)
S = timedelta(seconds=1)
NAIVE = datetime(2030, 1, 1)


def t(offset: timedelta) -> datetime:
    return datetime(2030, 1, 1, tzinfo=UTC) + offset


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(t(H), "2030-01-01T01:00:00Z", id="utc-with-z"),
        pytest.param(
            t(timedelta(seconds=1.999)), "2030-01-01T00:00:01Z", id="fractions-are-dropped-never-rounded-up"
        ),
        pytest.param(
            datetime(2030, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))),
            "2030-01-01T00:00:00Z",
            id="other-offsets-are-converted-to-utc",
        ),
    ],
)
def test_to_rfc3339(value: datetime, expected: str) -> None:
    assert to_rfc3339(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2030-01-01T01:00:00Z", t(H), id="z-suffix"),
        pytest.param("2030-01-01T03:00:00+02:00", t(H), id="offset-is-converted-to-utc"),
        pytest.param(" 2030-01-01T01:00:00.5Z ", t(H + S / 2), id="fractions-and-whitespace"),
    ],
)
def test_from_rfc3339(text: str, expected: datetime) -> None:
    parsed = from_rfc3339(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("2030-01-01T01:00:00", "has no zone", id="no-zone"),
        pytest.param("tomorrow", "is not an RFC 3339 time", id="not-a-time"),
    ],
)
def test_from_rfc3339_refuses_times_without_a_zone_or_unreadable(text: str, message: str) -> None:
    with pytest.raises(TimeFormatError, match=message):
        from_rfc3339(text)


def test_to_rfc3339_refuses_a_naive_datetime() -> None:
    with pytest.raises(TimeFormatError, match="has no zone"):
        to_rfc3339(NAIVE)


def test_times_round_trip_through_status_strings() -> None:
    for text in ("2030-01-01T00:00:00Z", "2031-06-15T23:59:59Z", "2030-02-28T12:34:56Z"):
        assert to_rfc3339(from_rfc3339(text)) == text


def test_the_ledger_keeps_microseconds() -> None:
    moment = t(timedelta(microseconds=123456))
    assert to_rfc3339(moment, fraction=True) == "2030-01-01T00:00:00.123456Z"
    assert from_rfc3339("2030-01-01T00:00:00.123456789Z") == moment  # Vault's nanoseconds, cut


def test_an_expiry_sent_to_astra_is_whole_utc_seconds() -> None:
    moment = datetime(2026, 8, 19, 16, 30, 0, 999999, tzinfo=timezone(timedelta(hours=2)))
    assert to_rfc3339(moment) == "2026-08-19T14:30:00Z"
