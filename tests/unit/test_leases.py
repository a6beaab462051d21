"""The lease arithmetic: a table per function, then whole token lives on a fake clock."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from astra_token_operator.durations import DurationError
from astra_token_operator.policy.leases import (
    DEFAULT_ROTATION_GRACE_PERIOD,
    Decision,
    Lease,
    LeaseError,
    NextStep,
    Renew,
    RenewalPolicy,
    Renewed,
    RenewOutcome,
    RenewRefusal,
    RenewRefused,
    RevokeAndRotate,
    Rotate,
    TtlAboveMaxTtlError,
    WaitUntil,
    decide,
    effective_renew_before,
    effective_ttl,
    jittered_wake,
    new_lease,
    renew_with_increment,
    renewal_policy,
    secret_expires_at,
    superseded_revoke_at,
    taken_by_its_own_expiry,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)
NAIVE = datetime(2030, 1, 1)  # no zone: what the module must refuse
S, M, H = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)
DAY = timedelta(days=1)
ZERO = timedelta(0)


def t(delta: timedelta = ZERO) -> datetime:
    return T0 + delta


def lease(expires: timedelta, max_: timedelta = 24 * H) -> Lease:
    """A lease issued at T0, ending at T0 + expires, never past T0 + max_."""
    return Lease(T0, t(expires), t(max_))


# ttl 1h, max 24h, renew 20m ahead: renewals every 40m.
HOURLY = RenewalPolicy(ttl=H, max_ttl=24 * H, renew_before=20 * M)


class FixedRandom(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


# --- new_lease -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "max_ttl", "expected"),
    [
        pytest.param(H, 24 * H, Lease(T0, t(H), t(24 * H)), id="ttl-within-max-runs-for-the-ttl"),
        pytest.param(24 * H, 24 * H, Lease(T0, t(24 * H), t(24 * H)), id="ttl-equal-to-max-runs-to-the-max"),
        pytest.param(2 * H, H, Lease(T0, t(H), t(H)), id="ttl-beyond-the-max-is-capped-at-the-max"),
        pytest.param("90m", "24h", Lease(T0, t(90 * M), t(DAY)), id="duration-strings-are-read"),
        pytest.param(3600, "86400", Lease(T0, t(H), t(DAY)), id="integer-seconds-are-read"),
    ],
)
def test_new_lease_runs_for_the_ttl_capped_at_the_max(ttl: Any, max_ttl: Any, expected: Lease) -> None:
    assert new_lease(T0, ttl, max_ttl) == expected


@pytest.mark.parametrize(
    ("issued_at", "ttl", "max_ttl", "error", "message"),
    [
        pytest.param(T0, ZERO, H, LeaseError, "ttl must be positive, got 0s", id="zero-ttl"),
        pytest.param(T0, H, ZERO, LeaseError, "max_ttl must be positive", id="zero-max-ttl"),
        pytest.param(T0, -H, H, LeaseError, "ttl must be positive, got -3600s", id="negative-ttl"),
        pytest.param(T0, -5, H, DurationError, "negative", id="negative-integer-ttl"),
        pytest.param(T0, "soon", H, DurationError, "not a duration", id="unreadable-ttl"),
        pytest.param(NAIVE, H, H, LeaseError, "issued_at must be timezone-aware", id="naive-issue-time"),
    ],
)
def test_new_lease_refuses_bad_input(
    issued_at: datetime, ttl: Any, max_ttl: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        new_lease(issued_at, ttl, max_ttl)


@pytest.mark.parametrize(
    ("issued_at", "expires_at", "max_expires_at", "message"),
    [
        pytest.param(
            T0, t(2 * H), t(H), "issued_at <= lease_expires_at <= max_expires_at", id="expiry-past-max"
        ),
        pytest.param(t(H), T0, t(2 * H), "issued_at <= lease_expires_at", id="expiry-before-issue"),
        pytest.param(T0, NAIVE, t(H), "lease_expires_at must be timezone-aware", id="naive-expiry"),
    ],
)
def test_a_lease_refuses_impossible_times(
    issued_at: datetime, expires_at: datetime, max_expires_at: datetime, message: str
) -> None:
    with pytest.raises(LeaseError, match=message):
        Lease(issued_at, expires_at, max_expires_at)


# --- policy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role_ttl", "role_max_ttl", "token_ttl", "expected"),
    [
        pytest.param("24h", "24h", None, 24 * H, id="no-token-ttl-uses-the-role-ttl"),
        pytest.param("24h", "48h", "1h", H, id="token-ttl-overrides-the-role-ttl"),
        pytest.param("1h", "48h", "48h", 48 * H, id="token-ttl-may-equal-the-role-max"),
        pytest.param(3600, 86400, timedelta(minutes=5), 5 * M, id="seconds-and-timedeltas-are-read"),
    ],
)
def test_effective_ttl_is_the_token_ttl_or_else_the_role_ttl(
    role_ttl: Any, role_max_ttl: Any, token_ttl: Any, expected: timedelta
) -> None:
    assert effective_ttl(role_ttl, role_max_ttl, token_ttl) == expected


@pytest.mark.parametrize(
    ("role_ttl", "role_max_ttl", "token_ttl", "message"),
    [
        pytest.param(
            "1h", "24h", "25h", "token ttl 25h is longer than the role's maxTtl 24h", id="token-ttl-above-max"
        ),
        pytest.param(
            "48h", "24h", None, "role ttl 48h is longer than the role's maxTtl 24h", id="role-ttl-above-max"
        ),
    ],
)
def test_a_ttl_above_the_role_max_is_refused_with_a_clear_message(
    role_ttl: str, role_max_ttl: str, token_ttl: str | None, message: str
) -> None:
    with pytest.raises(TtlAboveMaxTtlError, match=message) as refused:
        effective_ttl(role_ttl, role_max_ttl, token_ttl)
    assert refused.value.max_ttl == 24 * H
    assert "raise the role's maxTtl" in str(refused.value)


@pytest.mark.parametrize(
    ("role_ttl", "role_max_ttl", "token_ttl", "message"),
    [
        pytest.param("1h", "24h", "0", "token ttl must be positive", id="zero-token-ttl"),
        pytest.param("0s", "24h", None, "role ttl must be positive", id="zero-role-ttl"),
        pytest.param("1h", 0, None, "role maxTtl must be positive", id="zero-role-max"),
    ],
)
def test_zero_ttls_are_refused(role_ttl: Any, role_max_ttl: Any, token_ttl: Any, message: str) -> None:
    with pytest.raises(LeaseError, match=message):
        effective_ttl(role_ttl, role_max_ttl, token_ttl)


@pytest.mark.parametrize(
    ("renew_before", "ttl", "expected"),
    [
        pytest.param("33%", 24 * H, timedelta(seconds=28512), id="percent-is-of-the-ttl"),
        pytest.param("50%", H, 30 * M, id="half-the-ttl-is-allowed"),
        pytest.param("12.5%", 8 * H, H, id="fractional-percent"),
        pytest.param("15m", H, 15 * M, id="duration-string"),
        pytest.param(600, H, 10 * M, id="integer-seconds"),
        pytest.param(timedelta(minutes=7), H, 7 * M, id="timedelta"),
        pytest.param("0%", H, S, id="zero-percent-is-raised-to-1s"),
        pytest.param("0", H, S, id="zero-duration-is-raised-to-1s"),
        pytest.param("100ms", H, S, id="sub-second-is-raised-to-1s"),
        pytest.param("99%", H, 30 * M, id="percent-above-half-is-lowered-to-half-the-ttl"),
        pytest.param("45m", H, 30 * M, id="duration-above-half-is-lowered-to-half-the-ttl"),
        pytest.param("1h", H, 30 * M, id="duration-equal-to-the-ttl-is-lowered"),
        pytest.param("48h", 24 * H, 12 * H, id="duration-longer-than-the-ttl-is-lowered"),
        pytest.param("33%", S, S / 2, id="ttl-under-2s-the-half-cap-beats-the-1s-floor"),
    ],
)
def test_renew_before_is_clamped_between_1s_and_half_the_ttl(
    renew_before: Any, ttl: timedelta, expected: timedelta
) -> None:
    assert effective_renew_before(renew_before, ttl) == expected


@pytest.mark.parametrize(
    ("renew_before", "error"),
    [
        pytest.param("100%", DurationError, id="hundred-percent-is-not-a-renew-before"),
        pytest.param("soon", DurationError, id="unreadable"),
        pytest.param(-M, LeaseError, id="negative-timedelta"),
    ],
)
def test_renew_before_refuses_unreadable_or_negative_values(
    renew_before: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        effective_renew_before(renew_before, H)


def test_renewal_policy_defaults_to_a_third_of_the_ttl_and_a_5m_grace() -> None:
    policy = renewal_policy(role_ttl="24h", role_max_ttl="24h")
    assert policy == RenewalPolicy(
        ttl=24 * H, max_ttl=24 * H, renew_before=timedelta(seconds=28512), rotation_grace_period=5 * M
    )
    assert DEFAULT_ROTATION_GRACE_PERIOD == 5 * M


def test_renewal_policy_resolves_the_token_spec_against_the_role() -> None:
    policy = renewal_policy(
        role_ttl="24h", role_max_ttl="168h", token_ttl="1h", renew_before="10m", rotation_grace_period="0"
    )
    assert policy == RenewalPolicy(ttl=H, max_ttl=7 * DAY, renew_before=10 * M, rotation_grace_period=ZERO)


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        pytest.param({"ttl": 2 * H, "max_ttl": H}, TtlAboveMaxTtlError, "longer than", id="ttl-above-max"),
        pytest.param(
            {"renew_before": 31 * M}, LeaseError, "at most half the ttl", id="renew-before-above-half"
        ),
        pytest.param(
            {"renew_before": ZERO}, LeaseError, "renew_before must be positive", id="zero-renew-before"
        ),
        pytest.param({"ttl": -H}, LeaseError, "ttl must be positive", id="negative-ttl"),
        pytest.param(
            {"rotation_grace_period": -S}, LeaseError, "zero or positive", id="negative-grace-period"
        ),
    ],
)
def test_a_policy_refuses_inconsistent_settings(
    fields: dict[str, timedelta], error: type[Exception], message: str
) -> None:
    settings = {"ttl": H, "max_ttl": 24 * H, "renew_before": 20 * M} | fields
    with pytest.raises(error, match=message):
        RenewalPolicy(**settings)


def test_renewal_policy_refuses_a_negative_grace_period() -> None:
    with pytest.raises(LeaseError, match="rotationGracePeriod must be zero or positive"):
        renewal_policy(role_ttl="1h", role_max_ttl="1h", rotation_grace_period=-S)


# --- decide ----------------------------------------------------------------------------------


RENEW, ROTATE = NextStep.RENEW, NextStep.ROTATE
LAST_HOUR = 23 * H  # leases near the 24h max of HOURLY
TTL_EQUAL_TO_MAX = RenewalPolicy(H, H, 20 * M)
# HOURLY's role after an edit; the lease under test was issued before it.
TTL_EDITED_TO_30M = RenewalPolicy(30 * M, 24 * H, 10 * M)
TTL_EDITED_TO_2H = RenewalPolicy(2 * H, 24 * H, 40 * M)
MAX_EDITED_TO_2H = RenewalPolicy(H, 2 * H, 20 * M)
MAX_EDITED_TO_30M = RenewalPolicy(30 * M, 30 * M, 10 * M)
MAX_EDITED_TO_48H = RenewalPolicy(H, 48 * H, 20 * M)

# Rows: (current lease, policy, now, slack, expected decision).
# fmt: off
DECIDE_CASES = [
    pytest.param(lease(H), HOURLY, t(), ZERO, WaitUntil(t(40 * M), RENEW),
                 id="a-fresh-lease-waits-until-renew-before-ahead-of-expiry"),
    pytest.param(lease(H), HOURLY, t(40 * M - S), ZERO, WaitUntil(t(40 * M), RENEW),
                 id="one-second-before-the-due-time-still-waits"),
    pytest.param(lease(H), HOURLY, t(40 * M), ZERO, Renew(lease(100 * M)),
                 id="exactly-at-the-due-time-renews-for-a-ttl-from-now"),
    pytest.param(lease(H), HOURLY, t(59 * M), ZERO, Renew(lease(119 * M)),
                 id="late-but-before-expiry-renews-from-now"),
    pytest.param(lease(H), HOURLY, t(H), ZERO, RevokeAndRotate(t(H)),
                 id="at-the-expiry-instant-revokes-then-rotates"),
    pytest.param(lease(H), HOURLY, t(3 * H), ZERO, RevokeAndRotate(t(H)),
                 id="expired-while-the-operator-was-down-revokes-then-rotates"),
    pytest.param(lease(H), HOURLY, t(30 * H), ZERO, RevokeAndRotate(t(H)),
                 id="down-past-the-max-expiry-too-revokes-then-rotates"),
    pytest.param(lease(LAST_HOUR), HOURLY, t(LAST_HOUR - 20 * M), ZERO, Renew(lease(LAST_HOUR + 40 * M)),
                 id="near-the-max-an-uncapped-renewal-renews"),
    pytest.param(lease(LAST_HOUR + 30 * M), HOURLY, t(LAST_HOUR + 10 * M), ZERO, Renew(lease(24 * H)),
                 id="a-renewal-capped-at-the-max-that-still-gains-renew-before-renews-to-the-max"),
    pytest.param(lease(LAST_HOUR + 40 * M), HOURLY, t(LAST_HOUR + 20 * M), ZERO, Renew(lease(24 * H)),
                 id="a-renewal-gaining-exactly-renew-before-renews"),
    pytest.param(lease(LAST_HOUR + 40 * M + S), HOURLY, t(LAST_HOUR + 20 * M + S), ZERO, Rotate(),
                 id="a-renewal-gaining-a-second-less-than-renew-before-rotates"),
    pytest.param(lease(LAST_HOUR + 40 * M + S), HOURLY, t(20 * H), ZERO,
                 WaitUntil(t(LAST_HOUR + 20 * M + S), ROTATE),
                 id="waiting-before-a-capped-out-renewal-forecasts-a-rotation"),
    pytest.param(lease(24 * H), HOURLY, t(LAST_HOUR + 40 * M), ZERO, Rotate(),
                 id="a-lease-already-at-its-max-rotates-at-the-due-time"),
    pytest.param(new_lease(T0, H, H), TTL_EQUAL_TO_MAX, t(), ZERO, WaitUntil(t(40 * M), ROTATE),
                 id="max-ttl-equal-to-ttl-forecasts-a-rotation"),
    pytest.param(new_lease(T0, H, H), TTL_EQUAL_TO_MAX, t(40 * M), ZERO, Rotate(),
                 id="max-ttl-equal-to-ttl-rotates-at-the-due-time-without-renewing"),
    pytest.param(new_lease(T0, 2 * H, H), TTL_EQUAL_TO_MAX, t(40 * M), ZERO, Rotate(),
                 id="ttl-beyond-the-max-at-issue-rotates-at-the-due-time"),
    pytest.param(lease(H), TTL_EDITED_TO_30M, t(40 * M), ZERO, WaitUntil(t(50 * M), RENEW),
                 id="ttl-edited-shorter-moves-the-due-time-to-the-new-renew-before"),
    pytest.param(lease(H), TTL_EDITED_TO_30M, t(50 * M), ZERO, Renew(lease(80 * M)),
                 id="ttl-edited-shorter-applies-at-the-next-renewal"),
    pytest.param(lease(H), TTL_EDITED_TO_2H, t(20 * M), ZERO, Renew(lease(140 * M)),
                 id="ttl-edited-longer-applies-at-the-next-renewal"),
    pytest.param(lease(H), MAX_EDITED_TO_2H, t(40 * M), ZERO, Renew(lease(100 * M, 2 * H)),
                 id="max-ttl-edited-shorter-lowers-the-ceiling-at-the-next-renewal"),
    pytest.param(lease(H), MAX_EDITED_TO_30M, t(50 * M), ZERO, Rotate(),
                 id="max-ttl-edited-below-the-current-expiry-rotates-at-the-due-time"),
    pytest.param(lease(LAST_HOUR + 30 * M), MAX_EDITED_TO_48H, t(LAST_HOUR + 10 * M), ZERO,
                 Renew(lease(24 * H)),
                 id="max-ttl-edited-longer-never-lengthens-an-issued-token"),
    pytest.param(lease(H), HOURLY, t(40 * M - 10 * S), 10 * S, Renew(lease(100 * M - 10 * S)),
                 id="an-early-wake-within-the-slack-renews"),
    pytest.param(lease(H), HOURLY, t(40 * M - 11 * S), 10 * S, WaitUntil(t(40 * M), RENEW),
                 id="an-early-wake-beyond-the-slack-waits"),
    pytest.param(lease(H), HOURLY, t(), H, WaitUntil(t(40 * M), RENEW),
                 id="slack-never-reaches-further-than-renew-before"),
    pytest.param(new_lease(T0, 2 * S, DAY), RenewalPolicy(2 * S, DAY, S), t(S * 0.9), S / 10,
                 Renew(new_lease(T0, 2.9 * S, DAY)),
                 id="acting-early-within-the-slack-renews-rather-than-rotating"),
]
# fmt: on


@pytest.mark.parametrize(("current", "policy", "now", "slack", "expected"), DECIDE_CASES)
def test_decide_waits_renews_rotates_or_revokes(
    current: Lease, policy: RenewalPolicy, now: datetime, slack: timedelta, expected: Decision
) -> None:
    assert decide(now, current, policy, slack=slack) == expected


def test_a_renew_decision_names_the_new_expiry() -> None:
    decision = decide(t(40 * M), lease(H), HOURLY)
    assert isinstance(decision, Renew)
    assert decision.new_expires_at == t(100 * M)


@pytest.mark.parametrize(
    ("now", "slack", "message"),
    [
        pytest.param(NAIVE, ZERO, "now must be timezone-aware", id="naive-now"),
        pytest.param(T0, -S, "slack must be zero or positive", id="negative-slack"),
    ],
)
def test_decide_refuses_bad_input(now: datetime, slack: timedelta, message: str) -> None:
    with pytest.raises(LeaseError, match=message):
        decide(now, lease(H), HOURLY, slack=slack)


# --- renew_with_increment --------------------------------------------------------------------


NOT_CAPPED, CAPPED = False, True

# Rows: (current lease, now, increment, expected outcome).
# fmt: off
INCREMENT_CASES = [
    pytest.param(lease(H), t(30 * M), 2 * H, Renewed(lease(150 * M), NOT_CAPPED),
                 id="extends-from-now"),
    pytest.param(lease(H), t(30 * M), "2h", Renewed(lease(150 * M), NOT_CAPPED),
                 id="duration-string"),
    pytest.param(lease(H), t(30 * M), 10 * M, Renewed(lease(40 * M), NOT_CAPPED),
                 id="an-increment-shorter-than-the-time-left-shortens-the-lease-as-in-vault"),
    pytest.param(lease(23 * H), t(22 * H), 3 * H, Renewed(lease(24 * H), CAPPED),
                 id="an-increment-past-the-max-is-capped-and-says-so"),
    pytest.param(lease(23 * H), t(22 * H), 2 * H, Renewed(lease(24 * H), NOT_CAPPED),
                 id="an-increment-landing-exactly-on-the-max-is-not-capped"),
    pytest.param(lease(H), t(H), H, RenewRefused(RenewRefusal.EXPIRED),
                 id="refused-at-the-expiry-instant"),
    pytest.param(lease(H), t(5 * H), H, RenewRefused(RenewRefusal.EXPIRED),
                 id="refused-once-expired"),
    pytest.param(lease(24 * H), t(23 * H), H, RenewRefused(RenewRefusal.AT_MAX),
                 id="refused-when-already-at-the-max"),
]
# fmt: on


@pytest.mark.parametrize(("current", "now", "increment", "expected"), INCREMENT_CASES)
def test_renew_with_increment(current: Lease, now: datetime, increment: Any, expected: RenewOutcome) -> None:
    assert renew_with_increment(now, current, increment) == expected


def test_a_refused_renewal_explains_itself() -> None:
    assert "rotation" in RenewRefusal.AT_MAX.value
    assert "expired" in RenewRefusal.EXPIRED.value
    outcome = renew_with_increment(t(), lease(H), H)
    assert isinstance(outcome, Renewed)
    assert outcome.new_expires_at == t(H)


@pytest.mark.parametrize(
    ("now", "increment", "error", "message"),
    [
        pytest.param(t(), ZERO, LeaseError, "increment must be positive", id="zero-increment"),
        pytest.param(t(), -H, LeaseError, "increment must be positive", id="negative-increment"),
        pytest.param(t(), -60, DurationError, "negative", id="negative-integer-increment"),
        pytest.param(NAIVE, H, LeaseError, "now must be timezone-aware", id="naive-now"),
    ],
)
def test_renew_with_increment_refuses_bad_input(
    now: datetime, increment: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        renew_with_increment(now, lease(H), increment)


# --- superseded tokens -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("published_at", "grace", "old", "expected"),
    [
        pytest.param(t(20 * H), 5 * M, lease(21 * H), t(20 * H + 5 * M), id="revoked-when-the-grace-ends"),
        pytest.param(t(20 * H), "5m", lease(21 * H), t(20 * H + 5 * M), id="grace-as-a-duration-string"),
        pytest.param(
            t(23 * H + 58 * M), 5 * M, lease(24 * H), t(24 * H), id="revoked-at-its-max-when-that-comes-first"
        ),
        pytest.param(t(23 * H + 55 * M), 5 * M, lease(24 * H), t(24 * H), id="grace-ending-at-the-max"),
        pytest.param(t(20 * H), ZERO, lease(21 * H), t(20 * H), id="no-grace-revokes-on-publication"),
    ],
)
def test_superseded_token_is_revoked_after_the_grace_or_at_its_max(
    published_at: datetime, grace: Any, old: Lease, expected: datetime
) -> None:
    assert superseded_revoke_at(published_at, grace, old) == expected


def test_superseded_revoke_refuses_a_negative_grace() -> None:
    with pytest.raises(LeaseError, match="grace period must be zero or positive"):
        superseded_revoke_at(t(), -M, lease(H))


MS = timedelta(milliseconds=1)


@pytest.mark.parametrize(
    ("max_expires_at", "now", "expected"),
    [
        pytest.param(t(H), t(H), True, id="at-the-max"),
        pytest.param(t(H), t(2 * H), True, id="long-past-the-max"),
        pytest.param(t(H) + 700 * MS, t(H) + 300 * MS, True, id="past-the-second-astra-was-given"),
        pytest.param(t(H), t(H) - 4 * S, True, id="astra-clock-a-little-ahead"),
        pytest.param(t(H), t(H) - 6 * S, False, id="before-the-skew-allowance"),
        pytest.param(t(H), t(), False, id="long-before"),
    ],
)
def test_a_token_gone_near_its_max_expiry_was_taken_by_it(max_expires_at: datetime, now: datetime,
                                                           expected: bool) -> None:
    assert taken_by_its_own_expiry(max_expires_at, now) is expected


def test_taken_by_its_own_expiry_refuses_naive_times() -> None:
    with pytest.raises(LeaseError, match="timezone-aware"):
        taken_by_its_own_expiry(NAIVE, t())


# --- jitter ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "due", "draw", "spread", "expected"),
    [
        pytest.param(t(), t(100 * S), 0.0, 0.1, t(100 * S), id="a-zero-draw-wakes-at-the-due-time"),
        pytest.param(t(), t(100 * S), 0.5, 0.1, t(95 * S), id="wakes-up-to-spread-of-the-wait-earlier"),
        pytest.param(t(), t(H), 0.5, 0.1, t(H - 15 * S), id="the-spread-is-capped-at-max-spread"),
        pytest.param(t(), t(100 * S), 0.5, 0.0, t(100 * S), id="no-spread-no-jitter"),
        pytest.param(t(), t(20 * S), 0.5, 1.0, t(10 * S), id="full-spread-reaches-back-towards-now"),
        pytest.param(t(H), t(H), 0.5, 0.1, t(H), id="already-due-wakes-now"),
        pytest.param(t(H), t(), 0.5, 0.1, t(H), id="overdue-wakes-now"),
    ],
)
def test_jittered_wake_is_only_ever_earlier_than_due(
    now: datetime, due: datetime, draw: float, spread: float, expected: datetime
) -> None:
    assert jittered_wake(now, due, FixedRandom(draw), spread=spread) == expected


def test_jittered_wake_stays_between_now_and_due_for_any_draw() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        now = t(timedelta(seconds=rng.uniform(0, 1e6)))
        due = now + timedelta(seconds=rng.choice([0, 1e-6, 0.5, 3, 299, 3600, 86400]) * rng.random())
        spread = rng.choice([0.0, 0.1, 0.5, 1.0])
        wake = jittered_wake(now, due, rng, spread=spread)
        assert now <= wake <= due
        assert due - wake <= max(ZERO, min((due - now) * spread, timedelta(seconds=30)))


@pytest.mark.parametrize(
    ("now", "spread", "max_spread", "message"),
    [
        pytest.param(NAIVE, 0.1, 30 * S, "now must be timezone-aware", id="naive-now"),
        pytest.param(t(), 1.5, 30 * S, "spread must be between 0 and 1", id="spread-above-1"),
        pytest.param(t(), -0.1, 30 * S, "spread must be between 0 and 1", id="negative-spread"),
        pytest.param(t(), 0.1, -S, "max_spread must be zero or positive", id="negative-max-spread"),
    ],
)
def test_jittered_wake_refuses_bad_input(
    now: datetime, spread: float, max_spread: timedelta, message: str
) -> None:
    with pytest.raises(LeaseError, match=message):
        jittered_wake(now, t(H), random.Random(0), spread=spread, max_spread=max_spread)


# --- times as status and Secret strings ------------------------------------------------------


def test_the_secret_expiry_is_the_lease_expiry_not_the_max() -> None:
    assert secret_expires_at(lease(H + timedelta(microseconds=900))) == "2030-01-01T01:00:00Z"


# --- whole token lives on a fake clock --------------------------------------------------------


def test_an_hourly_token_renews_every_40m_and_rotates_20m_before_its_max() -> None:
    now, current, renewals = T0, new_lease(T0, H, 24 * H), []
    while not isinstance(decision := decide(now, current, HOURLY), Rotate):
        if isinstance(decision, WaitUntil):
            now = decision.at
        else:
            assert isinstance(decision, Renew)
            renewals.append(now)
            current = decision.lease
    assert renewals == [t(40 * M * (k + 1)) for k in range(35)]
    assert current.lease_expires_at == current.max_expires_at == t(24 * H)
    assert now == t(23 * H + 40 * M)


def live(
    policy: RenewalPolicy,
    rng: random.Random,
    *,
    generations: int,
    edits: list[RenewalPolicy] | None = None,
    downtime: bool = False,
) -> list[int]:
    """Run a token through `generations` rotations, checking every step; return renewals per token."""
    now = T0
    current = new_lease(now, policy.ttl, policy.max_ttl)
    slack, waits, renewals, per_token = ZERO, 0, 0, []
    for _ in range(200_000):
        if edits and rng.random() < 0.05:
            policy = rng.choice(edits)
        if downtime and rng.random() < 0.02:
            now += timedelta(seconds=rng.uniform(0, 2 * policy.max_ttl.total_seconds()))
            slack = ZERO
        decision = decide(now, current, policy, slack=slack)
        due = current.lease_expires_at - policy.renew_before
        if isinstance(decision, WaitUntil):
            waits += 1
            assert waits <= 3, "jitter must not make the timer wake over and over"
            assert now < decision.at == due < current.lease_expires_at
            wake = jittered_wake(now, decision.at, rng)
            now, slack = wake, decision.at - wake
            continue
        waits = 0
        if isinstance(decision, Renew):
            renewed = decision.lease
            assert due - min(slack, policy.renew_before) <= now, "renewed too early"
            assert now < current.lease_expires_at, "renewed after the lease ran out"
            assert current.lease_expires_at <= renewed.lease_expires_at <= renewed.max_expires_at
            assert renewed.max_expires_at <= current.max_expires_at, "a renewal lengthened the max"
            assert renewed.issued_at == current.issued_at
            if not edits:
                assert renewed.lease_expires_at - current.lease_expires_at >= policy.renew_before - slack
            current, renewals = renewed, renewals + 1
        elif isinstance(decision, Rotate):
            assert now < current.lease_expires_at <= current.max_expires_at, "rotated after the max"
            if not edits:
                assert current.max_expires_at - now <= 2 * policy.renew_before + slack, (
                    "rotated wastefully early"
                )
            revoke_at = superseded_revoke_at(now, policy.rotation_grace_period, current)
            assert now <= revoke_at <= current.max_expires_at
            per_token.append(renewals)
            current, renewals = new_lease(now, policy.ttl, policy.max_ttl), 0
        else:
            assert isinstance(decision, RevokeAndRotate)
            assert downtime, "a lease ran out while the operator was running"
            assert now >= current.lease_expires_at == decision.expired_at
            per_token.append(renewals)
            current, renewals = new_lease(now, policy.ttl, policy.max_ttl), 0
        slack = ZERO
        if len(per_token) == generations:
            return per_token
    pytest.fail("the token never reached its rotations")


LIVES = [
    pytest.param({"role_ttl": "1h", "role_max_ttl": "24h"}, id="hourly-ttl-daily-max-default-33-percent"),
    pytest.param({"role_ttl": "24h", "role_max_ttl": "24h"}, id="ttl-equal-to-max-rotates-without-renewing"),
    pytest.param(
        {"role_ttl": "2s", "role_max_ttl": "1m", "renew_before": "0%"}, id="tiny-ttl-at-the-1s-floor"
    ),
    pytest.param(
        {"role_ttl": "1h", "role_max_ttl": "168h", "renew_before": "90%"}, id="renew-before-clamped-to-half"
    ),
    pytest.param(
        {"role_ttl": "15m", "role_max_ttl": "100m", "renew_before": "5m"}, id="max-not-a-multiple-of-ttl"
    ),
    pytest.param(
        {"role_ttl": "24h", "role_max_ttl": "720h", "token_ttl": "10m", "renew_before": "45s"},
        id="short-token-ttl-under-a-long-role",
    ),
]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("spec", LIVES)
def test_a_jittered_token_life_renews_on_time_and_rotates_before_its_max(
    spec: dict[str, str], seed: int
) -> None:
    policy = renewal_policy(**spec)
    per_token = live(policy, random.Random(seed), generations=3)
    if policy.ttl == policy.max_ttl:
        assert per_token == [0, 0, 0]
    else:
        assert min(per_token) >= 1


def test_random_policies_edits_and_downtime_never_break_the_lease_rules() -> None:
    rng = random.Random(2030)
    for _ in range(150):
        ttl = timedelta(seconds=rng.randint(2, 86400))
        max_ttl = ttl * rng.choice([1, 1.5, 3, 10, 40])
        renew_before = rng.choice(["33%", "0%", "10%", "50%", "99%", str(rng.randint(0, 90000))])

        edits = [
            renewal_policy(role_ttl=ttl, role_max_ttl=max_ttl, renew_before=renew_before),
            renewal_policy(role_ttl=ttl / 2, role_max_ttl=max_ttl, renew_before=renew_before),
            renewal_policy(role_ttl=ttl, role_max_ttl=ttl, renew_before=renew_before),
            renewal_policy(
                role_ttl=min(2 * ttl, max_ttl), role_max_ttl=2 * max_ttl, renew_before=renew_before
            ),
        ]
        live(edits[0], rng, generations=2)
        live(edits[0], rng, generations=2, edits=edits, downtime=True)
