"""AstraRole: resolve astraRoleName to an Astra role id (or check roleId),
publish to the directory, report in status."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from astra_token_operator.astra import AstraError, AstraRole
from astra_token_operator.models import AstraRole as AstraRoleResource
from astra_token_operator.reconcile.verified import RoleState
from astra_token_operator.services import Services
from astra_token_operator.surface import RoleReason


def find_role(roles: list[AstraRole], *, role_id: str | None, astra_role_name: str | None) -> AstraRole | None:
    """By id (exact, case-insensitive: ids are UUIDs) or by name (case-insensitive, as the API spells
    names inconsistently)."""
    if role_id:
        return next((r for r in roles if r.id.lower() == role_id.lower()), None)
    wanted = (astra_role_name or "").strip().lower()
    return next((r for r in roles if r.name.strip().lower() == wanted), None)


async def verify_role(services: Services, body: dict[str, Any]) -> RoleState:
    resource = AstraRoleResource.model_validate(body)
    spec = resource.spec
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
    org = services.directory.org(spec.org_ref)
    if org is None or not org.ready or org.root_token is None:
        why = "does not exist" if org is None else f"is not Ready ({org.reason}: {org.message})"
        return replace(waiting, message=f"AstraOrg {spec.org_ref!r} {why}")
    client = services.astra.get(org.org_id, org.root_token, org.client_settings)
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
