"""The standard caller mode end to end: an AstraToken becomes an Astra token,
a ledger record and slot in Vault, and a Secret; deletion revokes it."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import hvac

from astra_token_operator.fake_astra import FakeAstraThread
from integration.conftest import Cluster, OrgHandle, token_manifest, wait_for

LEDGER = "astra-tokens"


def slot_path(org_id: str, role: str, logical_name: str) -> str:
    digest = hashlib.sha256(f"{org_id}:{role}:{logical_name}".encode()).hexdigest()
    return f"{LEDGER}/orgs/{org_id}/slots/{digest}"


def read_kv(hvac_client: hvac.Client, path: str) -> dict[str, Any] | None:
    try:
        return hvac_client.secrets.kv.v2.read_secret_version(path=path, raise_on_deleted_version=True)["data"]
    except hvac.exceptions.InvalidPath:
        return None


def test_token_is_issued_recorded_and_published_within_seconds(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, fake_astra: FakeAstraThread,
    hvac_client: hvac.Client, kubectl: Any,
) -> None:
    started = time.monotonic()
    cluster.must_apply(token_manifest("orders", namespace, test_org.name, test_role,
                                      metadata={"team": "orders", "purpose": "checkout"}))
    token = cluster.wait_ready("astratokens", "orders", namespace, timeout=5)
    ready_after = time.monotonic() - started
    status = token["status"]
    data = wait_for(lambda: cluster.secret("orders", namespace) and cluster.secret_data("orders", namespace),
                    timeout=5, what="the Secret")

    assert ready_after < 5
    assert set(data) == {"token", "clientId", "clientSecret", "orgId", "expiresAt"}
    assert fake_astra.verify(data["token"]).valid
    assert data["clientId"] == status["clientId"]
    assert data["orgId"] == test_org.org_id
    assert data["expiresAt"] == status["leaseExpiresAt"]

    assert status["orgId"] == test_org.org_id
    assert status["roleName"] == test_role
    assert status["logicalName"] == "orders"
    assert status["leaseId"] == f"astra-tokens/{test_org.org_id}/{status['clientId']}"
    assert status["leaseDuration"] == 3600
    assert status["secretName"] == "orders"
    assert status["renewals"] == 0
    assert status["conditions"][0]["reason"] == "Issued"
    for field in ("generatedOn", "leaseExpiresAt", "maxExpiresAt", "vaultPath", "nextActionAt"):
        assert status.get(field), field
    assert "token" not in status
    assert "clientSecret" not in status

    record = read_kv(hvac_client, f"{LEDGER}/orgs/{test_org.org_id}/tokens/{status['clientId']}")
    assert record is not None
    assert record["data"]["state"] == "active"
    assert record["data"]["metadata"] == {"team": "orders", "purpose": "checkout"}
    assert record["data"]["owner"]["namespace"] == namespace
    slot = read_kv(hvac_client, slot_path(test_org.org_id, test_role, "orders"))
    assert slot is not None
    assert slot["data"]["clientId"] == status["clientId"]

    listed = kubectl("get", "astratokens", "-A")
    line = next(row for row in listed.stdout.splitlines() if row.startswith(namespace))
    assert status["clientId"] in line
    assert status["leaseExpiresAt"] in line
    assert "True" in line
    labelled = kubectl("get", "astratokens", "-A", "-l", f"astra-tokens.io/client-id={status['clientId']}", "-o",
                       "name")
    assert labelled.stdout.strip() == "astratoken.astra-tokens.io/orders"


def test_deleting_the_token_revokes_it_frees_the_slot_and_removes_the_secret(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, fake_astra: FakeAstraThread,
    hvac_client: hvac.Client,
) -> None:
    cluster.must_apply(token_manifest("billing", namespace, test_org.name, test_role))
    status = cluster.wait_ready("astratokens", "billing", namespace)["status"]
    issued = cluster.secret_data("billing", namespace)["token"]

    cluster.delete("astratokens", "billing", namespace)
    cluster.wait_gone("astratokens", "billing", namespace, timeout=30)

    assert not fake_astra.verify(issued).valid
    record = read_kv(hvac_client, f"{LEDGER}/orgs/{test_org.org_id}/tokens/{status['clientId']}")
    assert record is not None
    assert record["data"]["state"] == "revoked"
    assert read_kv(hvac_client, slot_path(test_org.org_id, test_role, "billing")) is None
    wait_for(lambda: cluster.secret("billing", namespace) is None, timeout=10, what="the Secret deleted")

    # The logical name is free again: a new AstraToken takes it with a new token.
    cluster.must_apply(token_manifest("billing", namespace, test_org.name, test_role))
    again = cluster.wait_ready("astratokens", "billing", namespace)["status"]
    assert again["clientId"] != status["clientId"]


def mints(fake_astra: FakeAstraThread, org_id: str) -> int:
    return fake_astra.counters().count(org=org_id, endpoint="POST /v2/clientIdSecrets")


def test_same_org_role_and_logical_name_elsewhere_is_refused_and_mints_nothing(
    cluster: Cluster, test_org: OrgHandle, test_role: str, make_namespace: Any, fake_astra: FakeAstraThread,
) -> None:
    first, second = make_namespace("conflict-a"), make_namespace("conflict-b")
    cluster.must_apply(token_manifest("shared", first, test_org.name, test_role, logicalName="shared-name"))
    holder = cluster.wait_ready("astratokens", "shared", first)["status"]
    before = mints(fake_astra, test_org.org_id)

    refused = cluster.apply(token_manifest("shared", second, test_org.name, test_role, logicalName="shared-name"))

    assert refused.returncode != 0
    assert f"already used by AstraToken {first}/shared" in refused.stderr
    assert mints(fake_astra, test_org.org_id) == before
    assert cluster.token("shared", first)["status"]["clientId"] == holder["clientId"]


def test_a_slot_held_in_the_ledger_by_another_owner_is_a_conflict_and_mints_nothing(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, fake_astra: FakeAstraThread,
    hvac_client: hvac.Client,
) -> None:
    """Admission cannot see everything (another cluster sharing the org and the ledger, or two
    applies racing the watch): the check-and-set slot in Vault decides, and the loser waits."""
    hvac_client.secrets.kv.v2.create_or_update_secret(path=slot_path(test_org.org_id, test_role, "elsewhere"), secret={
        "clientId": "AbCdEfGhIjKlMnOpQrStUvWx", "claimedAt": "2026-01-01T00:00:00Z",
        "owner": {"kind": "AstraToken", "namespace": "other-cluster-ns", "name": "theirs", "uid": "uid-elsewhere"}})
    before = mints(fake_astra, test_org.org_id)

    cluster.must_apply(token_manifest("ours", namespace, test_org.name, test_role, logicalName="elsewhere"))
    condition = cluster.wait_reason("astratokens", "ours", "Conflict", namespace)

    assert condition["status"] == "False"
    assert "AstraToken other-cluster-ns/theirs" in condition["message"]
    assert mints(fake_astra, test_org.org_id) == before
    assert cluster.secret("ours", namespace) is None


def test_editing_metadata_and_secret_labels_updates_ledger_and_secret_without_minting(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, fake_astra: FakeAstraThread,
    hvac_client: hvac.Client,
) -> None:
    cluster.must_apply(token_manifest("meta", namespace, test_org.name, test_role, metadata={"owner": "a"}))
    status = cluster.wait_ready("astratokens", "meta", namespace)["status"]
    before = mints(fake_astra, test_org.org_id)
    record_path = f"{LEDGER}/orgs/{test_org.org_id}/tokens/{status['clientId']}"

    cluster.must_apply(token_manifest("meta", namespace, test_org.name, test_role, metadata={"owner": "b"},
                                      secret={"labels": {"tier": "gold"}}))

    wait_for(lambda: (read_kv(hvac_client, record_path) or {}).get("data", {}).get("metadata") == {"owner": "b"},
             timeout=15, what="the ledger's metadata updated")
    wait_for(lambda: (cluster.secret("meta", namespace).metadata.labels or {}).get("tier") == "gold",  # type: ignore[union-attr]
             timeout=15, what="the Secret's label")
    assert cluster.token("meta", namespace)["status"]["clientId"] == status["clientId"]
    assert mints(fake_astra, test_org.org_id) == before
    assert read_kv(hvac_client, record_path)["data"]["lastAction"] == "metadata-updated"  # type: ignore[index]
    # Kopf keeps no copy of the spec on an AstraToken: that write would pass both webhooks again.
    annotations = cluster.token("meta", namespace)["metadata"].get("annotations") or {}
    assert not [key for key in annotations if key.endswith("last-handled-configuration")], annotations


def test_renew_annotation_extends_the_lease_by_the_increment_and_is_removed(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, kubectl: Any,
) -> None:
    from datetime import UTC, datetime, timedelta

    cluster.must_apply(token_manifest("renewme", namespace, test_org.name, test_role))
    status = cluster.wait_ready("astratokens", "renewme", namespace)["status"]
    asked = datetime.now(UTC)
    result = kubectl("annotate", "astratoken", "renewme", "-n", namespace, "astra-tokens.io/renew=2h")
    assert result.returncode == 0, result.stderr

    def renewed() -> dict[str, Any] | None:
        token = cluster.token("renewme", namespace)
        annotations = token["metadata"].get("annotations", {})
        done = "astra-tokens.io/renew" not in annotations and token["status"]["renewals"] == 1
        return token["status"] if done else None

    after = wait_for(renewed, timeout=15, what="the renewal")
    expires = datetime.fromisoformat(after["leaseExpiresAt"])
    assert asked + timedelta(hours=2) - timedelta(seconds=5) <= expires <= asked + timedelta(hours=2, seconds=15)
    assert after["clientId"] == status["clientId"]
    assert after["maxExpiresAt"] == status["maxExpiresAt"]
    reasons = [event.reason for event in cluster.events_for("renewme", namespace)]
    assert "RenewedOnRequest" in reasons


def test_revoke_annotation_revokes_at_once_and_publishes_a_replacement(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, kubectl: Any,
    fake_astra: FakeAstraThread, hvac_client: hvac.Client,
) -> None:
    cluster.must_apply(token_manifest("leaked", namespace, test_org.name, test_role))
    old = cluster.wait_ready("astratokens", "leaked", namespace)["status"]
    old_token = cluster.secret_data("leaked", namespace)["token"]

    result = kubectl("annotate", "astratoken", "leaked", "-n", namespace, "astra-tokens.io/revoke=now")
    assert result.returncode == 0, result.stderr

    new = wait_for(lambda: (s := cluster.token("leaked", namespace)["status"]).get("clientId") != old["clientId"]
                   and s, timeout=15, what="a replacement token")
    assert not fake_astra.verify(old_token).valid
    wait_for(lambda: cluster.secret_data("leaked", namespace)["clientId"] == new["clientId"], timeout=10,
             what="the Secret holds the replacement")
    assert fake_astra.verify(cluster.secret_data("leaked", namespace)["token"]).valid
    assert "astra-tokens.io/revoke" not in cluster.token("leaked", namespace)["metadata"].get("annotations", {})
    revoked = read_kv(hvac_client, f"{LEDGER}/orgs/{test_org.org_id}/tokens/{old['clientId']}")
    assert revoked is not None
    assert revoked["data"]["state"] == "revoked"
    assert revoked["data"]["lastAction"] == "revoked-manually"
