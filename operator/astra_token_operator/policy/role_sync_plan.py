"""Role sync (AstraOrg spec.roleSync), decided purely: the AstraRoles in the
cluster, the org's Astra roles and spec.roleSync in, a SyncPlan out; and the
RolesSynced condition a result makes. One AstraRole per Astra role of the org,
the plugin's update_roles.sh done right: roles are tied to Astra role ids, not
names; names cannot collide; hand-made AstraRoles are never touched; stale
synced roles are deleted only when asked (prune). reconcile/role_sync.py
carries a plan out and schedules the syncs."""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from astra_token_operator.durations import parse_duration
from astra_token_operator.models import AstraRoleSpec, Condition, RoleSync, effective_role_name, set_condition
from astra_token_operator.surface import (
    ANNOTATION_ASTRA_ROLE_NAME,
    API_VERSION,
    CONDITION_ROLES_SYNCED,
    LABEL_ASTRA_ROLE_ID,
    LABEL_SYNCED_FROM,
    RoleSyncReason,
)

MAX_NAME_LENGTH = 63  # an AstraRole's name is its roleName, which is used as a label value
HASH_LENGTH = 6
RETRY_SECONDS = 60.0  # after a failed sync, try again this soon (or at the interval, if shorter)
LISTED_NAMES = 20  # names a condition message lists before "and N more"

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
# AstraRole.spec.roleId accepts only this (crds/astraroles.yaml); it is also a valid label value.
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class AstraApiRole(Protocol):
    """An Astra role as the DevOps API lists it: what the plan reads of astra.AstraRole."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...




# ---------------------------------------------------------------- names


def slugify(astra_role_name: str) -> str:
    """Lower case, each run of anything but a-z and 0-9 made one '-', trimmed: "R/W User" -> "r-w-user"."""
    return _NOT_ALNUM.sub("-", astra_role_name.lower()).strip("-")


def id_hash(role_id: str) -> str:
    """A short digest of the role id: the same id always gives the same suffix."""
    return hashlib.sha256(role_id.lower().encode()).hexdigest()[:HASH_LENGTH]


def synced_role_name(org_name: str, astra_role_name: str, role_id: str, *, hashed: bool) -> str | None:
    """``<org>-<slug>``, or ``<org>-<slug>-<id hash>`` when ``hashed`` or when the
    name has no letter or digit at all; the slug is cut to keep the whole within
    63 characters. None when the org's name leaves no room."""
    slug = slugify(astra_role_name)
    tail = f"-{id_hash(role_id)}" if hashed or not slug else ""
    room = MAX_NAME_LENGTH - len(org_name) - 1 - len(tail)
    if room < 0:
        return None
    stem = slug[:room].rstrip("-")
    if not stem and not tail:
        return None
    return f"{org_name}-{stem}{tail}" if stem else f"{org_name}{tail}"


# ---------------------------------------------------------------- what the planner reads


@dataclass(frozen=True)
class OrgIdentity:
    """The AstraOrg whose roles are synced: what an ownerReference to it needs."""

    name: str
    uid: str

    def owner_reference(self, *, controller: bool = True) -> dict[str, Any]:
        # blockOwnerDeletion off: deleting an org need not wait for its roles to go (and
        # setting it would need update rights on astraorgs/finalizers).
        return {"apiVersion": API_VERSION, "kind": "AstraOrg", "name": self.name, "uid": self.uid,
                "controller": controller, "blockOwnerDeletion": False}


@dataclass(frozen=True)
class ExistingRole:
    """An AstraRole found in the cluster, synced or not."""

    name: str
    uid: str = ""
    org_ref: str = ""
    role_name: str = ""  # effective: spec.roleName or the name, lower-cased
    role_id: str | None = None
    astra_role_name: str | None = None
    ttl: int | str = "24h"
    max_ttl: int | str = "24h"
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    owner_references: tuple[Mapping[str, Any], ...] = ()  # as the API holds them: sent back unchanged
    deleting: bool = False

    def synced_from(self) -> str | None:
        return self.labels.get(LABEL_SYNCED_FROM)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> ExistingRole:
        metadata = body.get("metadata") or {}
        name = str(metadata.get("name", ""))
        found = cls(
            name=name,
            uid=str(metadata.get("uid") or ""),
            role_name=name.lower(),
            labels=dict(metadata.get("labels") or {}),
            annotations=dict(metadata.get("annotations") or {}),
            owner_references=tuple(dict(o) for o in metadata.get("ownerReferences") or ()),
            deleting=bool(metadata.get("deletionTimestamp")),
        )
        try:
            spec = AstraRoleSpec.model_validate(body.get("spec") or {})
        except ValidationError:
            return found  # an unreadable spec still holds its name, and is never ours to change
        return replace(found, org_ref=spec.org_ref, role_name=effective_role_name(spec, name), role_id=spec.role_id,
                       astra_role_name=spec.astra_role_name, ttl=spec.ttl, max_ttl=spec.max_ttl)


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True)
class RoleCreate:
    name: str
    role_id: str
    astra_role_name: str
    body: dict[str, Any]


