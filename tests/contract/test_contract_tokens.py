"""Creating, listing and revoking tokens through the client, against the fake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from astra_contract_support import ORG_ID, OTHER_ORG_ID, ClientFactory, quick_settings
from pydantic import SecretStr

from astra_token_operator.astra import (
    AstraBadRequest,
    AstraClient,
    AstraClients,
    AstraForbidden,
    AstraRetryableError,
    AstraTokenExpiryRejected,
    AstraUnexpectedResponse,
    RevokeOutcome,
)
from astra_token_operator.fake_astra import BUILTIN_ROLE_IDS, FakeAstra

RO_USER = BUILTIN_ROLE_IDS["RO User"]


async def test_created_token_authenticates_and_is_listed_with_its_marker(
    client: AstraClient, fake: FakeAstra
) -> None:
    created = await client.create_token(role_ids=[RO_USER], description="intent-1 ns/app")
    assert fake.verify(created.token.get_secret_value()).valid
    assert created.org_id == ORG_ID
    assert created.roles == (RO_USER,)
    assert created.generated_on.tzinfo is not None
    listed = {t.client_id: t for t in await client.list_tokens()}
    assert listed[created.client_id].description == "intent-1 ns/app"
    assert listed[created.client_id].roles == (RO_USER,)
    assert listed[created.client_id].token_expiry is None


async def test_expiry_sent_on_create_is_kept_and_listed(client: AstraClient, fake: FakeAstra) -> None:
    expiry = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=24)
    created = await client.create_token(role_ids=[RO_USER], description="m", token_expiry=expiry)
    listed = {t.client_id: t for t in await client.list_tokens()}
    assert listed[created.client_id].token_expiry == expiry
    assert [v.token_expiry for v in fake.tokens(ORG_ID) if v.client_id == created.client_id] == [expiry]


async def test_token_past_its_expiry_is_gone_from_lists_and_stops_working(
    client: AstraClient, fake: FakeAstra
) -> None:
    created = await client.create_token(
        role_ids=[RO_USER], description="m", token_expiry=datetime.now(UTC) + timedelta(minutes=10)
    )
    fake.advance_clock(11 * 60)
    assert created.client_id not in {t.client_id for t in await client.list_tokens()}
    assert fake.verify(created.token.get_secret_value()).reason == "expired"


async def test_org_refusing_expiry_gets_a_distinct_error_and_a_create_without_it_works(
    client: AstraClient, fake: FakeAstra
) -> None:
    fake.set_faults(reject_token_expiry=True)
    with pytest.raises(AstraTokenExpiryRejected):
        await client.create_token(
            role_ids=[RO_USER], description="m", token_expiry=datetime.now(UTC) + timedelta(hours=1)
        )
    created = await client.create_token(role_ids=[RO_USER], description="m")
    assert fake.verify(created.token.get_secret_value()).valid


async def test_revoked_token_stops_working_and_a_second_revoke_is_already_gone(
    client: AstraClient, fake: FakeAstra
) -> None:
    created = await client.create_token(role_ids=[RO_USER], description="m")
    assert await client.revoke_token(created.client_id) is RevokeOutcome.REVOKED
    assert fake.verify(created.token.get_secret_value()).reason == "revoked"
    assert created.client_id not in {t.client_id for t in await client.list_tokens()}
    assert await client.revoke_token(created.client_id) is RevokeOutcome.ALREADY_GONE


async def test_revoking_an_unknown_client_id_is_already_gone(client: AstraClient) -> None:
    assert await client.revoke_token("NoSuchClientIdAtAllXxxxx") is RevokeOutcome.ALREADY_GONE


async def test_unknown_role_is_a_bad_request(client: AstraClient) -> None:
    with pytest.raises(AstraBadRequest, match="unknown role"):
        await client.create_token(role_ids=["00000000-0000-0000-0000-000000000000"], description="m")


async def test_read_only_root_token_may_not_create_tokens(
    make_client: ClientFactory, fake: FakeAstra
) -> None:
    read_only = make_client(fake.issue_token(ORG_ID, ["RO User"]))
    with pytest.raises(AstraForbidden) as caught:
        await read_only.create_token(role_ids=[RO_USER], description="m")
    assert caught.value.status == 403


async def test_database_administrator_may_mint_tokens(make_client: ClientFactory, fake: FakeAstra) -> None:
    dba = make_client(fake.issue_token(ORG_ID, ["Database Administrator"]))
    created = await dba.create_token(role_ids=[RO_USER], description="m")
    assert await dba.revoke_token(created.client_id) is RevokeOutcome.REVOKED


async def test_orgs_see_only_their_own_tokens(make_client: ClientFactory, fake: FakeAstra) -> None:
    fake.add_org(OTHER_ORG_ID)
    ours, theirs = make_client(), make_client(org_id=OTHER_ORG_ID)
    created = await theirs.create_token(role_ids=[RO_USER], description="theirs")
    assert created.org_id == OTHER_ORG_ID
    assert created.client_id not in {t.client_id for t in await ours.list_tokens()}
    assert await ours.revoke_token(created.client_id) is RevokeOutcome.ALREADY_GONE
    assert fake.verify(created.token.get_secret_value()).valid


async def test_create_with_an_explicit_org_id(client: AstraClient) -> None:
    created = await client.create_token(role_ids=[RO_USER], description="m", org_id=ORG_ID)
    assert created.org_id == ORG_ID


async def test_a_list_answered_with_a_body_cut_short_is_an_unexpected_response_then_lists_again(
    client: AstraClient, fake: FakeAstra
) -> None:
    created = await client.create_token(role_ids=[RO_USER], description="m")
    fake.set_faults(malformed_lists=1)
    with pytest.raises(AstraUnexpectedResponse) as caught:
        await client.list_tokens()
    assert caught.value.status == 200
    assert created.client_id in {t.client_id for t in await client.list_tokens()}


async def test_a_tokens_own_credentials_tell_whether_astra_still_knows_it(fake: FakeAstra) -> None:
    """How the sweep confirms a token its list lacks: one call with the token itself. A token with
    no permission on /v2/currentOrg is still known (403); a revoked one is not (401)."""
    pool = AstraClients()
    admin = AstraClient(ORG_ID, SecretStr(fake.admin_token(ORG_ID)), quick_settings(fake.url))
    try:
        created = await admin.create_token(role_ids=[RO_USER], description="m")
        settings = quick_settings(fake.url)
        assert await pool.check_credentials(ORG_ID, created.token, settings) is True
        await admin.revoke_token(created.client_id)
        assert await pool.check_credentials(ORG_ID, created.token, settings) is False
        fake.set_faults(rate_503=1.0)
        with pytest.raises(AstraRetryableError):
            await pool.check_credentials(ORG_ID, SecretStr(fake.admin_token(ORG_ID)), settings)
    finally:
        await admin.aclose()
        await pool.aclose_all()
