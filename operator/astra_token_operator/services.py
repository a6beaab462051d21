"""The operator's long-lived collaborators, built once at start-up and handed
to every handler through Kopf's memo."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from astra_token_operator.astra import AstraClients
from astra_token_operator.config import OperatorConfig
from astra_token_operator.kube import Kube
from astra_token_operator.reconcile.token_state import TokenMemory
from astra_token_operator.reconcile.verified import Directory
from astra_token_operator.reconcile.wakeups import Wakers
from astra_token_operator.vault import Ledger


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    config: OperatorConfig
    ledger: Ledger
    astra: AstraClients
    kube: Kube
    directory: Directory = field(default_factory=Directory)
    wakers: Wakers = field(default_factory=Wakers)
    # Intents whose mint is running in this process: the sweeper leaves them alone.
    in_flight_intents: set[str] = field(default_factory=set)
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], datetime] = utc_now
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _memories: dict[str, TokenMemory] = field(default_factory=dict)

    def lock(self, uid: str) -> asyncio.Lock:
        """One lock per object: the daemon, manual requests and the finalizer never overlap."""
        return self._locks.setdefault(uid, asyncio.Lock())

    def token_memory(self, uid: str) -> TokenMemory:
        return self._memories.setdefault(uid, TokenMemory())

    def active_tokens(self, *, org_id: str | None = None, role_name: str | None = None,
                      org_ref: str | None = None) -> int:
        """Tokens this process holds active, for the orgs' and roles' status."""
        if org_ref is not None:
            org = self.directory.org(org_ref)
            org_id = org.org_id if org else "?"
        count = 0
        for memory in self._memories.values():
            record = memory.current.record if memory.current else None
            if record is None or record.state.value != "active":
                continue
            if (org_id is None or record.org_id == org_id) and (role_name is None or record.role_name == role_name):
                count += 1
        return count

    def secret_changed(self, owner_uid: str, resource_version: str | None = None) -> None:
        """A managed Secret changed or vanished: the owner looks at it on its next pass, now.
        The event of our own last write (same resourceVersion) is no news."""
        memory = self._memories.get(owner_uid)
        if memory is None or (resource_version is not None
                              and resource_version == memory.secret_resource_version):
            return
        memory.secret_dirty = True
        self.wakers.wake(owner_uid)

    def spec_changed(self, uid: str, generation: int | None) -> None:
        """A new spec generation: the next pass runs now and republishes the Secret (a change,
        not a restore), since spec.secret may have changed. An unchanged generation is no news."""
        memory = self._memories.get(uid)
        if memory is None:
            self.wakers.wake(uid)
            return
        if generation is not None and generation == memory.seen_generation:
            return
        memory.seen_generation = generation
        memory.secret_dirty = memory.expect_secret_change = True
        self.wakers.wake(uid)

    def forget(self, uid: str) -> None:
        self._locks.pop(uid, None)
        self._memories.pop(uid, None)
        self.wakers.unregister(uid)

    @classmethod
    def from_config(cls, config: OperatorConfig) -> Services:
        wakers = Wakers()  # every client's answers wake whoever waits on that system
        return cls(
            config=config,
            ledger=Ledger.from_config(config, listener=wakers.call_finished),
            astra=AstraClients(listener=wakers.call_finished),
            kube=Kube.from_environment(listener=wakers.call_finished),
            wakers=wakers,
        )

    async def aclose(self) -> None:
        await self.astra.aclose_all()
        await self.ledger.aclose()
        await self.kube.aclose()