@dataclass(frozen=True)
class RoleUpdate:
    name: str
    role_id: str
    changes: tuple[str, ...]  # what differs, for logs: "ttl", "maxTtl", "labels", ...
    patch: dict[str, Any]  # a JSON merge patch of metadata and spec


@dataclass(frozen=True)
class RoleDelete:
    name: str
    uid: str
    role_id: str


@dataclass(frozen=True)
class RoleSkip:
    astra_role_name: str
    role_id: str
    why: str


@dataclass(frozen=True)
class SyncPlan:
    astra_roles: int
    creates: tuple[RoleCreate, ...] = ()
    updates: tuple[RoleUpdate, ...] = ()
    unchanged: tuple[str, ...] = ()
    deletes: tuple[RoleDelete, ...] = ()
    stale: tuple[str, ...] = ()  # synced roles whose Astra role is gone, kept because prune is off
    skips: tuple[RoleSkip, ...] = ()


def plan_role_sync(
    org: OrgIdentity, existing: Sequence[ExistingRole], astra_roles: Sequence[AstraApiRole], sync: RoleSync
) -> SyncPlan:
    """What to create, update and delete so that each of the org's Astra roles has
    one synced AstraRole, given every AstraRole in the cluster (names are
    cluster-wide, so a role of another org can hold a name this org wants)."""
    by_name = {role.name: role for role in existing}
    ours = _synced_by_id(org, existing)
    listed, skips = _usable(astra_roles)
    creates: list[RoleCreate] = []
    updates: list[RoleUpdate] = []
    unchanged: list[str] = []
    plain = {key: synced_role_name(org.name, r.name, r.id, hashed=False) for key, r in listed.items()}
    shared = Counter(name for name in plain.values() if name is not None)
    planned: set[str] = set()
    for key, astra_role in listed.items():
        for role in ours.get(key, ()):
            changes, patch = _differences(role, astra_role, org, sync)
            if role.deleting:
                skips.append(RoleSkip(astra_role.name, astra_role.id,
                                      f"AstraRole {role.name!r} is being deleted; the next sync makes it again"))
            elif changes:
                updates.append(RoleUpdate(role.name, astra_role.id, changes, patch))
            else:
                unchanged.append(role.name)
        if key in ours:
            continue
        name, why = _new_name(org, astra_role, plain[key], shared, by_name, planned, existing)
        if name is None:
            skips.append(RoleSkip(astra_role.name, astra_role.id, why))
            continue
        planned.add(name)
        creates.append(RoleCreate(name, astra_role.id, astra_role.name, _create_body(name, astra_role, org, sync)))
    gone = [role for key, roles in sorted(ours.items()) if key not in listed for role in roles if not role.deleting]
    deletes = tuple(RoleDelete(r.name, r.uid, r.labels.get(LABEL_ASTRA_ROLE_ID) or r.role_id or "")
                    for r in gone) if sync.prune else ()
    stale = () if sync.prune else tuple(sorted(r.name for r in gone))
    return SyncPlan(astra_roles=len(astra_roles), creates=tuple(creates), updates=tuple(updates),
                    unchanged=tuple(sorted(unchanged)), deletes=deletes, stale=stale, skips=tuple(skips))


def _synced_by_id(org: OrgIdentity, existing: Sequence[ExistingRole]) -> dict[str, list[ExistingRole]]:
    """This org's synced roles by Astra role id (lower case). Matched by id, an
    Astra role renamed keeps its AstraRole, and the tokens using it."""
    ours: dict[str, list[ExistingRole]] = defaultdict(list)
    for role in existing:
        if role.synced_from() == org.name and role.org_ref == org.name:
            ours[(role.labels.get(LABEL_ASTRA_ROLE_ID) or role.role_id or "").lower()].append(role)
    return ours


