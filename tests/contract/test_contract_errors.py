"""Every error path of the client against the fake: statuses, body shapes,
retry counts (read from the fake's counters), ambiguous creates."""

from __future__ import annotations

import time

import pytest
from astra_contract_support import ORG_ID, ClientFactory

from astra_token_operator.astra import (
    AstraAmbiguousCreate,
    AstraBadRequest,
    AstraClient,
    AstraConflict,
    AstraError,
    AstraForbidden,
    AstraNotFound,
    AstraRetryableError,
    AstraUnauthorized,
    RevokeOutcome,
)
from astra_token_operator.fake_astra import BUILTIN_ROLE_IDS, FakeAstra, ScriptedResponse

RO_USER = BUILTIN_ROLE_IDS["RO User"]
LIST = "GET /v2/clientIdSecrets"
CREATE = "POST /v2/clientIdSecrets"
DELETE = "DELETE /v2/clientIdSecrets/{clientId}"


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(400, AstraBadRequest), (401, AstraUnauthorized), (403, AstraForbidden), (404, AstraNotFound),
     (409, AstraConflict), (501, AstraError)],
)
@pytest.mark.parametrize("body", ["json", "text", "json_string", "empty"])
async def test_final_errors_are_typed_whatever_the_body_shape_and_not_retried(
    client: AstraClient, fake: FakeAstra, status: int, error_class: type[AstraError], body: str
) -> None:
    fake.set_faults(
        script=[ScriptedResponse(status=status, endpoint=LIST, message="it went wrong", body=body)]
    )
    with pytest.raises(error_class) as caught:
        await client.list_tokens()
    error = caught.value
    assert type(error) is error_class
    assert (error.status, error.org_id, error.endpoint) == (status, ORG_ID, LIST)
    if body == "empty":
        assert error.astra_message is None
    else:
        assert error.astra_message == "it went wrong"
    assert (error.error_id == 900000 + status) == (body == "json")
    assert fake.counters().count(endpoint=LIST) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_list_is_retried_until_it_succeeds(client: AstraClient, fake: FakeAstra, status: int) -> None:
    fake.set_faults(script=[ScriptedResponse(status=status, endpoint=LIST, times=3, retry_after="0")])
    await client.list_tokens()
    counters = fake.counters()
    assert counters.count(endpoint=LIST, status=status) == 3
    assert counters.count(endpoint=LIST, status=200) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_list_gives_up_after_max_attempts(
    make_client: ClientFactory, fake: FakeAstra, status: int
) -> None:
    client = make_client(max_attempts=4)
    fake.set_faults(script=[ScriptedResponse(status=status, endpoint=LIST, times=10, retry_after="0")])
    with pytest.raises(AstraRetryableError) as caught:
        await client.list_tokens()
    assert caught.value.attempts == 4
    assert fake.counters().count(endpoint=LIST) == 4


async def test_revoke_is_retried_on_server_errors(client: AstraClient, fake: FakeAstra) -> None:
    created = await client.create_token(role_ids=[RO_USER], description="m")
    fake.set_faults(script=[ScriptedResponse(status=503, endpoint=DELETE, times=2)])
    assert await client.revoke_token(created.client_id) is RevokeOutcome.REVOKED
    assert fake.counters().count(endpoint=DELETE) == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_create_is_never_retried_and_a_server_error_is_ambiguous(
    client: AstraClient, fake: FakeAstra, status: int
) -> None:
    fake.set_faults(script=[ScriptedResponse(status=status, endpoint=CREATE, times=5)])
    with pytest.raises(AstraAmbiguousCreate) as caught:
        await client.create_token(role_ids=[RO_USER], description="intent-503")
    assert caught.value.marker == "intent-503"
    assert fake.counters().count(endpoint=CREATE) == 1


