"""What the operator currently knows about AstraOrgs and AstraRoles, in memory.

Org and role daemons verify their resources against Astra and publish the
result here; token reconciliation reads it without any API call. Nothing here
is persisted: after a restart the daemons fill it again within seconds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import SecretStr

from astra_token_operator.astra import AstraClientSettings
from astra_token_operator.models import AstraOrgSpec


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


class Directory:
    def __init__(self) -> None:
        self._orgs: dict[str, OrgState] = {}
        self._roles: dict[str, RoleState] = {}

    def org(self, name: str) -> OrgState | None:
        return self._orgs.get(name)

    def role(self, name: str) -> RoleState | None:
        return self._roles.get(name)

    def publish_org(self, state: OrgState) -> bool:
        """Record the org; True when its readiness changed (dependants should look again)."""
        old = self._orgs.get(state.name)
        self._orgs[state.name] = state
        return old is None or old.ready != state.ready or old.root_token != state.root_token

    def publish_role(self, state: RoleState) -> bool:
        old = self._roles.get(state.name)
        self._roles[state.name] = state
        return old is None or old != state

    def forget_org(self, name: str) -> None:
        self._orgs.pop(name, None)

    def forget_role(self, name: str) -> None:
        self._roles.pop(name, None)

    def orgs(self) -> list[OrgState]:
        return list(self._orgs.values())

    def roles_of(self, org_name: str) -> list[RoleState]:
        return [role for role in self._roles.values() if role.org_ref == org_name]