def _usable(astra_roles: Sequence[AstraApiRole]) -> tuple[dict[str, AstraApiRole], list[RoleSkip]]:
    """The Astra roles an AstraRole can name, by id (lower case), in a fixed order; and the others."""
    listed: dict[str, AstraApiRole] = {}
    skips: list[RoleSkip] = []
    for astra_role in sorted(astra_roles, key=lambda r: (r.name.lower(), r.id)):
        if _UUID.match(astra_role.id):
            listed.setdefault(astra_role.id.lower(), astra_role)
        else:
            skips.append(RoleSkip(astra_role.name, astra_role.id,
                                  "its id is not a UUID, which an AstraRole's spec.roleId must be"))
    return listed, skips


def _new_name(
    org: OrgIdentity, astra_role: AstraApiRole, plain: str | None, shared: Counter[str],
    by_name: Mapping[str, ExistingRole], planned: set[str], existing: Sequence[ExistingRole],
) -> tuple[str | None, str]:
    """The name for a new synced role, or None and why it cannot have one."""
    if plain is None:
        return None, f"AstraOrg name {org.name!r} is too long to prefix a role name within 63 characters"
    held = by_name.get(plain)
    name: str | None = plain
    # Two Astra roles with one slug, or the slug taken by the synced role of another Astra role id
    # (say a role deleted and made again in Astra): the id's hash tells them apart.
    if shared[plain] > 1 or (held is not None and held.synced_from() == org.name and held.org_ref == org.name):
        name = synced_role_name(org.name, astra_role.name, astra_role.id, hashed=True)
        if name is None:
            return None, f"AstraOrg name {org.name!r} is too long to prefix a role name within 63 characters"
        held = by_name.get(name)
    if held is not None:
        return None, _held_by(held, org)
    if name in planned:
        return None, f"another Astra role of this org is synced as {name!r}"
    clash = next((r for r in existing if r.org_ref == org.name and r.role_name == name), None)
    if clash is not None:
        return None, f"roleName {name!r} is already used in this org by AstraRole {clash.name!r}"
    return name, ""


def _held_by(role: ExistingRole, org: OrgIdentity) -> str:
    source = role.synced_from()
    if source == org.name and role.org_ref == org.name:
        return f"AstraRole {role.name!r} already stands for another Astra role of this org"
    if source:
        return f"AstraRole {role.name!r} was made by the role sync of AstraOrg {source!r}"
    return f"AstraRole {role.name!r} exists and was not made by role sync (hand-made roles are left alone)"


def _create_body(name: str, astra_role: AstraApiRole, org: OrgIdentity, sync: RoleSync) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "AstraRole",
        "metadata": {
            "name": name,
            "labels": {LABEL_SYNCED_FROM: org.name, LABEL_ASTRA_ROLE_ID: astra_role.id},
            "annotations": {ANNOTATION_ASTRA_ROLE_NAME: astra_role.name},
            "ownerReferences": [org.owner_reference()],
        },
        # roleId, never the name: ids are stable, names can be edited in Astra.
        "spec": {"orgRef": org.name, "roleId": astra_role.id, "ttl": sync.ttl, "maxTtl": sync.max_ttl},
    }


