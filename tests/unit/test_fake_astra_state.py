"""The fake's state without HTTP: authentication, permissions, expiry,
limits and scripted faults, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from astra_token_operator.fake_astra import FaultConfig, ScriptedResponse, make_admin_token
from astra_token_operator.fake_astra.roles import BUILTIN_ROLE_IDS
from astra_token_operator.fake_astra.state import FakeApiError, FakeState

ORG = "5b2c2bd1-48a3-4b0a-9f6c-7a3c7f6e2b10"
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START
        self.mono = 0.0

    def __call__(self) -> datetime:
        return self.now


def make_state(**faults: object) -> tuple[FakeState, str, Clock]:
    clock = Clock()
    state = FakeState(faults=FaultConfig.model_validate(faults), clock=clock, monotonic=lambda: clock.mono)
    admin = make_admin_token()
    state.add_org(ORG, admin)
    return state, admin, clock


def test_admin_token_authenticates_as_its_org() -> None:
    state, admin, _ = make_state()
    caller = state.authenticate(f"Bearer {admin}")
    assert caller.org_id == ORG
    assert "org-token-write" in caller.actions


@pytest.mark.parametrize(("header", "status", "error_id"), [
    (None, 401, 340012), ("Basic abc", 401, 340012), ("Bearer AstraCS:short:abc", 403, 340017),
])
def test_malformed_credentials_are_refused(header: str | None, status: int, error_id: int) -> None:
    state, _, _ = make_state()
    with pytest.raises(FakeApiError) as caught:
        state.authenticate(header)
    assert (caught.value.status, caught.value.error_id) == (status, error_id)


def test_unknown_token_is_401_with_340018() -> None:
    state, _, _ = make_state()
    with pytest.raises(FakeApiError) as caught:
        state.authenticate(f"Bearer {make_admin_token()}")
    assert (caught.value.status, caught.value.error_id) == (401, 340018)


def test_a_token_past_its_expiry_stops_working_and_leaves_the_list() -> None:
    state, admin, clock = make_state()
    caller = state.authenticate(f"Bearer {admin}")
    created = state.create_token(caller, {
        "roles": [BUILTIN_ROLE_IDS["Database Administrator"]], "description": "short-lived",
        "tokenExpiry": (START + timedelta(minutes=5)).isoformat(),
    })
    assert state.verify(created["token"]).valid
    clock.now = START + timedelta(minutes=5)
    assert state.verify(created["token"]).reason == "expired"
    assert created["clientId"] not in {c["clientId"] for c in state.list_tokens(caller)["clients"]}
    with pytest.raises(FakeApiError) as caught:
        state.authenticate(f"Bearer {created['token']}")
    assert caught.value.error_id == 340018


def test_advancing_the_fake_clock_expires_tokens_too() -> None:
    state, admin, _ = make_state()
    token = state.issue_token(ORG, ["RO User"])
    caller = state.authenticate(f"Bearer {admin}")
    created = state.create_token(caller, {
        "roles": [BUILTIN_ROLE_IDS["RO User"]], "tokenExpiry": (START + timedelta(seconds=30)).isoformat(),
    })
    state.advance_clock(31)
    assert state.verify(token).valid
    assert not state.verify(created["token"]).valid


def test_expiry_in_the_past_or_unreadable_is_refused() -> None:
    state, admin, _ = make_state()
    caller = state.authenticate(f"Bearer {admin}")
    for expiry in ((START - timedelta(seconds=1)).isoformat(), "tomorrow", "2026-03-02T00:00:00"):
        with pytest.raises(FakeApiError) as caught:
            state.create_token(caller, {"roles": [BUILTIN_ROLE_IDS["RO User"]], "tokenExpiry": expiry})
        assert caught.value.status == 400
        assert "tokenExpiry" in caught.value.message


def test_read_only_role_may_not_create_tokens() -> None:
    state, _, _ = make_state()
    ro = state.authenticate(f"Bearer {state.issue_token(ORG, ['RO User'])}")
    with pytest.raises(FakeApiError) as caught:
        state.authorize(ro, "POST /v2/clientIdSecrets")
    assert caught.value.status == 403
    state.authorize(ro, "GET /v2/currentOrg")


def test_database_administrator_lists_roles_but_may_not_read_one() -> None:
    state, _, _ = make_state()
    dba = state.authenticate(f"Bearer {state.issue_token(ORG, ['Database Administrator'])}")
    state.authorize(dba, "POST /v2/clientIdSecrets")
    state.authorize(dba, "GET /v2/organizations/roles")
    with pytest.raises(FakeApiError):
        state.authorize(dba, "GET /v2/organizations/roles/{roleId}")


def test_hard_limit_admits_the_burst_then_answers_429_with_retry_after() -> None:
    state, _, clock = make_state(rate_limit_per_second=2, rate_limit_burst=3)
    for _ in range(3):
        state.check_rate_limit(ORG)
    with pytest.raises(FakeApiError) as caught:
        state.check_rate_limit(ORG)
    assert caught.value.status == 429
    assert caught.value.retry_after == "1"
    clock.mono += 0.5
    state.check_rate_limit(ORG)
    assert state.counters().rate_limited == {ORG: 1}


def test_scripted_faults_are_consumed_in_order_and_only_where_they_match() -> None:
    state, _, _ = make_state(script=[
        ScriptedResponse(status=503, endpoint="GET /v2/clientIdSecrets", times=2),
        ScriptedResponse(status=500),
    ])
    assert state.next_injected_error(ORG, "GET /v2/currentOrg").status == 500  # type: ignore[union-attr]
    assert state.next_injected_error(ORG, "GET /v2/clientIdSecrets").status == 503  # type: ignore[union-attr]
    assert state.faults.script[0].times == 1
    assert state.next_injected_error(ORG, "GET /v2/clientIdSecrets").status == 503  # type: ignore[union-attr]
    assert state.next_injected_error(ORG, "GET /v2/clientIdSecrets") is None
    assert state.faults.script == []


def test_random_faults_follow_their_seed() -> None:
    first, _, _ = make_state(rate_500=0.5, seed=7)
    second, _, _ = make_state(rate_500=0.5, seed=7)
    draws = [first.next_injected_error(ORG, "x") is None for _ in range(50)]
    assert draws == [second.next_injected_error(ORG, "x") is None for _ in range(50)]
    assert 5 < draws.count(False) < 45


def test_reset_keeps_orgs_and_admin_tokens_and_forgets_the_rest() -> None:
    state, admin, _ = make_state(rate_500=1.0)
    issued = state.issue_token(ORG, ["RO User"])
    state.record(ORG, "GET /v2/currentOrg", 200)
    state.reset()
    assert state.verify(admin).valid
    assert not state.verify(issued).valid
    assert state.counters().requests == ()
    assert state.faults == FaultConfig()


def test_an_org_needs_a_well_formed_admin_token_and_a_unique_id() -> None:
    state, _, _ = make_state()
    with pytest.raises(ValueError, match="well-formed"):
        state.add_org("other", "not-a-token")
    with pytest.raises(ValueError, match="exists"):
        state.add_org(ORG, make_admin_token())


def test_views_never_carry_a_secret() -> None:
    state, admin, _ = make_state()
    issued = state.issue_token(ORG, ["RO User"], "for a test")
    dumped = repr([v.model_dump() for v in state.tokens(ORG)])
    for secret in (admin, issued, admin.split(":")[2], issued.split(":")[2]):
        assert secret not in dumped
