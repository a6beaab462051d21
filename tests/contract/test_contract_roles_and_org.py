"""Roles and the current org through the client, against the fake."""

from __future__ import annotations

import pytest
from astra_contract_support import ORG_ID, ClientFactory

from astra_token_operator.astra import AstraClient, AstraForbidden, AstraNotFound, AstraUnauthorized
from astra_token_operator.fake_astra import DOCUMENTED_ROLE_IDS, FakeAstra, make_admin_token


async def test_roles_list_has_the_documented_built_in_names_and_ids(client: AstraClient) -> None:
    roles = {role.name: role for role in await client.list_roles()}
    for name, role_id in DOCUMENTED_ROLE_IDS.items():
        assert roles[name].id == role_id
    assert len(roles) == 16
    admin = roles["Organization Administrator"]
    assert admin.type == "default"
    assert admin.policy is not None
    assert "org-token-write" in admin.policy.actions
    assert f"drn:astra:org:{ORG_ID}" in admin.policy.resources


async def test_one_role_is_read_by_id(client: AstraClient) -> None:
    role = await client.get_role(DOCUMENTED_ROLE_IDS["RO Svc Acct"])
    assert role.name == "RO Svc Acct"


async def test_unknown_role_is_not_found(client: AstraClient) -> None:
    with pytest.raises(AstraNotFound) as caught:
        await client.get_role("00000000-0000-0000-0000-000000000000")
    assert caught.value.status == 404


async def test_a_token_that_lists_roles_may_still_be_refused_one_role(
    make_client: ClientFactory, fake: FakeAstra
) -> None:
    dba = make_client(fake.issue_token(ORG_ID, ["Database Administrator"]))
    assert await dba.list_roles()
    with pytest.raises(AstraForbidden):
        await dba.get_role(DOCUMENTED_ROLE_IDS["RO Svc Acct"])


async def test_current_org_names_the_org_of_the_root_token(client: AstraClient) -> None:
    org = await client.current_org()
    assert org.id == ORG_ID
    assert org.name


async def test_an_unknown_root_token_is_unauthorized_with_340018(make_client: ClientFactory) -> None:
    stranger = make_client(make_admin_token())
    with pytest.raises(AstraUnauthorized) as caught:
        await stranger.current_org()
    assert caught.value.error_id == 340018