async def test_rate_limited_create_is_not_retried_and_not_ambiguous(
    client: AstraClient, fake: FakeAstra
) -> None:
    fake.set_faults(script=[ScriptedResponse(status=429, endpoint=CREATE, retry_after="3")])
    with pytest.raises(AstraRetryableError) as caught:
        await client.create_token(role_ids=[RO_USER], description="m")
    assert not isinstance(caught.value, AstraAmbiguousCreate)
    assert caught.value.retry_after == 3.0
    assert fake.counters().count(endpoint=CREATE) == 1


async def test_dropped_create_is_ambiguous_and_the_marker_finds_the_token(
    client: AstraClient, fake: FakeAstra
) -> None:
    fake.set_faults(drop_create_responses=1)
    with pytest.raises(AstraAmbiguousCreate) as caught:
        await client.create_token(role_ids=[RO_USER], description="intent-dropped")
    assert caught.value.marker == "intent-dropped"
    found = [t for t in await client.list_tokens() if t.description == caught.value.marker]
    assert len(found) == 1
    assert [v.state for v in fake.tokens(ORG_ID) if v.client_id == found[0].client_id] == ["valid"]
    assert await client.revoke_token(found[0].client_id) is RevokeOutcome.REVOKED
    counters = fake.counters()
    assert counters.count(endpoint=CREATE) == 1
    assert counters.dropped_creates == 1


async def test_create_whose_answer_hangs_past_the_read_timeout_is_ambiguous(
    make_client: ClientFactory, fake: FakeAstra
) -> None:
    client = make_client(read_timeout_seconds=0.3)
    fake.set_faults(drop_create_responses=1, drop_mode="hang", hang_seconds=30)
    with pytest.raises(AstraAmbiguousCreate) as caught:
        await client.create_token(role_ids=[RO_USER], description="intent-hang")
    assert any(t.description == "intent-hang" for t in await client.list_tokens())
    assert caught.value.status is None


async def test_unreachable_astra_is_retryable_and_a_create_there_is_not_ambiguous(
    make_client: ClientFactory, fake: FakeAstra
) -> None:
    client = make_client(max_attempts=3)
    await fake.stop()
    with pytest.raises(AstraRetryableError, match="network error"):
        await client.list_tokens()
    with pytest.raises(AstraRetryableError) as caught:
        await client.create_token(role_ids=[RO_USER], description="m")
    assert not isinstance(caught.value, AstraAmbiguousCreate)


async def test_revoked_root_token_is_unauthorized_with_340018(
    make_client: ClientFactory, fake: FakeAstra
) -> None:
    admin = make_client()
    org_admin = BUILTIN_ROLE_IDS["Organization Administrator"]
    minted = await admin.create_token(role_ids=[org_admin], description="r")
    second_root = make_client(minted.token.get_secret_value())
    assert (await second_root.current_org()).id == ORG_ID
    await admin.revoke_token(minted.client_id)
    with pytest.raises(AstraUnauthorized) as caught:
        await second_root.current_org()
    assert caught.value.error_id == 340018
    assert "340018" in str(caught.value)


async def test_malformed_root_token_is_forbidden_with_an_errors_body(make_client: ClientFactory) -> None:
    client = make_client("AstraCS:not-a-real-token:xyz")
    with pytest.raises(AstraForbidden) as caught:
        await client.list_tokens()
    assert caught.value.error_id == 340017


async def test_retry_after_is_honoured_in_real_time(client: AstraClient, fake: FakeAstra) -> None:
    fake.set_faults(script=[ScriptedResponse(status=429, endpoint=LIST, retry_after="1")])
    started = time.monotonic()
    await client.list_tokens()
    elapsed = time.monotonic() - started
    assert elapsed >= 1.0
    assert fake.counters().count(endpoint=LIST) == 2


async def test_retry_after_longer_than_the_deadline_is_reported_not_slept(
    make_client: ClientFactory, fake: FakeAstra
) -> None:
    client = make_client(deadline_seconds=5)
    fake.set_faults(script=[ScriptedResponse(status=503, endpoint=LIST, retry_after="3600")])
    with pytest.raises(AstraRetryableError) as caught:
        await client.list_tokens()
    assert caught.value.retry_after == 3600
    assert fake.counters().count(endpoint=LIST) == 1
