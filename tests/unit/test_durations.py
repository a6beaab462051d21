"""Durations in the plugin's forms: seconds or Go-style units, and percentages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from astra_token_operator.durations import (
    DURATION_PATTERN,
    DurationError,
    format_duration,
    parse_duration,
    parse_percent,
)

S, M, H = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)


@pytest.mark.parametrize(("value", "expected"), [
    (0, timedelta(0)),
    (3600, H),
    (1.5, 1.5 * S),
    ("0", timedelta(0)),
    ("3600", H),
    ("90s", 90 * S),
    ("15m", 15 * M),
    ("1h", H),
    ("24h", 24 * H),
    ("1h30m", 90 * M),
    ("1h30m15s", H + 30 * M + 15 * S),
    ("1.5h", 90 * M),
    ("0.5m", 30 * S),
    ("250ms", timedelta(milliseconds=250)),
    ("1s500ms", timedelta(milliseconds=1500)),
    ("30m1h", 90 * M),  # Go sums the parts in any order
    ("  90s  ", 90 * S),  # YAML and kubectl leave stray blanks
    ("007", 7 * S),
])
def test_accepted_forms_read_as_the_plugin_read_them(value: str | int | float, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize("value", [
    "", " ", "1d", "1w", "1H", "h", "1.h", ".5h", "1h 30m", "-5", "-5s", "+5s", "1e3", "5 s", "1,5h",
    "ten minutes", "1h-30m", "90s\n10",
])
def test_unreadable_strings_are_refused_with_the_forms_to_use(value: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(value)
    message = str(caught.value)
    assert repr(value) in message
    assert "use seconds (3600) or units like 90s, 15m, 1h" in message


@pytest.mark.parametrize("value", [-1, -0.5])
def test_negative_numbers_are_refused(value: int | float) -> None:
    with pytest.raises(DurationError, match="negative"):
        parse_duration(value)


@pytest.mark.parametrize("value", [True, False])
def test_booleans_are_not_taken_for_zero_or_one_second(value: bool) -> None:
    with pytest.raises(DurationError, match="is not a duration"):
        parse_duration(value)


def test_a_duration_error_is_a_value_error_so_pydantic_reports_it() -> None:
    assert issubclass(DurationError, ValueError)


@pytest.mark.parametrize(("value", "accepted"), [
    ("3600", True), ("0", True), ("90s", True), ("1h30m", True), ("1.5h", True), ("250ms", True),
    ("1d", False), ("", False), ("-5s", False), ("1H", False), (".5h", False), ("1h 30m", False),
])
def test_the_crd_pattern_accepts_exactly_what_the_parser_reads(value: str, accepted: bool) -> None:
    assert bool(re.fullmatch(DURATION_PATTERN, value)) is accepted
    if accepted:
        parse_duration(value)
    else:
        with pytest.raises(DurationError):
            parse_duration(value)


@pytest.mark.parametrize(("value", "expected"), [
    ("33%", 0.33),
    ("50%", 0.5),
    ("1%", 0.01),
    ("0%", 0.0),
    ("99%", 0.99),
    ("12.5%", 0.125),
    (" 33% ", 0.33),
])
def test_percentages_read_as_fractions(value: str, expected: float) -> None:
    assert parse_percent(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["33", "100%", "%", "-5%", "33 %", "1h", "", "33%%", "0.5%x"])
def test_what_is_not_a_percentage_reads_as_none(value: str) -> None:
    assert parse_percent(value) is None


@pytest.mark.parametrize(("delta", "expected"), [
    (timedelta(0), "0s"),
    (S, "1s"),
    (90 * S, "1m30s"),
    (15 * M, "15m"),
    (H, "1h"),
    (90 * M, "1h30m"),
    (24 * H, "24h"),
    (48 * H + 5 * S, "48h5s"),
    (H + M + S, "1h1m1s"),
])
def test_durations_print_in_the_shortest_go_form(delta: timedelta, expected: str) -> None:
    assert format_duration(delta) == expected


@pytest.mark.parametrize("seconds", [1, 59, 60, 61, 3599, 3600, 5400, 86400, 86401, 123457])
def test_a_printed_duration_reads_back_to_the_same_length(seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    assert parse_duration(format_duration(delta)) == delta
