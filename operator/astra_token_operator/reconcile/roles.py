"""AstraRole: resolve astraRoleName to an Astra role id (or check roleId),
publish it for the tokens, report in status. ``RoleCycle.step`` is one turn of
the role's daemon."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from astra_token_operator.astra import AstraError, AstraRole
from astra_token_operator.kube import KubeError, KubeNotFound
from astra_token_operator.lifecycle_log import warn_action
from astra_token_operator.models import AstraRole as AstraRoleResource
from astra_token_operator.models import AstraRoleStatus, Condition, set_condition, status_patch
from astra_token_operator.policy.token_plan import Presence
from astra_token_operator.reconcile.events import EventSink
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.reconcile.verified import RoleState
from astra_token_operator.surface import CONDITION_READY, ROLE_PLURAL, RoleReason


def find_role(roles: list[AstraRole], *, role_id: str | None, astra_role_name: str | None) -> AstraRole | None:
    """By id (exact, case-insensitive: ids are UUIDs) or by name (case-insensitive, as the API spells
    names inconsistently)."""
    if role_id:
        return next((r for r in roles if r.id.lower() == role_id.lower()), None)
    wanted = (astra_role_name or "").strip().lower()
    return next((r for r in roles if r.name.strip().lower() == wanted), None)


async def verify_role(deps: Deps, resource: AstraRoleResource) -> RoleState | None:
    """The role's state; None while its org's first verification is under way (the role stays
    pending rather than reporting its org missing: the org's verdict wakes it)."""
    spec = resource.spec
    verified = deps.runtime.verified
    if verified.org(spec.org_ref) is None and verified.org_presence(spec.org_ref) is Presence.PENDING:
        return None
    waiting = RoleState(
        name=resource.metadata.name,
        org_ref=spec.org_ref,
        role_name=resource.role_name,
        ready=False,
        reason=RoleReason.ORG_NOT_READY,
        message="",
        ttl=spec.ttl_delta,
        max_ttl=spec.max_ttl_delta,
        allowed_namespaces=tuple(spec.allowed_namespaces) if spec.allowed_namespaces is not None else None,
    )
    org = deps.runtime.verified.org(spec.org_ref)
    if org is None or not org.ready or org.root_token is None:
        why = "does not exist" if org is None else f"is not Ready ({org.reason}: {org.message})"
        return replace(waiting, message=f"AstraOrg {spec.org_ref!r} {why}")
    client = deps.astra.get(org.org_id, org.root_token, org.client_settings)
    try:
        # Listing needs less permission than reading one role, and answers both questions.
        roles = await client.list_roles()
    except AstraError as exc:
        return replace(waiting, message=f"cannot list the org's roles: {exc}")
    found = find_role(roles, role_id=spec.role_id, astra_role_name=spec.astra_role_name)
    if found is None:
        asked = f"id {spec.role_id!r}" if spec.role_id else f"name {spec.astra_role_name!r}"
        known = ", ".join(sorted(r.name for r in roles)[:20])
        return replace(waiting, reason=RoleReason.ROLE_NOT_FOUND_IN_ASTRA,
                       message=f"org {org.org_id} has no role with {asked}; known roles: {known}")
    return replace(waiting, ready=True, reason=RoleReason.VERIFIED,
                   message=f"Astra role {found.name!r} ({found.id})", role_id=found.id,
                   astra_role_name=found.name)


NOT_READY_RETRY_SECONDS = 15.0
COUNT_REFRESH_SECONDS = 15.0


class RoleCycle:
    """One role daemon's turns: verify (list the org's Astra roles) every org_verify_interval, at once
    when woken, every 15 s while not Ready; between verifications, the TOKENS count."""

    def __init__(self, deps: Deps, events: EventSink) -> None:
        self.deps, self.events = deps, events
        self.next_verify = 0.0  # time.monotonic()
        self.state: RoleState | None = None

    async def step(self, body: dict[str, Any], woken: bool) -> float:
        resource = AstraRoleResource.model_validate(body)
        now = time.monotonic()
        if not woken and self.state is not None and self.state.ready and now < self.next_verify:
            await self._write(resource, AstraRoleStatus(active_tokens=self._count(self.state)), quietly=True)
            return min(COUNT_REFRESH_SECONDS, self.next_verify - now)
        deps = self.deps
        found = await verify_role(deps, resource)
        if found is None:  # its org is not verified yet: the org's verdict wakes this role
            return NOT_READY_RETRY_SECONDS
        state = self.state = found
        if deps.runtime.verified.publish_role(state):
            deps.runtime.wakeups.wake_kind("token")
            (self.events.info if state.ready else self.events.warning)(state.reason, state.message)
        conditions = set_condition(resource.status.conditions, Condition(
            type=CONDITION_READY, status="True" if state.ready else "False", reason=state.reason,
            message=state.message, observed_generation=resource.metadata.generation), deps.clock())
        wanted = AstraRoleStatus(
            conditions=conditions, role_name=state.role_name, role_id=state.role_id or None,
            astra_role_name=state.astra_role_name or None, observed_generation=resource.metadata.generation,
            active_tokens=self._count(state))
        try:
            await self._write(resource, wanted)
        except KubeError as exc:
            warn_action("resolve-role", name=resource.metadata.name, message=f"status not written, will retry: {exc}")
            self.next_verify = 0.0
            return NOT_READY_RETRY_SECONDS
        if not state.ready:
            return NOT_READY_RETRY_SECONDS
        self.next_verify = now + deps.config.org_verify_interval_seconds
        return min(COUNT_REFRESH_SECONDS, deps.config.org_verify_interval_seconds)

    def _count(self, state: RoleState) -> int:
        org = self.deps.runtime.verified.org(state.org_ref)
        return self.deps.runtime.active_tokens(org_id=org.org_id if org else "?", role_name=state.role_name)

    async def _write(self, resource: AstraRoleResource, wanted: AstraRoleStatus, *, quietly: bool = False) -> None:
        patch = status_patch(resource.status, wanted)
        if not patch:
            return
        try:
            await self.deps.kube.patch_status(ROLE_PLURAL, resource.metadata.name, patch)
        except KubeNotFound:
            return  # deleted meanwhile: the watch stops this daemon
        except KubeError:
            if not quietly:
                raise
