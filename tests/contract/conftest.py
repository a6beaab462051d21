"""Contract tests: the client against the fake over real loopback HTTP.

``fake`` is a FakeAstra in the test's own event loop with one org;
``make_client`` builds clients on it with quick test settings (millisecond
backoff, short timeouts) and closes them afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from astra_contract_support import ORG_ID, ClientFactory, quick_settings
from pydantic import SecretStr

from astra_token_operator.astra import AstraClient
from astra_token_operator.fake_astra import FakeAstra, make_admin_token


@pytest.fixture
async def fake() -> AsyncIterator[FakeAstra]:
    async with FakeAstra({ORG_ID: make_admin_token()}) as running:
        yield running


@pytest.fixture
async def make_client(fake: FakeAstra) -> AsyncIterator[ClientFactory]:
    made: list[AstraClient] = []

    def factory(token: str | None = None, org_id: str = ORG_ID, **settings: object) -> AstraClient:
        client = AstraClient(
            org_id, SecretStr(token or fake.admin_token(org_id)), quick_settings(fake.url, **settings)
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.aclose()


@pytest.fixture
def client(make_client: ClientFactory) -> AstraClient:
    return make_client()
