"""RFC 3339 times, the one way the operator writes and reads them: UTC with a
"Z". Whole seconds for what people read (status, Secrets, Astra's tokenExpiry;
dropping the fraction only moves a time earlier, which is the safe side), and
microseconds kept where precision matters (the ledger)."""

from __future__ import annotations

from datetime import UTC, datetime


class TimeFormatError(ValueError):
    """A time without a zone, or text that is not RFC 3339."""


def to_rfc3339(value: datetime, *, fraction: bool = False) -> str:
    """2024-05-01T12:00:00Z; with ``fraction``, 2024-05-01T12:00:00.123456Z when there is one."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise TimeFormatError(f"the time {value.isoformat()} has no zone; times must be aware (UTC)")
    utc = value.astimezone(UTC)
    if not fraction:
        utc = utc.replace(microsecond=0)
    return utc.replace(tzinfo=None).isoformat() + "Z"


def from_rfc3339(text: str) -> datetime:
    """An aware UTC datetime from "Z" or an offset; nanoseconds (Vault's) are cut to microseconds."""
    stripped = text.strip()
    head, dot, rest = stripped.partition(".")
    if dot:  # Python reads at most 6 fractional digits
        digits = len(rest) - len(rest.lstrip("0123456789"))
        stripped = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
    try:
        value = datetime.fromisoformat(stripped)
    except ValueError:
        raise TimeFormatError(f"{text!r} is not an RFC 3339 time like 2030-01-02T03:04:05Z") from None
    if value.tzinfo is None:
        raise TimeFormatError(f"the time {text!r} has no zone; write it with Z or an offset")
    return value.astimezone(UTC)
