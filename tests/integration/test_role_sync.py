"""Role sync (AstraOrg spec.roleSync) against the real apiserver, the operator
process and its admission webhook, and the fake Astra: every Astra role of the
org becomes an AstraRole that tokens can use, hand-made roles are left alone,
roleSync edits reach the synced roles, stale roles are pruned only when asked,
and deleting the org garbage-collects what it synced."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s

from astra_token_operator.fake_astra import BUILTIN_ROLE_IDS, FakeAstraThread
from astra_token_operator.kube import Kube, KubeConflict
from integration.conftest import (
    GROUP,
    VERSION,
    Cluster,
    org_manifest,
    role_manifest,
    root_token_secret,
    token_manifest,
    wait_for,
)
from testplatform.operator import OperatorProcess

SYNCED_FROM = "astra-tokens.io/synced-from"
ROLE_ID = "astra-tokens.io/astra-role-id"
ROLE_NAME = "astra-tokens.io/astra-role-name"

# The fake's built-in roles and the name each synced AstraRole gets after "<org>-".
BUILTIN_SLUGS = {
    "Organization Administrator": "organization-administrator",
    "Database Administrator": "database-administrator",
    "Billing Admin": "billing-admin",
    "UI View Only": "ui-view-only",
    "Admin User": "admin-user",
    "API Admin User": "api-admin-user",
    "Admin Svc Acct": "admin-svc-acct",
    "API Admin Svc Acct": "api-admin-svc-acct",
    "RO User": "ro-user",
    "API RO User": "api-ro-user",
    "RO Svc Acct": "ro-svc-acct",
    "API RO Svc Acct": "api-ro-svc-acct",
    "R/W User": "r-w-user",
    "API R/W User": "api-r-w-user",
    "R/W Svc Acct": "r-w-svc-acct",
    "API R/W Svc Acct": "api-r-w-svc-acct",
}


@dataclass(frozen=True)
class SyncedOrg:
    name: str
    org_id: str
    admin_token: str


class Orgs:
    """Makes orgs (each with a fresh org id in the fake) and deletes them afterwards."""

    def __init__(self, cluster: Cluster, fake: FakeAstraThread) -> None:
        self.cluster, self.fake = cluster, fake
        self.made: list[str] = []

    def make(self, prefix: str, role_sync: dict[str, Any], before: tuple[str, ...] = ()) -> SyncedOrg:
        """An org with ``role_sync``, Ready; ``before``: manifests applied before it
        exists, with $ORG standing for its name."""
        org_id = str(uuid.uuid4())
        org = SyncedOrg(f"{prefix}-{uuid.uuid4().hex[:5]}", org_id, self.fake.add_org(org_id))
        self.made.append(org.name)
        for manifest in before:
            self.cluster.must_apply(manifest.replace("$ORG", org.name))
        self.cluster.must_apply(root_token_secret(f"{org.name}-root", org.admin_token))
        self.cluster.must_apply(org_manifest(org.name, org.org_id, self.fake.url, f"{org.name}-root",
                                             roleSync=role_sync))
        self.cluster.wait_ready("astraorgs", org.name)
        return org

    def delete_all(self) -> None:
        for name in self.made:
            self.cluster.delete("astraorgs", name)
            self.cluster.kubectl("delete", "secret", f"{name}-root", "-n", "astra-token-operator",
                                 "--ignore-not-found")


@pytest.fixture
def orgs(cluster: Cluster, fake_astra: FakeAstraThread, operator: OperatorProcess) -> Iterator[Orgs]:
    made = Orgs(cluster, fake_astra)
    yield made
    made.delete_all()


def synced_roles(cluster: Cluster, org: str) -> dict[str, dict[str, Any]]:
    listed = cluster.objects.list_cluster_custom_object(GROUP, VERSION, "astraroles",
                                                        label_selector=f"{SYNCED_FROM}={org}")
    return {item["metadata"]["name"]: item for item in listed["items"]}


def roles_synced(cluster: Cluster, org: str) -> dict[str, Any]:
    found = cluster.get("astraorgs", org) or {}
    return next((c for c in found.get("status", {}).get("conditions", []) if c["type"] == "RolesSynced"), {})


def wait_roles_synced(cluster: Cluster, org: str, text: str, timeout: float = 30) -> dict[str, Any]:
    """Until RolesSynced is True and its message holds ``text``."""
    wait_for(lambda: roles_synced(cluster, org).get("status") == "True" and text in roles_synced(cluster, org)
             .get("message", ""), timeout, what=f"RolesSynced with {text!r} (last: {roles_synced(cluster, org)})")
    return roles_synced(cluster, org)


def edit_role_sync(cluster: Cluster, org: str, **changes: Any) -> None:
    """A spec edit: it also wakes the org's daemon, so a sync runs at once."""
    patched = cluster.kubectl("patch", "astraorg", org, "--type=merge", "-p",
                              json.dumps({"spec": {"roleSync": changes}}))
    assert patched.returncode == 0, patched.stderr


