"""The client's request path on an in-memory transport: what it sends, how it
retries, when it gives up, how it reports. Time and randomness are injected:
nothing here sleeps."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from astra_token_operator import __version__
from astra_token_operator.astra import (
    AstraAmbiguousCreate,
    AstraBadRequest,
    AstraClient,
    AstraClientClosed,
    AstraClientSettings,
    AstraError,
    AstraForbidden,
    AstraRetryableError,
    AstraTokenExpiryRejected,
    AstraUnexpectedResponse,
    RevokeOutcome,
)

ROOT = "AstraCS:zjCEYwRGWocLfQJHBNQxvorr:" + "ab" * 32
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
CREATED = {
    "clientId": "NewTokenClientIdAbcdefgh",
    "secret": "x" * 128,
    "orgId": "org-1",
    "roles": ["role-1"],
    "token": "AstraCS:NewTokenClientIdAbcdefgh:" + "cd" * 32,
    "generatedOn": "2026-01-01T12:00:00.123456789Z",
}

Responder = Callable[[httpx.Request], httpx.Response]


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Recorder:
    """An in-memory Astra: answers from a script and remembers the requests."""

    def __init__(self, *answers: httpx.Response | Exception | Responder) -> None:
        self.answers: Iterator[httpx.Response | Exception | Responder] = iter(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = next(self.answers)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)


def make_client(recorder: Recorder, time: FakeTime, **settings: object) -> AstraClient:
    options: dict[str, object] = {"base_url": "https://astra.test", "max_attempts": 5}
    options.update(settings)
    return AstraClient(
        "org-1", SecretStr(ROOT), AstraClientSettings.model_validate(options),
        transport=httpx.MockTransport(recorder), random=lambda: 1.0, sleep=time.sleep, clock=time.clock,
        now=lambda: NOW,
    )


def status(code: int, body: object = None, headers: dict[str, str] | None = None) -> httpx.Response:
    if body is None:
        return httpx.Response(code, headers=headers)
    return httpx.Response(code, json=body, headers=headers)


async def test_every_request_carries_bearer_token_accept_and_user_agent() -> None:
    recorder = Recorder(status(200, {"id": "org-1", "name": "Acme"}))
    client = make_client(recorder, FakeTime())
    org = await client.current_org()
    assert (org.id, org.name) == ("org-1", "Acme")
    sent = recorder.requests[0]
    assert sent.url == "https://astra.test/v2/currentOrg"
    assert sent.headers["Authorization"] == f"Bearer {ROOT}"
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["User-Agent"] == f"astra-token-operator/{__version__}"


async def test_create_sends_roles_description_expiry_and_org() -> None:
    recorder = Recorder(status(200, CREATED))
    client = make_client(recorder, FakeTime())
    created = await client.create_token(
        role_ids=["role-1"], description="intent-42", token_expiry=datetime(2026, 8, 19, 14, 30, tzinfo=UTC),
        org_id="org-1",
    )
    sent = recorder.requests[0]
    assert (sent.method, sent.url.path) == ("POST", "/v2/clientIdSecrets")
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.content) == {
        "roles": ["role-1"], "description": "intent-42", "tokenExpiry": "2026-08-19T14:30:00Z",
        "orgId": "org-1",
    }
    assert created.client_id == "NewTokenClientIdAbcdefgh"
    assert created.token.get_secret_value() == CREATED["token"]
    assert created.generated_on == datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert created.description == "intent-42"
    assert created.token_expiry == datetime(2026, 8, 19, 14, 30, tzinfo=UTC)


async def test_create_without_expiry_sends_no_expiry_field() -> None:
    recorder = Recorder(status(200, CREATED))
    await make_client(recorder, FakeTime()).create_token(role_ids=["role-1"], description="m")
    assert json.loads(recorder.requests[0].content) == {"roles": ["role-1"], "description": "m"}


async def test_create_needs_at_least_one_role() -> None:
    with pytest.raises(ValueError, match="role"):
        await make_client(Recorder(), FakeTime()).create_token(role_ids=[], description="m")


async def test_list_tokens_reads_the_clients_wrapper() -> None:
    body = {"clients": [{"clientId": "a", "roles": ["r"], "generatedOn": "2021-02-22T17:09:58.668Z"}]}
    tokens = await make_client(Recorder(status(200, body)), FakeTime()).list_tokens()
    assert [t.client_id for t in tokens] == ["a"]


async def test_list_tokens_with_no_tokens_at_all() -> None:
    assert await make_client(Recorder(status(200, {"clients": None})), FakeTime()).list_tokens() == []


async def test_unreadable_list_is_an_unexpected_response_not_a_crash() -> None:
    with pytest.raises(AstraUnexpectedResponse, match="could not be read"):
        await make_client(Recorder(httpx.Response(200, text="<html>")), FakeTime()).list_tokens()


async def test_get_is_retried_on_503_with_backoff_then_succeeds() -> None:
    time = FakeTime()
    recorder = Recorder(status(503), status(503), status(200, {"clients": []}))
    assert await make_client(recorder, time, backoff_initial_seconds=0.5).list_tokens() == []
    assert len(recorder.requests) == 3
    assert time.sleeps == [pytest.approx(0.5), pytest.approx(1.0)]


@pytest.mark.parametrize("code", [429, 500, 502, 503, 504])
async def test_get_gives_up_after_max_attempts_with_a_retryable_error(code: int) -> None:
    time = FakeTime()
    recorder = Recorder(*[status(code)] * 3)
    with pytest.raises(AstraRetryableError) as caught:
        await make_client(recorder, time, max_attempts=3).list_roles()
    assert len(recorder.requests) == 3
    assert len(time.sleeps) == 2
    assert caught.value.status == code
    assert caught.value.attempts == 3


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 501])
async def test_get_is_not_retried_on_answers_that_will_not_change(code: int) -> None:
    recorder = Recorder(status(code))
    with pytest.raises(AstraError):
        await make_client(recorder, FakeTime()).list_roles()
    assert len(recorder.requests) == 1


async def test_retry_after_in_seconds_is_waited_exactly() -> None:
    time = FakeTime()
    recorder = Recorder(status(429, headers={"Retry-After": "7"}), status(200, []))
    await make_client(recorder, time).list_roles()
    assert time.sleeps == [7.0]


async def test_retry_after_as_an_http_date_is_waited_until_that_time() -> None:
    time = FakeTime()
    twelve_seconds_later = "Thu, 01 Jan 2026 12:00:12 GMT"
    recorder = Recorder(status(503, headers={"Retry-After": twelve_seconds_later}), status(200, []))
    await make_client(recorder, time).list_roles()
    assert time.sleeps == [12.0]


async def test_retry_after_beyond_the_deadline_gives_up_at_once_and_passes_the_hint_on() -> None:
    time = FakeTime()
    recorder = Recorder(status(429, headers={"Retry-After": "120"}))
    with pytest.raises(AstraRetryableError) as caught:
        await make_client(recorder, time, deadline_seconds=60).list_roles()
    assert time.sleeps == []
    assert caught.value.retry_after == 120.0


async def test_the_deadline_bounds_all_attempts_together() -> None:
    time = FakeTime()
    recorder = Recorder(*[status(500)] * 10)
    with pytest.raises(AstraRetryableError):
        await make_client(recorder, time, max_attempts=10, backoff_initial_seconds=4, backoff_max_seconds=4,
                          deadline_seconds=10).list_roles()
    assert sum(time.sleeps) < 10
    assert len(recorder.requests) == 3


async def test_get_is_retried_on_network_errors() -> None:
    time = FakeTime()
    recorder = Recorder(
        httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), status(200, {"id": "org-1"})
    )
    assert (await make_client(recorder, time).current_org()).id == "org-1"
    assert len(recorder.requests) == 3


async def test_network_errors_exhausting_attempts_are_retryable() -> None:
    recorder = Recorder(*[httpx.ConnectError("refused")] * 2)
    with pytest.raises(AstraRetryableError, match="network error"):
        await make_client(recorder, FakeTime(), max_attempts=2).current_org()


async def test_delete_is_retried_and_a_404_after_a_lost_answer_means_already_gone() -> None:
    recorder = Recorder(status(502), status(404, {"errors": [{"ID": 340018, "message": "not found"}]}))
    outcome = await make_client(recorder, FakeTime()).revoke_token("abc")
    assert outcome is RevokeOutcome.ALREADY_GONE
    assert [r.method for r in recorder.requests] == ["DELETE", "DELETE"]


@pytest.mark.parametrize("code", [200, 202, 204])
async def test_any_2xx_on_delete_is_revoked(code: int) -> None:
    recorder = Recorder(status(code))
    assert await make_client(recorder, FakeTime()).revoke_token("abc") is RevokeOutcome.REVOKED
    assert recorder.requests[0].url.path == "/v2/clientIdSecrets/abc"


async def test_client_ids_are_escaped_in_the_path() -> None:
    recorder = Recorder(status(204))
    await make_client(recorder, FakeTime()).revoke_token("a/../b")
    assert recorder.requests[0].url.raw_path == b"/v2/clientIdSecrets/a%2F..%2Fb"


@pytest.mark.parametrize("code", [500, 502, 503, 504])
async def test_create_is_never_retried_and_a_server_error_is_ambiguous(code: int) -> None:
    time = FakeTime()
    recorder = Recorder(status(code))
    with pytest.raises(AstraAmbiguousCreate) as caught:
        await make_client(recorder, time).create_token(role_ids=["r"], description="intent-7")
    assert caught.value.marker == "intent-7"
    assert caught.value.status == code
    assert len(recorder.requests) == 1
    assert time.sleeps == []


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped"), httpx.WriteTimeout("w"),
                httpx.ReadError("reset")],
)
async def test_create_losing_its_answer_after_sending_is_ambiguous(failure: Exception) -> None:
    recorder = Recorder(failure)
    with pytest.raises(AstraAmbiguousCreate) as caught:
        await make_client(recorder, FakeTime()).create_token(role_ids=["r"], description="intent-8")
    assert caught.value.marker == "intent-8"
    assert "intent-8" in str(caught.value)
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("failure", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow")])
async def test_create_that_never_left_is_plainly_retryable_not_ambiguous(failure: Exception) -> None:
    recorder = Recorder(failure)
    with pytest.raises(AstraRetryableError):
        await make_client(recorder, FakeTime()).create_token(role_ids=["r"], description="m")
    assert len(recorder.requests) == 1


async def test_create_rate_limited_is_retryable_with_the_hint_and_not_retried() -> None:
    recorder = Recorder(status(429, headers={"Retry-After": "2"}))
    with pytest.raises(AstraRetryableError) as caught:
        await make_client(recorder, FakeTime()).create_token(role_ids=["r"], description="m")
    assert not isinstance(caught.value, AstraAmbiguousCreate)
    assert caught.value.retry_after == 2.0
    assert len(recorder.requests) == 1


async def test_create_answered_with_an_unreadable_body_is_ambiguous() -> None:
    recorder = Recorder(httpx.Response(200, text="{not json"))
    with pytest.raises(AstraAmbiguousCreate) as caught:
        await make_client(recorder, FakeTime()).create_token(role_ids=["r"], description="intent-9")
    assert caught.value.marker == "intent-9"


async def test_refused_expiry_is_its_own_error_so_the_caller_can_drop_it() -> None:
    body = {"errors": [{"ID": 2, "message": "tokenExpiry is not supported"}]}
    with pytest.raises(AstraTokenExpiryRejected) as caught:
        await make_client(Recorder(status(400, body)), FakeTime()).create_token(
            role_ids=["r"], description="m", token_expiry=NOW
        )
    assert isinstance(caught.value, AstraBadRequest)
    assert caught.value.error_id == 2


async def test_a_400_about_something_else_stays_a_bad_request() -> None:
    body = {"errors": [{"ID": 2, "message": "unknown role id"}]}
    with pytest.raises(AstraBadRequest) as caught:
        await make_client(Recorder(status(400, body)), FakeTime()).create_token(
            role_ids=["r"], description="m", token_expiry=NOW
        )
    assert not isinstance(caught.value, AstraTokenExpiryRejected)


async def test_a_400_about_expiry_when_none_was_sent_stays_a_bad_request() -> None:
    body = {"errors": [{"ID": 2, "message": "tokenExpiry exceeds the org maximum"}]}
    client = make_client(Recorder(status(400, body)), FakeTime())
    with pytest.raises(AstraBadRequest) as caught:
        await client.create_token(role_ids=["r"], description="m")
    assert not isinstance(caught.value, AstraTokenExpiryRejected)


async def test_forbidden_error_reports_astras_id_and_message() -> None:
    body = {"errors": [{"ID": 340017, "message": "Resource, token, was malformed"}]}
    with pytest.raises(AstraForbidden) as caught:
        await make_client(Recorder(status(403, body)), FakeTime()).list_tokens()
    assert caught.value.error_id == 340017
    assert "malformed" in str(caught.value)


async def test_closed_client_refuses_calls_with_a_retryable_error() -> None:
    client = make_client(Recorder(), FakeTime())
    await client.aclose()
    await client.aclose()
    with pytest.raises(AstraClientClosed):
        await client.list_tokens()
    assert client.closed


async def test_client_repr_names_org_and_url_only() -> None:
    client = make_client(Recorder(), FakeTime())
    assert repr(client) == "AstraClient(org_id='org-1', base_url='https://astra.test')"
    assert ROOT not in str(client)
    await client.aclose()


async def test_requests_are_paced_by_the_orgs_rate_limit() -> None:
    time = FakeTime()
    recorder = Recorder(*[status(200, [])] * 4)
    client = make_client(recorder, time, requests_per_second=2, burst=2)
    for _ in range(4):
        await client.list_roles()
    assert time.sleeps == [pytest.approx(0.5), pytest.approx(0.5)]


async def test_waiting_in_the_orgs_queue_does_not_count_against_the_calls_deadline() -> None:
    """A bulk delete queues a thousand revokes behind the rate limit; the last ones
    wait far longer than one call's deadline and must still be sent. (Real time,
    scaled down: 10 calls at 20/s behind a 0.2 s deadline; the last waits ~0.45 s.)"""
    import asyncio

    recorder = Recorder(*[status(204)] * 10)
    settings = AstraClientSettings(base_url="https://astra.test", requests_per_second=20, burst=1,
                                   deadline_seconds=0.2)
    client = AstraClient("org-1", SecretStr(ROOT), settings, transport=httpx.MockTransport(recorder))
    try:
        outcomes = await asyncio.gather(*(client.revoke_token(f"Client{i:02d}Abcdefghijklmnopq")
                                          for i in range(10)))
    finally:
        await client.aclose()
    assert outcomes == [RevokeOutcome.REVOKED] * 10
    assert len(recorder.requests) == 10