def _differences(
    role: ExistingRole, astra_role: AstraApiRole, org: OrgIdentity, sync: RoleSync
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """What of a synced role differs from what sync wants, as a merge patch. Fields
    sync does not own (roleName, allowedNamespaces) are left as the admin set them."""
    spec: dict[str, Any] = {}
    if (role.role_id or "").lower() != astra_role.id.lower():
        spec["roleId"] = astra_role.id
    if role.astra_role_name is not None:
        spec["astraRoleName"] = None  # the schema wants roleId or astraRoleName, not both
    if not _same_duration(role.ttl, sync.ttl):
        spec["ttl"] = sync.ttl
    if not _same_duration(role.max_ttl, sync.max_ttl):
        spec["maxTtl"] = sync.max_ttl
    metadata: dict[str, Any] = {}
    if role.labels.get(LABEL_ASTRA_ROLE_ID) != astra_role.id:
        metadata["labels"] = {LABEL_ASTRA_ROLE_ID: astra_role.id}
    if role.annotations.get(ANNOTATION_ASTRA_ROLE_NAME) != astra_role.name:
        metadata["annotations"] = {ANNOTATION_ASTRA_ROLE_NAME: astra_role.name}
    if org.uid and not any(o.get("uid") == org.uid for o in role.owner_references):
        # An ownerReference lost, or left pointing at an earlier org of the same name.
        others = [o for o in role.owner_references if not (o.get("kind") == "AstraOrg" and o.get("name") == org.name)]
        controlled = any(o.get("controller") for o in others)
        metadata["ownerReferences"] = [*others, org.owner_reference(controller=not controlled)]
    changes = (*spec, *metadata)
    patch = {part: value for part, value in (("metadata", metadata), ("spec", spec)) if value}
    return tuple(changes), patch


def _same_duration(have: int | str, want: int | str) -> bool:
    """Equal as durations ("1h" and 3600 are the same): no write for a change of spelling."""
    try:
        return parse_duration(have) == parse_duration(want)
    except ValueError:
        return False



@dataclass(frozen=True)
class SyncResult:
    astra_roles: int
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    pruned: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()
    skips: tuple[RoleSkip, ...] = ()
    failures: tuple[str, ...] = ()



# ---------------------------------------------------------------- the condition


def synced_condition(result: SyncResult, generation: int | None) -> Condition:
    """RolesSynced from a sync's result. The message holds counts and names only,
    so a sync that changed nothing says the same as the one before (no write)."""
    parts = [f"created {len(result.created)}, updated {len(result.updated)}, unchanged {len(result.unchanged)}, "
             f"pruned {len(result.pruned)}, skipped {len(result.skips)} of {result.astra_roles} Astra roles"]
    if result.skips:
        parts.append("skipped " + _listed(f"{s.astra_role_name!r} ({s.why})" for s in result.skips))
    if result.stale:
        parts.append("kept, though their Astra role is gone (prune is off): " + _listed(result.stale))
    if result.failures:
        parts.append("failed: " + _listed(result.failures))
    ok = not result.failures
    return Condition(type=CONDITION_ROLES_SYNCED, status="True" if ok else "False",
                     reason=RoleSyncReason.SYNCED if ok else RoleSyncReason.KUBERNETES_ERROR,
                     message="; ".join(parts), observed_generation=generation)


def failed_condition(reason: RoleSyncReason, message: str, generation: int | None) -> Condition:
    return Condition(type=CONDITION_ROLES_SYNCED, status="False", reason=reason, message=message,
                     observed_generation=generation)


def with_roles_synced(conditions: Sequence[Condition], roles_synced: Condition | None,
                      now: datetime) -> list[Condition]:
    """The conditions with RolesSynced set to ``roles_synced``, or without it when None (sync is off)."""
    if roles_synced is None:
        return [c for c in conditions if c.type != CONDITION_ROLES_SYNCED]
    return set_condition(conditions, roles_synced, now)


def _listed(items: Iterable[str]) -> str:
    names = list(items)
    shown = ", ".join(names[:LISTED_NAMES])
    return shown if len(names) <= LISTED_NAMES else f"{shown} and {len(names) - LISTED_NAMES} more"


# ---------------------------------------------------------------- when


@dataclass
class RoleSyncSchedule:
    """When the org daemon syncs next: at once on a new generation (a spec edit),
    otherwise every roleSync.interval, sooner after a failure. Times are
    time.monotonic() seconds, passed in."""

    next_at: float = 0.0
    generation: int | None = None
    active: bool = False

    def due(self, now: float, generation: int | None) -> bool:
        return not self.active or generation != self.generation or now >= self.next_at

    def done(self, now: float, generation: int | None, interval_seconds: float, *, succeeded: bool) -> None:
        self.active, self.generation = True, generation
        self.next_at = now + (interval_seconds if succeeded else min(interval_seconds, RETRY_SECONDS))

    def reset(self) -> None:
        """Sync is off, or waits for the org: the next chance syncs at once."""
        self.active, self.generation, self.next_at = False, None, 0.0

    def wake_at(self) -> float | None:
        """When the daemon must be awake for the next sync; None when none is scheduled."""
        return self.next_at if self.active else None