def astra_api(fake: FakeAstraThread, org: SyncedOrg, method: str, path: str, **kwargs: Any) -> httpx.Response:
    response = httpx.request(method, f"{fake.url}{path}", headers={"Authorization": f"Bearer {org.admin_token}"},
                             timeout=10, **kwargs)
    response.raise_for_status()
    return response


def create_astra_role(fake: FakeAstraThread, org: SyncedOrg, name: str) -> str:
    policy = {"description": name, "actions": ["db-table-select"], "effect": "allow",
              "resources": [f"drn:astra:org:{org.org_id}"]}
    created = astra_api(fake, org, "POST", "/v2/organizations/roles", json={"name": name, "policy": policy})
    role_id: str = created.json()["ID"]
    return role_id


def test_each_astra_role_becomes_a_ready_astra_role_that_follows_role_sync_and_serves_tokens(
    cluster: Cluster, orgs: Orgs, fake_astra: FakeAstraThread, namespace: str,
) -> None:
    org = orgs.make("rs", {"enabled": True, "interval": "1m", "ttl": "1h", "maxTtl": "12h"}, before=(
        # made by hand, under the very name the sync would give "RO User"
        role_manifest("$ORG-ro-user", "$ORG", astraRoleName="RO User", ttl="5m", maxTtl="1h"),
    ))
    hand_made = f"{org.name}-ro-user"
    expected = {f"{org.name}-{slug}" for name, slug in BUILTIN_SLUGS.items() if name != "RO User"}

    condition = wait_roles_synced(cluster, org.name, "skipped 1 of 16 Astra roles")
    assert condition["reason"] == "Synced"
    assert condition["message"].startswith("created 15, updated 0, unchanged 0, pruned 0, skipped 1")
    assert f"AstraRole '{hand_made}' exists and was not made by role sync" in condition["message"]
    roles = synced_roles(cluster, org.name)
    assert set(roles) == expected

    owner = cluster.get("astraorgs", org.name) or {}
    rw = roles[f"{org.name}-r-w-user"]
    assert rw["spec"] == {"orgRef": org.name, "roleId": BUILTIN_ROLE_IDS["R/W User"], "ttl": "1h", "maxTtl": "12h"}
    assert rw["metadata"]["labels"] == {SYNCED_FROM: org.name, ROLE_ID: BUILTIN_ROLE_IDS["R/W User"]}
    assert rw["metadata"]["annotations"][ROLE_NAME] == "R/W User"
    assert [(o["kind"], o["name"], o["uid"]) for o in rw["metadata"]["ownerReferences"]] == [
        ("AstraOrg", org.name, owner["metadata"]["uid"])]
    for name in expected:
        ready = cluster.wait_ready("astraroles", name)
        assert ready["status"]["roleId"] == roles[name]["spec"]["roleId"]

    mine = cluster.get("astraroles", hand_made) or {}
    assert SYNCED_FROM not in (mine["metadata"].get("labels") or {})
    assert mine["spec"]["ttl"] == "5m"
    assert mine["metadata"]["generation"] == 1  # never written to by the sync

    cluster.must_apply(token_manifest("loader", namespace, org.name, f"{org.name}-r-w-user"))
    try:
        token = cluster.wait_ready("astratokens", "loader", namespace)
        assert token["status"]["roleName"] == f"{org.name}-r-w-user"
        assert token["status"]["leaseDuration"] == 3600
        assert fake_astra.verify(cluster.secret_data("loader", namespace)["token"]).valid

        edit_role_sync(cluster, org.name, ttl="2h")
        wait_for(lambda: all(r["spec"]["ttl"] == "2h" for r in synced_roles(cluster, org.name).values()),
                 what="every synced role's ttl at 2h")
        condition = wait_roles_synced(cluster, org.name, "updated 15")
        assert condition["message"].startswith("created 0, updated 15, unchanged 0, pruned 0, skipped 1")
        assert {r["spec"]["maxTtl"] for r in synced_roles(cluster, org.name).values()} == {"12h"}
        assert (cluster.get("astraroles", hand_made) or {})["spec"]["ttl"] == "5m"
    finally:
        cluster.delete("astratokens", "loader", namespace)
        cluster.wait_gone("astratokens", "loader", namespace)
    cluster.delete("astraroles", hand_made)


