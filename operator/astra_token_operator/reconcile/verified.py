"""What the operator currently knows about AstraOrgs and AstraRoles, in memory.

Org and role daemons verify their resources against Astra and publish the
result here; token reconciliation reads it without any API call. Nothing here
is persisted: after a restart the daemons fill it again within seconds.

Until then, an org that exists but is not verified yet must not look like one
that does not exist: the names listed at start-up (``record_listing``) tell
the two apart (``org_presence``), and ``wait_for_org`` waits for a verdict."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from pydantic import SecretStr

from astra_token_operator.astra import AstraClientSettings
from astra_token_operator.models import AstraOrgSpec, AstraTokenSpec
from astra_token_operator.policy.leases import RenewalPolicy, renewal_policy
from astra_token_operator.policy.token_plan import Presence

T = TypeVar("T")


@dataclass(frozen=True)
class OrgState:
    name: str  # the AstraOrg's metadata.name
    spec: AstraOrgSpec
    ready: bool
    reason: str
    message: str
    root_token: SecretStr | None = None
    client_settings: AstraClientSettings | None = None
    org_name: str = ""

    @property
    def org_id(self) -> str:
        return self.spec.org_id


@dataclass(frozen=True)
class RoleState:
    name: str  # the AstraRole's metadata.name
    org_ref: str
    role_name: str  # effective, lower-cased: part of the uniqueness key
    ready: bool
    reason: str
    message: str
    role_id: str = ""
    astra_role_name: str = ""
    ttl: timedelta = timedelta(hours=24)
    max_ttl: timedelta = timedelta(hours=24)
    allowed_namespaces: tuple[str, ...] | None = None

    def renewal_policy_for(self, spec: AstraTokenSpec) -> RenewalPolicy:
        """A token's renewal policy: its spec resolved against this role (LeaseError or ValueError
        when they do not fit together)."""
        return renewal_policy(role_ttl=self.ttl, role_max_ttl=self.max_ttl, token_ttl=spec.ttl,
                              renew_before=spec.renew_before, rotation_grace_period=spec.rotation_grace_period)


class Verified:
    def __init__(self) -> None:
        self._orgs: dict[str, OrgState] = {}
        self._roles: dict[str, RoleState] = {}
        self._listed_orgs: set[str] | None = None  # None: not listed yet
        self._listed_roles: set[str] | None = None
        self._published = asyncio.Event()  # replaced at each publish: a broadcast to every waiter

    def record_listing(self, orgs: set[str], roles: set[str]) -> None:
        """The AstraOrgs and AstraRoles that exist, as listed at start-up."""
        self._listed_orgs, self._listed_roles = set(orgs), set(roles)

    def note_org(self, name: str) -> None:
        """An org the watch has just seen: pending until its first verification."""
        if self._listed_orgs is not None:
            self._listed_orgs.add(name)

    def note_role(self, name: str) -> None:
        if self._listed_roles is not None:
            self._listed_roles.add(name)

    @property
    def listed(self) -> bool:
        return self._listed_orgs is not None

    def org_presence(self, name: str) -> Presence:
        return _presence(name in self._orgs, self._listed_orgs, name)

    def role_presence(self, name: str) -> Presence:
        return _presence(name in self._roles, self._listed_roles, name)

    async def wait_for_org(self, name: str, within: float, *, ready: bool = True) -> OrgState | None:
        """The org's state once it is published (and Ready, unless ``ready=False``), or what is known
        after ``within`` seconds."""
        def settled() -> OrgState | None:
            state = self._orgs.get(name)
            return state if state is not None and (state.ready or not ready) else None

        return await self._wait_until(settled, within) or self._orgs.get(name)

    async def wait_for_role(self, name: str, within: float) -> RoleState | None:
        return await self._wait_until(lambda: self._roles.get(name), within)

    async def _wait_until(self, settled: Callable[[], T | None], within: float) -> T | None:
        deadline = time.monotonic() + within
        while (found := settled()) is None and (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._published.wait(), timeout=left)
        return found

    def _announce(self) -> None:
        self._published.set()
        self._published = asyncio.Event()

    def org(self, name: str) -> OrgState | None:
        return self._orgs.get(name)

    def role(self, name: str) -> RoleState | None:
        return self._roles.get(name)

    def publish_org(self, state: OrgState) -> bool:
        """Record the org; True when its readiness changed (dependants should look again)."""
        old = self._orgs.get(state.name)
        self._orgs[state.name] = state
        self._announce()
        return old is None or old.ready != state.ready or old.root_token != state.root_token

    def publish_role(self, state: RoleState) -> bool:
        old = self._roles.get(state.name)
        self._roles[state.name] = state
        self._announce()
        return old is None or old != state

    def forget_org(self, name: str) -> None:
        self._orgs.pop(name, None)
        if self._listed_orgs is not None:
            self._listed_orgs.discard(name)

    def forget_role(self, name: str) -> None:
        self._roles.pop(name, None)
        if self._listed_roles is not None:
            self._listed_roles.discard(name)

    def orgs(self) -> list[OrgState]:
        return list(self._orgs.values())

    def roles_of(self, org_name: str) -> list[RoleState]:
        return [role for role in self._roles.values() if role.org_ref == org_name]


def _presence(published: bool, listed: set[str] | None, name: str) -> Presence:
    if published:
        return Presence.PUBLISHED
    if listed is None or name in listed:
        return Presence.PENDING
    return Presence.ABSENT
