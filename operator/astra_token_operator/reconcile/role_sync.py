"""Role sync carried out: ``apply_role_sync`` creates, updates and deletes
AstraRoles as a plan (policy/role_sync_plan.py) says; ``sync_roles_if_due`` is
what the org daemon calls, and its condition joins the org's conditions."""

from __future__ import annotations

from typing import Any, Protocol

from astra_token_operator.astra import AstraError
from astra_token_operator.kube import KubeError
from astra_token_operator.lifecycle_log import log_action, warn_action
from astra_token_operator.models import AstraOrg, Condition
from astra_token_operator.policy.role_sync_plan import (
    ExistingRole,
    OrgIdentity,
    RoleSyncSchedule,
    SyncPlan,
    SyncResult,
    failed_condition,
    plan_role_sync,
    synced_condition,
)
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.reconcile.verified import OrgState
from astra_token_operator.surface import ROLE_PLURAL, RoleSyncReason


class RoleWriter(Protocol):
    """What applying a plan needs of kube.Kube."""

    async def create_object(self, plural: str, body: dict[str, Any],
                            namespace: str | None = None) -> dict[str, Any]: ...

    async def patch_object(self, plural: str, name: str, patch: dict[str, Any],
                           namespace: str | None = None) -> dict[str, Any]: ...

    async def delete_object(self, plural: str, name: str, namespace: str | None = None, *,
                            uid: str | None = None) -> bool: ...


async def apply_role_sync(kube: RoleWriter, plan: SyncPlan, *, org_id: str) -> SyncResult:
    """Create, update and delete as planned. A failed step is recorded and the
    others still run; the next sync plans again from what it then finds."""
    created: list[str] = []
    updated: list[str] = []
    pruned: list[str] = []
    failures: list[str] = []
    for create in plan.creates:
        try:
            await kube.create_object(ROLE_PLURAL, create.body)
        except KubeError as exc:
            failures.append(f"create {create.name}: {exc}")
            continue
        created.append(create.name)
        log_action("role-sync-create", org=org_id, role=create.name, message=f"Astra role {create.astra_role_name!r}")
    for update in plan.updates:
        try:
            await kube.patch_object(ROLE_PLURAL, update.name, update.patch)
        except KubeError as exc:
            failures.append(f"update {update.name}: {exc}")
            continue
        updated.append(update.name)
        log_action("role-sync-update", org=org_id, role=update.name, message=f"changed {', '.join(update.changes)}")
    for delete in plan.deletes:
        try:
            # Only the object planned on: a role deleted and made again by hand meanwhile stays.
            gone_now = await kube.delete_object(ROLE_PLURAL, delete.name, uid=delete.uid or None)
        except KubeError as exc:
            failures.append(f"prune {delete.name}: {exc}")
            continue
        if gone_now:
            pruned.append(delete.name)
            log_action("role-sync-prune", org=org_id, role=delete.name,
                       message=f"Astra role {delete.role_id} is gone")
    for failure in failures:
        warn_action("role-sync", org=org_id, message=failure)
    return SyncResult(astra_roles=plan.astra_roles, created=tuple(created), updated=tuple(updated),
                      unchanged=plan.unchanged, pruned=tuple(pruned), stale=plan.stale, skips=plan.skips,
                      failures=tuple(failures))




async def sync_roles(deps: Deps, org: AstraOrg, state: OrgState) -> Condition:
    """One sync of a Ready org: list its Astra roles and the cluster's AstraRoles,
    plan, apply. Never raises for an Astra or Kubernetes failure: the condition says it."""
    generation = org.metadata.generation
    if state.root_token is None:
        return failed_condition(RoleSyncReason.ORG_NOT_READY, "the org's root token is not loaded yet", generation)
    client = deps.astra.get(state.org_id, state.root_token, state.client_settings)
    try:
        astra_roles = await client.list_roles()
    except AstraError as exc:
        return failed_condition(RoleSyncReason.ASTRA_ERROR, f"cannot list the org's Astra roles: {exc}", generation)
    try:
        # Every AstraRole, not only synced ones: names are cluster-wide, and roleName is unique per org.
        found = await deps.kube.list_objects(ROLE_PLURAL)
    except KubeError as exc:
        return failed_condition(RoleSyncReason.KUBERNETES_ERROR, f"cannot list AstraRoles: {exc}", generation)
    identity = OrgIdentity(org.metadata.name, org.metadata.uid or "")
    plan = plan_role_sync(identity, [ExistingRole.from_api(o) for o in found], astra_roles, org.spec.role_sync)
    result = await apply_role_sync(deps.kube, plan, org_id=org.spec.org_id)
    return synced_condition(result, generation)


async def sync_roles_if_due(deps: Deps, org: AstraOrg, state: OrgState,
                            schedule: RoleSyncSchedule, last: Condition | None, now: float) -> Condition | None:
    """The RolesSynced condition the org should report after this verification:
    None when roleSync is off, OrgNotReady while the org is not Ready, a fresh
    sync's when one is due, else ``last``."""
    sync, generation = org.spec.role_sync, org.metadata.generation
    if not sync.enabled:
        schedule.reset()
        return None
    if not state.ready:
        schedule.reset()
        return failed_condition(RoleSyncReason.ORG_NOT_READY,
                                f"waiting for the org to be Ready ({state.reason}: {state.message})", generation)
    if last is not None and not schedule.due(now, generation):
        return last
    condition = await sync_roles(deps, org, state)
    schedule.done(now, generation, sync.interval_delta.total_seconds(), succeeded=condition.is_true)
    return condition
