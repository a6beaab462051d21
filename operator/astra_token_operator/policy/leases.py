"""Lease arithmetic for AstraTokens: pure decisions, no I/O, no clock, randomness injected.

The model (DESIGN.md §6; the Vault plugin's lease as Vault core computes it):

* A token is issued at ``issued_at`` and never lives past ``max_expires_at = issued_at +
  max_ttl`` (Astra's own ``tokenExpiry`` is set to that instant when the token is minted).
* Its lease runs until ``lease_expires_at``. Renewing moves it to ``min(now + ttl,
  max_expires_at)``; renewal is bookkeeping, Astra is not called.
* A renewal is due ``renew_before`` ahead of ``lease_expires_at``. When a renewal could no
  longer push the lease out by ``renew_before`` (the max is near), the token is rotated
  instead: a new one is minted, the old one is revoked after a grace period.
* A lease found already expired (the operator was down) is revoked at once and replaced.

Role edits reach a lease at its next renewal, as the plugin re-reads the role on renew: a new
ttl sets the next expiry, a shorter max_ttl lowers the ceiling; a longer max_ttl never outlives
the Astra-side expiry fixed at mint. Every function takes ``now``; datetimes must be aware.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeAlias

from astra_token_operator.durations import format_duration, parse_duration, parse_percent
from astra_token_operator.times import to_rfc3339

Duration: TypeAlias = timedelta | str | int
DEFAULT_RENEW_BEFORE = "33%"
DEFAULT_ROTATION_GRACE_PERIOD = timedelta(minutes=5)
JITTER_SPREAD = 0.1
JITTER_MAX_SPREAD = timedelta(seconds=30)
_ONE_SECOND = timedelta(seconds=1)
_ZERO = timedelta(0)


class LeaseError(ValueError):
    """An input the lease arithmetic refuses: a naive datetime, a non-positive duration, ..."""


class TtlAboveMaxTtlError(LeaseError):
    """The effective ttl is longer than the role's maxTtl (refused, never silently clamped)."""

    def __init__(self, ttl: timedelta, max_ttl: timedelta, source: str) -> None:
        super().__init__(
            f"{source} {format_duration(ttl)} is longer than the role's maxTtl {format_duration(max_ttl)};"
            " lower the ttl or raise the role's maxTtl"
        )
        self.ttl = ttl
        self.max_ttl = max_ttl


def _aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise LeaseError(f"{name} must be timezone-aware (UTC), got the naive {value.isoformat()}")
    return value


def _duration(name: str, value: Duration, *, allow_zero: bool = False) -> timedelta:
    delta = value if isinstance(value, timedelta) else parse_duration(value)
    if delta < _ZERO or (delta == _ZERO and not allow_zero):
        wanted = "zero or positive" if allow_zero else "positive"
        raise LeaseError(f"{name} must be {wanted}, got {delta.total_seconds():g}s")
    return delta


@dataclass(frozen=True)
class Lease:
    issued_at: datetime
    lease_expires_at: datetime
    max_expires_at: datetime

    def __post_init__(self) -> None:
        for name in ("issued_at", "lease_expires_at", "max_expires_at"):
            _aware(name, getattr(self, name))
        if not self.issued_at <= self.lease_expires_at <= self.max_expires_at:
            times = ", ".join(
                t.isoformat() for t in (self.issued_at, self.lease_expires_at, self.max_expires_at)
            )
            raise LeaseError(f"a lease needs issued_at <= lease_expires_at <= max_expires_at, got {times}")


def new_lease(issued_at: datetime, ttl: Duration, max_ttl: Duration) -> Lease:
    """The lease of a token minted at ``issued_at``; a ttl beyond max_ttl is capped at the max."""
    ttl, max_ttl = _duration("ttl", ttl), _duration("max_ttl", max_ttl)
    max_expires_at = _aware("issued_at", issued_at) + max_ttl
    return Lease(issued_at, min(issued_at + ttl, max_expires_at), max_expires_at)


@dataclass(frozen=True)
class RenewalPolicy:
    """Resolved settings: build it with ``renewal_policy`` from the token and role specs."""

    ttl: timedelta
    max_ttl: timedelta
    renew_before: timedelta
    rotation_grace_period: timedelta = DEFAULT_ROTATION_GRACE_PERIOD

    def __post_init__(self) -> None:
        _duration("ttl", self.ttl)
        _duration("max_ttl", self.max_ttl)
        _duration("renew_before", self.renew_before)
        _duration("rotation_grace_period", self.rotation_grace_period, allow_zero=True)
        if self.ttl > self.max_ttl:
            raise TtlAboveMaxTtlError(self.ttl, self.max_ttl, "ttl")
        if self.renew_before > self.ttl / 2:
            raise LeaseError("renew_before must be at most half the ttl; effective_renew_before clamps it")


