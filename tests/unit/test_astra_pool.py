"""One pooled client per org, replaced when its root token or settings change."""

from __future__ import annotations

from pydantic import SecretStr

from astra_token_operator.astra import AstraClient, AstraClients, AstraClientSettings

TOKEN_A = "AstraCS:" + "a" * 24 + ":" + "0" * 64
TOKEN_B = "AstraCS:" + "b" * 24 + ":" + "1" * 64
SETTINGS = AstraClientSettings(base_url="https://astra.test")


async def test_same_org_token_and_settings_share_one_client() -> None:
    clients = AstraClients()
    first = clients.get("org-1", SecretStr(TOKEN_A), SETTINGS)
    assert clients.get("org-1", SecretStr(TOKEN_A), SETTINGS) is first
    assert clients.get("org-2", SecretStr(TOKEN_A), SETTINGS) is not first
    await clients.aclose_all()
    assert first.closed


async def test_a_rotated_root_token_gets_a_new_client_and_the_old_one_closes() -> None:
    clients = AstraClients()
    old = clients.get("org-1", SecretStr(TOKEN_A), SETTINGS)
    new = clients.get("org-1", SecretStr(TOKEN_B), SETTINGS)
    assert new is not old
    assert clients.get("org-1", SecretStr(TOKEN_B), SETTINGS) is new
    await clients.aclose_all()
    assert old.closed
    assert new.closed


async def test_changed_settings_get_a_new_client() -> None:
    clients = AstraClients()
    old = clients.get("org-1", SecretStr(TOKEN_A), SETTINGS)
    new = clients.get("org-1", SecretStr(TOKEN_A), SETTINGS.model_copy(update={"burst": 3}))
    assert new is not old
    assert new.settings.burst == 3
    await clients.aclose_all()


async def test_a_discarded_org_is_closed_and_forgotten() -> None:
    clients = AstraClients()
    client = clients.get("org-1", SecretStr(TOKEN_A), SETTINGS)
    await clients.discard("org-1")
    assert client.closed
    assert clients.get("org-1", SecretStr(TOKEN_A), SETTINGS) is not client
    await clients.discard("org-1")


def test_a_client_replaced_outside_a_loop_is_closed_by_aclose_all() -> None:
    import asyncio

    clients = AstraClients()
    old = clients.get("org-1", SecretStr(TOKEN_A), SETTINGS)
    clients.get("org-1", SecretStr(TOKEN_B), SETTINGS)
    asyncio.run(clients.aclose_all())
    assert old.closed


async def test_the_pool_never_shows_a_token() -> None:
    made: list[AstraClient] = []

    def factory(org: str, token: SecretStr, settings: AstraClientSettings) -> AstraClient:
        made.append(AstraClient(org, token, settings))
        return made[-1]

    clients = AstraClients(factory)
    clients.get("org-1", SecretStr(TOKEN_A), SETTINGS)
    assert TOKEN_A not in repr(clients)
    assert "org-1" in repr(clients)
    assert len(made) == 1
    await clients.aclose_all()
