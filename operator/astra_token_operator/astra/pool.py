"""One pooled client per org, replaced when the org's root token or client
settings change (e.g. the AstraOrg's rootTokenRef Secret was rotated)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import SecretStr

from astra_token_operator.astra.client import AstraClient
from astra_token_operator.astra.errors import AstraForbidden, AstraUnauthorized
from astra_token_operator.astra.settings import AstraClientSettings
from astra_token_operator.calls import CallListener, ignore_calls

ClientFactory = Callable[[str, SecretStr, AstraClientSettings], AstraClient]


def _fingerprint(token: SecretStr) -> bytes:
    # Compare tokens by digest, so the pool keeps no second copy of any token.
    return hashlib.sha256(token.get_secret_value().encode()).digest()


@dataclass
class _Entry:
    client: AstraClient
    token_fingerprint: bytes
    settings: AstraClientSettings


class AstraClients:
    def __init__(self, factory: ClientFactory | None = None, listener: CallListener = ignore_calls) -> None:
        self._factory: ClientFactory = factory or (
            lambda org_id, token, settings: AstraClient(org_id, token, settings, listener=listener))
        self._entries: dict[str, _Entry] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._retired: list[AstraClient] = []

    def __repr__(self) -> str:
        return f"AstraClients(orgs={sorted(self._entries)!r})"

    def get(
        self, org_id: str, root_token: SecretStr, settings: AstraClientSettings | None = None
    ) -> AstraClient:
        """The org's client; a new one when the token or settings differ from
        the pooled client's. The replaced client finishes its calls in flight
        and closes in the background."""
        settings = settings or AstraClientSettings()
        fingerprint = _fingerprint(root_token)
        entry = self._entries.get(org_id)
        if (
            entry is not None
            and not entry.client.closed
            and hmac.compare_digest(entry.token_fingerprint, fingerprint)
            and entry.settings == settings
        ):
            return entry.client
        if entry is not None:
            self._retire(entry.client)
        client = self._factory(org_id, root_token, settings)
        self._entries[org_id] = _Entry(client, fingerprint, settings)
        return client

    async def discard(self, org_id: str) -> None:
        """Close and forget the org's client (the AstraOrg was deleted)."""
        entry = self._entries.pop(org_id, None)
        if entry is not None:
            await entry.client.aclose()

    async def check_credentials(self, org_id: str, token: SecretStr,
                                settings: AstraClientSettings | None = None) -> bool:
        """Whether Astra still accepts ``token`` (an issued token, not the root token): one
        GET /v2/currentOrg made with it, on a client of its own that is closed at once. False only
        when Astra answers 401 (an unknown or revoked token); a 403 means Astra knew the token
        and refused the permission, so it exists. Other failures raise AstraError."""
        client = self._factory(org_id, token, settings or AstraClientSettings())
        try:
            await client.current_org()
        except AstraUnauthorized:
            return False
        except AstraForbidden:
            return True
        finally:
            await client.aclose()
        return True

    async def aclose_all(self) -> None:
        entries, self._entries = list(self._entries.values()), {}
        retired, self._retired = self._retired, []
        await asyncio.gather(
            *(entry.client.aclose() for entry in entries),
            *(client.aclose() for client in retired),
            *self._retiring,
        )

    def _retire(self, client: AstraClient) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (sync caller): close later, in aclose_all
            self._retired.append(client)
            return
        task = loop.create_task(client.aclose())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