def effective_ttl(role_ttl: Duration, role_max_ttl: Duration, token_ttl: Duration | None = None) -> timedelta:
    """The token's own ttl if set, else the role's; raise TtlAboveMaxTtlError past the role's maxTtl."""
    max_ttl = _duration("role maxTtl", role_max_ttl)
    source = "role ttl" if token_ttl is None else "token ttl"
    ttl = _duration(source, role_ttl if token_ttl is None else token_ttl)
    if ttl > max_ttl:
        raise TtlAboveMaxTtlError(ttl, max_ttl, source)
    return ttl


def effective_renew_before(renew_before: Duration, ttl: timedelta) -> timedelta:
    """A duration, or a percentage of ttl ("33%"), clamped to [1s, ttl/2].

    The floor keeps a due time from sitting on the expiry instant. The cap is ttl/2, not just
    "below ttl": past half the ttl a renewal made at the due time can never extend the lease by
    renew_before, so every due time would rotate. When ttl < 2s the cap wins.
    """
    percent = parse_percent(renew_before) if isinstance(renew_before, str) else None
    wanted = ttl * percent if percent is not None else _duration("renewBefore", renew_before, allow_zero=True)
    return min(max(wanted, _ONE_SECOND), ttl / 2)


def renewal_policy(
    *,
    role_ttl: Duration,
    role_max_ttl: Duration,
    token_ttl: Duration | None = None,
    renew_before: Duration = DEFAULT_RENEW_BEFORE,
    rotation_grace_period: Duration = DEFAULT_ROTATION_GRACE_PERIOD,
) -> RenewalPolicy:
    ttl = effective_ttl(role_ttl, role_max_ttl, token_ttl)
    return RenewalPolicy(
        ttl=ttl,
        max_ttl=_duration("role maxTtl", role_max_ttl),
        renew_before=effective_renew_before(renew_before, ttl),
        rotation_grace_period=_duration("rotationGracePeriod", rotation_grace_period, allow_zero=True),
    )


class NextStep(enum.Enum):
    RENEW = "renew"
    ROTATE = "rotate"


@dataclass(frozen=True)
class WaitUntil:
    """Nothing is due before ``at``; ``next`` is a forecast (role edits may change it)."""

    at: datetime
    next: NextStep


@dataclass(frozen=True)
class Renew:
    """Extend the lease; ``lease`` is the renewed lease to record."""

    lease: Lease

    @property
    def new_expires_at(self) -> datetime:
        return self.lease.lease_expires_at


@dataclass(frozen=True)
class Rotate:
    """Mint a new token; the old one stays valid until ``superseded_revoke_at``."""


@dataclass(frozen=True)
class RevokeAndRotate:
    """The lease ran out unattended: revoke the old token now, then mint a new one."""

    expired_at: datetime


Decision: TypeAlias = WaitUntil | Renew | Rotate | RevokeAndRotate


def decide(now: datetime, lease: Lease, policy: RenewalPolicy, *, slack: timedelta = _ZERO) -> Decision:
    """What to do with ``lease`` at ``now``.

    ``slack``: how early the caller may act (at most ``renew_before`` counts). One that woke
    from ``jittered_wake`` passes ``at - wake`` so it renews instead of sleeping again.
    """
    _aware("now", now)
    slack = min(_duration("slack", slack, allow_zero=True), policy.renew_before)
    if now >= lease.lease_expires_at:
        return RevokeAndRotate(expired_at=lease.lease_expires_at)
    due = lease.lease_expires_at - policy.renew_before
    if now < due - slack:
        forecast = _renew_or_rotate(due, due, lease, policy)
        return WaitUntil(at=due, next=NextStep.RENEW if isinstance(forecast, Renew) else NextStep.ROTATE)
    return _renew_or_rotate(now, max(now, due), lease, policy)