def test_a_role_gone_from_astra_is_kept_without_prune_and_deleted_with_it(
    cluster: Cluster, orgs: Orgs, fake_astra: FakeAstraThread,
) -> None:
    org = orgs.make("rp", {"enabled": True, "interval": "1m", "prune": False})
    wait_roles_synced(cluster, org.name, "created 16")
    loader_id = create_astra_role(fake_astra, org, "Team Loader (nightly)")
    loader = f"{org.name}-team-loader-nightly"

    edit_role_sync(cluster, org.name, interval="2m")
    wait_roles_synced(cluster, org.name, "created 1, updated 0, unchanged 16")
    assert synced_roles(cluster, org.name)[loader]["spec"]["roleId"] == loader_id
    cluster.wait_ready("astraroles", loader)

    astra_api(fake_astra, org, "DELETE", f"/v2/organizations/roles/{loader_id}")
    edit_role_sync(cluster, org.name, interval="3m")
    condition = wait_roles_synced(cluster, org.name, "kept, though their Astra role is gone")
    assert condition["message"].endswith(f"(prune is off): {loader}")
    assert loader in synced_roles(cluster, org.name)

    edit_role_sync(cluster, org.name, prune=True)
    condition = wait_roles_synced(cluster, org.name, "pruned 1")
    assert condition["message"] == "created 0, updated 0, unchanged 16, pruned 1, skipped 0 of 16 Astra roles"
    cluster.wait_gone("astraroles", loader)
    assert len(synced_roles(cluster, org.name)) == 16


def test_deleting_the_org_garbage_collects_its_synced_roles_only(cluster: Cluster, orgs: Orgs) -> None:
    org = orgs.make("rg", {"enabled": True}, before=(role_manifest("$ORG-readers", "$ORG", astraRoleName="RO User"),))
    wait_roles_synced(cluster, org.name, "created 16")
    try:
        cluster.delete("astraorgs", org.name)
        wait_for(lambda: not synced_roles(cluster, org.name), what="synced roles garbage-collected")
        assert cluster.get("astraroles", f"{org.name}-readers") is not None  # hand-made: stays
    finally:
        cluster.delete("astraroles", f"{org.name}-readers")


def test_turning_role_sync_off_removes_the_condition_and_keeps_the_roles(cluster: Cluster, orgs: Orgs) -> None:
    org = orgs.make("ro", {"enabled": True})
    wait_roles_synced(cluster, org.name, "created 16")

    edit_role_sync(cluster, org.name, enabled=False)
    wait_for(lambda: not roles_synced(cluster, org.name), what="RolesSynced removed")
    assert cluster.condition("astraorgs", org.name)["status"] == "True"
    assert len(synced_roles(cluster, org.name)) == 16


# --- the kube calls role sync makes, on AstraRoles ---------------------------------------------


@pytest.fixture
async def kube(k8s_api: k8s.ApiClient) -> AsyncIterator[Kube]:
    client = Kube(k8s_api, workers=2)
    yield client
    await client.aclose()


async def test_kube_lists_creates_patches_and_deletes_custom_objects(
    kube: Kube, cluster: Cluster, operator: OperatorProcess,
) -> None:
    tag = uuid.uuid4().hex[:6]
    name = f"kube-{tag}"
    body = json.loads(role_manifest(name, "no-such-org", roleId=BUILTIN_ROLE_IDS["R/W User"], ttl="1h"))
    body["metadata"]["labels"] = {"kube-test": tag}
    try:
        created = await kube.create_object("astraroles", body)
        assert created["metadata"]["uid"]
        listed = await kube.list_objects("astraroles", f"kube-test={tag}")
        assert [o["metadata"]["name"] for o in listed] == [name]
        assert await kube.list_objects("astraroles", f"kube-test={tag}-none") == []

        patched = await kube.patch_object("astraroles", name, {"spec": {"ttl": "2h"},
                                                               "metadata": {"labels": {"kube-test": None}}})
        assert patched["spec"]["ttl"] == "2h"
        assert "kube-test" not in (patched["metadata"].get("labels") or {})

        with pytest.raises(KubeConflict):  # the uid precondition: another object of that name stays
            await kube.delete_object("astraroles", name, uid=str(uuid.uuid4()))
        assert await kube.delete_object("astraroles", name, uid=created["metadata"]["uid"]) is True
        cluster.wait_gone("astraroles", name)  # the operator's finalizer comes off first
        assert await kube.delete_object("astraroles", name) is False
    finally:
        cluster.delete("astraroles", name)
