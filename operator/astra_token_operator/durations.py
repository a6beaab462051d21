"""Durations in the forms the Vault plugin accepted: an integer number of
seconds (``3600`` or ``"3600"``) or Go-style units (``"90s"``, ``"15m"``,
``"1h"``, ``"1h30m"``, ``"24h"``). Pure functions, no I/O.

No "d" unit: Go's time.ParseDuration (the plugin) and CEL's duration() (our CRD
rules) do not have one either, and the three must agree."""

from __future__ import annotations

import re
from datetime import timedelta

# The same grammar is written into the CRD schemas (crds/*.yaml) as a pattern,
# so the apiserver refuses what this module cannot parse.
DURATION_PATTERN = r"^([0-9]+|([0-9]+(\.[0-9]+)?(ms|s|m|h))+)$"
PERCENT_PATTERN = r"^([0-9]{1,2}(\.[0-9]+)?)%$"

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_WHOLE = re.compile(DURATION_PATTERN)
_PERCENT = re.compile(PERCENT_PATTERN)


class DurationError(ValueError):
    """A duration that none of the accepted forms can read."""


def parse_duration(value: str | int | float) -> timedelta:
    """Read a duration; raise DurationError with a message a person can act on."""
    if isinstance(value, bool):
        raise DurationError(f"{value!r} is not a duration; use seconds (3600) or units like 90s, 15m, 1h")
    if isinstance(value, int | float):
        if value < 0:
            raise DurationError(f"duration {value} is negative")
        return timedelta(seconds=value)
    text = value.strip()
    if not _WHOLE.match(text):
        raise DurationError(
            f"{value!r} is not a duration; use seconds (3600) or units like 90s, 15m, 1h, 1h30m"
        )
    if text.isdigit():
        return timedelta(seconds=int(text))
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text)))


def parse_percent(value: str) -> float | None:
    """'33%' -> 0.33; None when value is not a percentage."""
    match = _PERCENT.match(value.strip())
    return float(match.group(1)) / 100.0 if match else None


def format_duration(delta: timedelta) -> str:
    """The shortest Go-style form: 86400s -> '24h', 5400s -> '1h30m', 90s -> '1m30s'."""
    total = int(delta.total_seconds())
    if total == 0:
        return "0s"
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n)