def _renew_or_rotate(now: datetime, as_of: datetime, lease: Lease, policy: RenewalPolicy) -> Renew | Rotate:
    # Judged as of the due time, so acting a little early (jitter) cannot flip a renewal to a rotation.
    # A shorter role max_ttl applies from this renewal on; a longer one cannot pass Astra's expiry.
    ceiling = min(lease.max_expires_at, lease.issued_at + policy.max_ttl)
    if min(as_of + policy.ttl, ceiling) - lease.lease_expires_at < policy.renew_before:
        return Rotate()
    return Renew(replace(lease, lease_expires_at=min(now + policy.ttl, ceiling), max_expires_at=ceiling))


class RenewRefusal(enum.Enum):
    EXPIRED = "the lease has already expired; it cannot be renewed"
    AT_MAX = "the lease already ends at its max expiry; only a rotation gives more time"


@dataclass(frozen=True)
class Renewed:
    lease: Lease
    capped_at_max: bool

    @property
    def new_expires_at(self) -> datetime:
        return self.lease.lease_expires_at


@dataclass(frozen=True)
class RenewRefused:
    reason: RenewRefusal


RenewOutcome: TypeAlias = Renewed | RenewRefused


def renew_with_increment(now: datetime, lease: Lease, increment: Duration) -> RenewOutcome:
    """``vault lease renew -increment=N``: the lease now ends at ``min(now + N, max_expires_at)``.

    As in Vault, the increment counts from now, not from the current expiry: an increment
    shorter than the time left shortens the lease.
    """
    _aware("now", now)
    step = _duration("increment", increment)
    if now >= lease.lease_expires_at:
        return RenewRefused(RenewRefusal.EXPIRED)
    if lease.lease_expires_at >= lease.max_expires_at:
        return RenewRefused(RenewRefusal.AT_MAX)
    wanted = now + step
    renewed = replace(lease, lease_expires_at=min(wanted, lease.max_expires_at))
    return Renewed(renewed, capped_at_max=wanted > lease.max_expires_at)


# How far Astra's clock may run ahead of ours when it applies a token's own expiry.
ASTRA_CLOCK_SKEW = timedelta(seconds=5)


def taken_by_its_own_expiry(max_expires_at: datetime, now: datetime) -> bool:
    """Whether Astra's own ``tokenExpiry`` may have removed a token by ``now``. Astra was told
    ``max_expires_at`` to the second (the fraction dropped, so up to a second earlier), and its
    clock is not ours: a token gone a moment before our figure expired, nobody deleted it."""
    return _aware("now", now) >= _aware("max_expires_at", max_expires_at).replace(microsecond=0) - ASTRA_CLOCK_SKEW


def superseded_revoke_at(published_at: datetime, grace: Duration, old_lease: Lease) -> datetime:
    """When to revoke a rotated-out token: after the grace period, never past its own max expiry."""
    grace = _duration("rotation grace period", grace, allow_zero=True)
    return min(_aware("published_at", published_at) + grace, old_lease.max_expires_at)


def jittered_wake(
    now: datetime,
    due: datetime,
    rng: random.Random,
    spread: float = JITTER_SPREAD,
    max_spread: timedelta = JITTER_MAX_SPREAD,
) -> datetime:
    """``jittered_at`` with a draw from ``rng``."""
    return jittered_at(now, due, rng.random(), spread=spread, max_spread=max_spread)


def jittered_at(
    now: datetime,
    due: datetime,
    draw: float,
    spread: float = JITTER_SPREAD,
    max_spread: timedelta = JITTER_MAX_SPREAD,
) -> datetime:
    """A wake-up time up to ``min(spread * (due - now), max_spread)`` before ``due``; ``draw`` in
    [0, 1) says where in that window.

    Only ever earlier, never later (a renewal must not be late) and never before ``now``, so
    thousands of tokens issued together do not all call out at the same instant.
    """
    _aware("now", now)
    _aware("due", due)
    if not 0.0 <= spread <= 1.0:
        raise LeaseError(f"spread must be between 0 and 1, got {spread}")
    _duration("max_spread", max_spread, allow_zero=True)
    if due <= now:
        return now
    window = min((due - now) * spread, max_spread)
    return max(now, due - window * draw)


def secret_expires_at(lease: Lease) -> str:
    """The Secret's ``expiresAt``: the lease expiry, not the max.

    It is the instant the operator vouches for (Vault's lease end): each renewal moves it and
    rewrites the key, and if renewals stop the token is revoked then, not at the max.
    """
    return to_rfc3339(lease.lease_expires_at)
