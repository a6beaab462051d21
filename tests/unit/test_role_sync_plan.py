"""Role sync decisions, table by table: the names synced roles get, what a sync
creates, updates, prunes and leaves alone, what RolesSynced says, and when the
next sync is due. No cluster and no Astra here (tests/integration/test_role_sync.py
has both)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from astra_token_operator.astra import AstraRole as AstraApiRole
from astra_token_operator.kube import KubeConflict, KubeInvalid
from astra_token_operator.models import Condition, RoleSync
from astra_token_operator.policy.role_sync_plan import (
    RETRY_SECONDS,
    ExistingRole,
    OrgIdentity,
    RoleSkip,
    RoleSyncSchedule,
    SyncPlan,
    SyncResult,
    id_hash,
    plan_role_sync,
    slugify,
    synced_condition,
    synced_role_name,
    with_roles_synced,
)
from astra_token_operator.reconcile.role_sync import apply_role_sync
from astra_token_operator.surface import (
    ANNOTATION_ASTRA_ROLE_NAME,
    CONDITION_READY,
    CONDITION_ROLES_SYNCED,
    LABEL_ASTRA_ROLE_ID,
    LABEL_SYNCED_FROM,
    RoleSyncReason,
)

ORG = OrgIdentity("acme", "org-uid-1")
RW_ID = "11111111-1111-4111-8111-111111111111"
RO_ID = "22222222-2222-4222-8222-222222222222"
DBA_ID = "33333333-3333-4333-8333-333333333333"
OTHER_ID = "44444444-4444-4444-8444-444444444444"
SYNC = RoleSync(enabled=True, interval="1h", ttl="1h", max_ttl="12h")
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def astra(name: str, role_id: str) -> AstraApiRole:
    return AstraApiRole(id=role_id, name=name)


def synced(name: str, role_id: str, astra_name: str, *, org: OrgIdentity = ORG, **changes: Any) -> ExistingRole:
    """An AstraRole as an earlier sync of ``org`` left it."""
    role = ExistingRole(
        name=name, uid=f"uid-{name}", org_ref=org.name, role_name=name, role_id=role_id, ttl="1h", max_ttl="12h",
        labels={LABEL_SYNCED_FROM: org.name, LABEL_ASTRA_ROLE_ID: role_id},
        annotations={ANNOTATION_ASTRA_ROLE_NAME: astra_name},
        owner_references=(org.owner_reference(),),
    )
    return replace(role, **changes)


def hand_made(name: str, *, org_ref: str = "acme", role_name: str | None = None, **changes: Any) -> ExistingRole:
    return replace(ExistingRole(name=name, uid=f"uid-{name}", org_ref=org_ref, role_name=role_name or name,
                                astra_role_name="RO User", ttl="5m", max_ttl="1h"), **changes)


def created_names(plan: SyncPlan) -> list[str]:
    return [c.name for c in plan.creates]


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(("astra_name", "slug"), [
    ("R/W User", "r-w-user"),
    ("API R/W Svc Acct", "api-r-w-svc-acct"),
    ("  Database   Administrator ", "database-administrator"),
    ("ABC_123.x", "abc-123-x"),
    ("Rôle spécial", "r-le-sp-cial"),
    ("///", ""),
])
def test_role_names_become_lower_case_slugs(astra_name: str, slug: str) -> None:
    assert slugify(astra_name) == slug


@pytest.mark.parametrize(("org", "astra_name", "hashed", "expected"), [
    ("acme", "R/W User", False, "acme-r-w-user"),
    ("acme", "R/W User", True, f"acme-r-w-user-{id_hash(RW_ID)}"),
    ("acme", "***", False, f"acme-{id_hash(RW_ID)}"),  # nothing to slug: the id's hash names it
    ("acme", "x" * 80, False, "acme-" + "x" * 58),
    ("acme", "x" * 80, True, "acme-" + "x" * 51 + f"-{id_hash(RW_ID)}"),
    ("acme", "a" * 57 + " b", False, "acme-" + "a" * 57),  # cut at 63, trailing '-' trimmed
    ("o" * 62, "R/W User", False, None),  # the org's name leaves no room
    ("o" * 56, "R/W User", True, None),
    ("o" * 55, "R/W User", True, "o" * 55 + f"-{id_hash(RW_ID)}"),
])
def test_synced_role_names_fit_in_63_characters(org: str, astra_name: str, hashed: bool,
                                                expected: str | None) -> None:
    name = synced_role_name(org, astra_name, RW_ID, hashed=hashed)
    assert name == expected
    assert name is None or len(name) <= 63


def test_the_hash_suffix_is_stable_and_ignores_the_case_of_the_id() -> None:
    assert id_hash(RW_ID) == id_hash(RW_ID.upper())
    assert len(id_hash(RW_ID)) == 6
    assert id_hash(RW_ID) != id_hash(RO_ID)


# ---------------------------------------------------------------- creating


def test_a_first_sync_creates_one_owned_role_per_astra_role() -> None:
    plan = plan_role_sync(ORG, [], [astra("R/W User", RW_ID), astra("RO User", RO_ID)], SYNC)

    assert created_names(plan) == ["acme-r-w-user", "acme-ro-user"]
    assert plan.creates[0].body == {
        "apiVersion": "astra-tokens.io/v1alpha1",
        "kind": "AstraRole",
        "metadata": {
            "name": "acme-r-w-user",
            "labels": {LABEL_SYNCED_FROM: "acme", LABEL_ASTRA_ROLE_ID: RW_ID},
            "annotations": {ANNOTATION_ASTRA_ROLE_NAME: "R/W User"},
            "ownerReferences": [{"apiVersion": "astra-tokens.io/v1alpha1", "kind": "AstraOrg", "name": "acme",
                                 "uid": "org-uid-1", "controller": True, "blockOwnerDeletion": False}],
        },
        "spec": {"orgRef": "acme", "roleId": RW_ID, "ttl": "1h", "maxTtl": "12h"},
    }
    assert plan.updates == plan.deletes == plan.skips == ()
    assert plan.astra_roles == 2


def test_the_plan_does_not_depend_on_the_order_astra_lists_roles_in() -> None:
    roles = [astra("R/W User", RW_ID), astra("R-W user", OTHER_ID), astra("RO User", RO_ID)]
    assert plan_role_sync(ORG, [], roles, SYNC) == plan_role_sync(ORG, [], list(reversed(roles)), SYNC)


def test_astra_roles_whose_slugs_collide_each_get_their_id_hash() -> None:
    plan = plan_role_sync(ORG, [], [astra("R/W User", RW_ID), astra("R-W user", OTHER_ID)], SYNC)

    assert sorted(created_names(plan)) == sorted([f"acme-r-w-user-{id_hash(RW_ID)}",
                                                  f"acme-r-w-user-{id_hash(OTHER_ID)}"])


def test_a_role_made_again_in_astra_gets_a_new_name_beside_the_old_synced_one() -> None:
    # "R/W User" was deleted and created again in Astra: a new id, the old AstraRole still there.
    old = synced("acme-r-w-user", OTHER_ID, "R/W User")
    plan = plan_role_sync(ORG, [old], [astra("R/W User", RW_ID)], SYNC)

    assert created_names(plan) == [f"acme-r-w-user-{id_hash(RW_ID)}"]
    assert plan.stale == ("acme-r-w-user",)


def test_a_hand_made_role_with_the_wanted_name_is_skipped_and_left_alone() -> None:
    mine = hand_made("acme-ro-user")
    plan = plan_role_sync(ORG, [mine], [astra("R/W User", RW_ID), astra("RO User", RO_ID)], SYNC)

    assert created_names(plan) == ["acme-r-w-user"]
    assert plan.updates == plan.deletes == ()
    assert plan.skips == (RoleSkip("RO User", RO_ID, "AstraRole 'acme-ro-user' exists and was not made by role "
                                                     "sync (hand-made roles are left alone)"),)


@pytest.mark.parametrize(("holder", "why"), [
    (hand_made("acme-ro-user", org_ref="other"), "was not made by role sync"),
    (synced("acme-ro-user", RO_ID, "RO User", org=OrgIdentity("other", "u2")),
     "was made by the role sync of AstraOrg 'other'"),
    # the label says acme, the spec another org: not ours to change either
    (replace(synced("acme-ro-user", RO_ID, "RO User"), org_ref="other"), "was made by the role sync of AstraOrg"),
    (hand_made("team-readers", role_name="acme-ro-user"), "roleName 'acme-ro-user' is already used in this org "
                                                          "by AstraRole 'team-readers'"),
])
def test_a_name_held_elsewhere_is_skipped(holder: ExistingRole, why: str) -> None:
    plan = plan_role_sync(ORG, [holder], [astra("RO User", RO_ID)], SYNC)

    assert plan.creates == plan.updates == plan.deletes == ()
    assert len(plan.skips) == 1
    assert why in plan.skips[0].why


def test_a_role_whose_id_is_not_a_uuid_is_skipped() -> None:
    plan = plan_role_sync(ORG, [], [astra("Odd", "not-a-uuid")], SYNC)
    assert plan.creates == ()
    assert plan.skips[0].why == "its id is not a UUID, which an AstraRole's spec.roleId must be"


def test_an_org_name_too_long_for_any_role_name_skips_every_role() -> None:
    long_org = OrgIdentity("o" * 62, "u")
    plan = plan_role_sync(long_org, [], [astra("R/W User", RW_ID)], SYNC)
    assert plan.creates == ()
    assert "too long" in plan.skips[0].why


# ---------------------------------------------------------------- updating


def test_a_sync_at_rest_changes_nothing() -> None:
    existing = [synced("acme-r-w-user", RW_ID, "R/W User"), synced("acme-ro-user", RO_ID, "RO User")]
    plan = plan_role_sync(ORG, existing, [astra("R/W User", RW_ID), astra("RO User", RO_ID)], SYNC)

    assert plan == SyncPlan(astra_roles=2, unchanged=("acme-r-w-user", "acme-ro-user"))


@pytest.mark.parametrize(("sync", "role", "patch"), [
    (RoleSync(enabled=True, ttl="2h", max_ttl="12h"), synced("acme-r-w-user", RW_ID, "R/W User"),
     {"spec": {"ttl": "2h"}}),
    (RoleSync(enabled=True, ttl="2h", max_ttl="48h"), synced("acme-r-w-user", RW_ID, "R/W User"),
     {"spec": {"ttl": "2h", "maxTtl": "48h"}}),
    (SYNC, synced("acme-r-w-user", RW_ID, "R/W User", astra_role_name="R/W User"),
     {"spec": {"astraRoleName": None}}),
    (SYNC, replace(synced("acme-r-w-user", RW_ID, "R/W User"), role_id=RW_ID.upper()), None),  # case-blind ids
    (SYNC, synced("acme-r-w-user", RW_ID, "R/W User", ttl=3600, max_ttl="720m"), None),  # same durations
    (SYNC, synced("acme-r-w-user", RW_ID, "Read Write"),  # renamed in Astra: same AstraRole, new annotation
     {"metadata": {"annotations": {ANNOTATION_ASTRA_ROLE_NAME: "R/W User"}}}),
    (SYNC, synced("acme-r-w-user", RW_ID, "R/W User", labels={LABEL_SYNCED_FROM: "acme"}),  # found by spec.roleId
     {"metadata": {"labels": {LABEL_ASTRA_ROLE_ID: RW_ID}}}),
])
def test_synced_roles_are_patched_only_where_they_differ(sync: RoleSync, role: ExistingRole,
                                                         patch: dict[str, Any] | None) -> None:
    plan = plan_role_sync(ORG, [role], [astra("R/W User", RW_ID)], sync)

    assert plan.creates == plan.deletes == plan.skips == ()
    if patch is None:
        assert plan.updates == ()
        assert plan.unchanged == ("acme-r-w-user",)
    else:
        assert [(u.name, u.patch) for u in plan.updates] == [("acme-r-w-user", patch)]


def test_fields_role_sync_does_not_own_are_kept() -> None:
    role = synced("acme-r-w-user", RW_ID, "R/W User", role_name="rw")  # spec.roleName set by an admin
    plan = plan_role_sync(ORG, [role], [astra("R/W User", RW_ID)], RoleSync(enabled=True, ttl="2h"))
    assert plan.updates[0].patch == {"spec": {"ttl": "2h", "maxTtl": "24h"}}


def test_a_synced_role_that_lost_its_owner_is_adopted_again() -> None:
    stranger = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "cm", "controller": True}
    earlier_org = {"apiVersion": "astra-tokens.io/v1alpha1", "kind": "AstraOrg", "name": "acme", "uid": "old"}
    role = synced("acme-r-w-user", RW_ID, "R/W User", owner_references=(stranger, earlier_org))
    plan = plan_role_sync(ORG, [role], [astra("R/W User", RW_ID)], SYNC)

    assert plan.updates[0].patch == {"metadata": {"ownerReferences": [
        stranger, ORG.owner_reference(controller=False)]}}  # one controller at most


def test_a_synced_role_being_deleted_is_neither_patched_nor_made_again_yet() -> None:
    role = synced("acme-r-w-user", RW_ID, "R/W User", deleting=True, ttl="5m")
    plan = plan_role_sync(ORG, [role], [astra("R/W User", RW_ID)], SYNC)
    assert plan.creates == plan.updates == ()
    assert "being deleted" in plan.skips[0].why


# ---------------------------------------------------------------- pruning


@pytest.mark.parametrize(("prune", "deleted", "kept"), [(True, ["acme-custom"], ()), (False, [], ("acme-custom",))])
def test_synced_roles_gone_from_astra_are_pruned_only_when_asked(prune: bool, deleted: list[str],
                                                                 kept: tuple[str, ...]) -> None:
    existing = [synced("acme-r-w-user", RW_ID, "R/W User"), synced("acme-custom", OTHER_ID, "Custom"),
                hand_made("acme-legacy", role_id=DBA_ID)]  # a hand-made role is never pruned
    plan = plan_role_sync(ORG, existing, [astra("R/W User", RW_ID)], RoleSync(enabled=True, ttl="1h",
                                                                                max_ttl="12h", prune=prune))

    assert [(d.name, d.uid, d.role_id) for d in plan.deletes] == [(n, f"uid-{n}", OTHER_ID) for n in deleted]
    assert plan.stale == kept
    assert plan.unchanged == ("acme-r-w-user",)


def test_another_orgs_synced_roles_are_never_pruned() -> None:
    theirs = synced("other-custom", OTHER_ID, "Custom", org=OrgIdentity("other", "u2"))
    plan = plan_role_sync(ORG, [theirs], [], RoleSync(enabled=True, prune=True))
    assert plan.deletes == ()
    assert plan.stale == ()


# ---------------------------------------------------------------- applying


class RecordingWriter:
    """Stands in for kube.Kube: records each write, fails the names it is told to."""

    def __init__(self, failing: dict[str, Exception] | None = None, gone: frozenset[str] = frozenset()) -> None:
        self.calls: list[tuple[str, str]] = []
        self.failing = failing or {}
        self.gone = gone

    def _record(self, verb: str, name: str) -> None:
        self.calls.append((verb, name))
        if name in self.failing:
            raise self.failing[name]

    async def create_object(self, plural: str, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        self._record("create", body["metadata"]["name"])
        return body

    async def patch_object(self, plural: str, name: str, patch: dict[str, Any],
                           namespace: str | None = None) -> dict[str, Any]:
        self._record("patch", name)
        return patch

    async def delete_object(self, plural: str, name: str, namespace: str | None = None, *,
                            uid: str | None = None) -> bool:
        self._record(f"delete uid={uid}", name)
        return name not in self.gone


async def test_applying_a_plan_creates_patches_and_prunes_and_counts_each() -> None:
    existing = [synced("acme-ro-user", RO_ID, "RO User", ttl="5m"), synced("acme-custom", OTHER_ID, "Custom"),
                synced("acme-dba", DBA_ID, "DBA")]
    plan = plan_role_sync(ORG, existing, [astra("R/W User", RW_ID), astra("RO User", RO_ID),
                                          astra("DBA", DBA_ID)], RoleSync(enabled=True, ttl="1h", max_ttl="12h",
                                                                          prune=True))
    writer = RecordingWriter()

    result = await apply_role_sync(writer, plan, org_id="org-1")

    assert writer.calls == [("create", "acme-r-w-user"), ("patch", "acme-ro-user"),
                            ("delete uid=uid-acme-custom", "acme-custom")]
    assert result == SyncResult(astra_roles=3, created=("acme-r-w-user",), updated=("acme-ro-user",),
                                unchanged=("acme-dba",), pruned=("acme-custom",))


async def test_a_failed_write_is_reported_and_the_others_still_happen() -> None:
    refused = KubeInvalid("create astraroles acme-r-w-user: HTTP 400: denied", operation="create",
                          kind="astraroles", name="acme-r-w-user")
    replaced = KubeConflict("delete astraroles acme-custom: HTTP 409 Conflict", operation="delete",
                            kind="astraroles", name="acme-custom")
    existing = [synced("acme-custom", OTHER_ID, "Custom"), synced("acme-gone", DBA_ID, "Gone")]
    plan = plan_role_sync(ORG, existing, [astra("R/W User", RW_ID), astra("RO User", RO_ID)],
                          RoleSync(enabled=True, prune=True))
    writer = RecordingWriter({"acme-r-w-user": refused, "acme-custom": replaced}, gone=frozenset({"acme-gone"}))

    result = await apply_role_sync(writer, plan, org_id="org-1")

    assert result.created == ("acme-ro-user",)
    assert result.pruned == ()  # one refused, one already gone
    assert result.failures == ("create acme-r-w-user: create astraroles acme-r-w-user: HTTP 400: denied",
                               "prune acme-custom: delete astraroles acme-custom: HTTP 409 Conflict")
    condition = synced_condition(result, 4)
    assert (condition.status, condition.reason) == ("False", RoleSyncReason.KUBERNETES_ERROR)
    assert "failed: create acme-r-w-user" in condition.message


# ---------------------------------------------------------------- the condition


def test_rolessynced_counts_everything_and_names_what_was_skipped_or_kept() -> None:
    result = SyncResult(astra_roles=4, created=("acme-a",), updated=("acme-b",), unchanged=("acme-c",),
                        stale=("acme-old",), skips=(RoleSkip("RO User", RO_ID, "AstraRole 'acme-ro-user' exists"),))

    condition = synced_condition(result, 7)

    assert condition.type == CONDITION_ROLES_SYNCED
    assert (condition.status, condition.reason, condition.observed_generation) == ("True", "Synced", 7)
    assert condition.message == (
        "created 1, updated 1, unchanged 1, pruned 0, skipped 1 of 4 Astra roles; "
        "skipped 'RO User' (AstraRole 'acme-ro-user' exists); "
        "kept, though their Astra role is gone (prune is off): acme-old")


def test_a_long_list_in_the_message_is_cut_short() -> None:
    stale = tuple(f"acme-r{i:02}" for i in range(25))
    message = synced_condition(SyncResult(astra_roles=0, stale=stale), 1).message
    assert message.endswith("acme-r19 and 5 more")


def test_rolessynced_leaves_ready_alone_and_goes_when_sync_is_off() -> None:
    ready = Condition(type=CONDITION_READY, status="True", reason="Verified", last_transition_time=NOW)
    synced_now = synced_condition(SyncResult(astra_roles=0), 1)

    with_sync = with_roles_synced([ready], synced_now, NOW + timedelta(minutes=1))
    assert [c.type for c in with_sync] == [CONDITION_READY, CONDITION_ROLES_SYNCED]
    assert with_sync[0] == ready
    assert with_roles_synced(with_sync, None, NOW) == [ready]
    # unchanged status keeps its transition time: a sync at rest writes nothing
    again = with_roles_synced(with_sync, synced_now, NOW + timedelta(hours=1))
    assert again == with_sync


# ---------------------------------------------------------------- when


@pytest.mark.parametrize(("now", "generation", "due"), [
    (100.0, 3, False),  # synced at 50, interval 3600: not yet
    (3650.0, 3, True),  # the interval passed
    (100.0, 4, True),  # the spec changed
])
def test_a_sync_is_due_at_the_interval_or_after_a_spec_edit(now: float, generation: int, due: bool) -> None:
    schedule = RoleSyncSchedule()
    assert schedule.due(0.0, 3)  # never synced
    assert schedule.wake_at() is None
    schedule.done(50.0, 3, 3600.0, succeeded=True)
    assert schedule.wake_at() == 3650.0
    assert schedule.due(now, generation) is due


def test_a_failed_sync_is_tried_again_sooner_and_a_reset_makes_it_due() -> None:
    schedule = RoleSyncSchedule()
    schedule.done(0.0, 1, 3600.0, succeeded=False)
    assert schedule.wake_at() == RETRY_SECONDS
    schedule.done(0.0, 1, 30.0, succeeded=False)
    assert schedule.wake_at() == 30.0
    schedule.reset()
    assert schedule.due(1.0, 1)
    assert schedule.wake_at() is None
