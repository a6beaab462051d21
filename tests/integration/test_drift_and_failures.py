"""Drift is repaired from the ledger without minting; failures of Astra, Vault,
the root token or a role leave clear conditions and never a half-made token."""

from __future__ import annotations

import base64
import signal
from typing import Any

import pytest

from astra_token_operator.fake_astra import FakeAstraThread
from integration.conftest import (
    Cluster,
    OrgHandle,
    org_manifest,
    role_manifest,
    root_token_secret,
    token_manifest,
    wait_for,
)
from testplatform.platform import Platform

MINT = "POST /v2/clientIdSecrets"


def mints(fake: FakeAstraThread, org_id: str) -> int:
    return fake.counters().count(org=org_id, endpoint=MINT)


def test_deleted_secret_is_restored_from_the_ledger_without_minting(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, fake_astra: FakeAstraThread,
) -> None:
    cluster.must_apply(token_manifest("drifty", namespace, test_org.name, test_role))
    cluster.wait_ready("astratokens", "drifty", namespace)
    original = wait_for(lambda: cluster.secret("drifty", namespace) and cluster.secret_data("drifty", namespace),
                        timeout=10)
    before = mints(fake_astra, test_org.org_id)

    cluster.core.delete_namespaced_secret("drifty", namespace)

    restored = wait_for(lambda: cluster.secret("drifty", namespace) and cluster.secret_data("drifty", namespace),
                        timeout=20, what="the Secret restored")
    assert restored == original
    assert mints(fake_astra, test_org.org_id) == before
    # The Event follows the Secret (the ledger's restored record comes between) and Kopf posts it
    # from a queue of its own: waited for, as test_crash_safety does.
    wait_for(lambda: "SecretRestored" in [event.reason for event in cluster.events_for("drifty", namespace)],
             timeout=20, what="a SecretRestored Event")


def test_edited_secret_is_restored_from_the_ledger_without_minting(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, fake_astra: FakeAstraThread,
) -> None:
    cluster.must_apply(token_manifest("tampered", namespace, test_org.name, test_role))
    cluster.wait_ready("astratokens", "tampered", namespace)
    original = wait_for(lambda: cluster.secret("tampered", namespace) and cluster.secret_data("tampered", namespace),
                        timeout=10)
    before = mints(fake_astra, test_org.org_id)

    forged = base64.b64encode(b"AstraCS:not-the-real-token").decode()
    cluster.core.patch_namespaced_secret("tampered", namespace, {"data": {"token": forged}})

    wait_for(lambda: cluster.secret_data("tampered", namespace) == original, timeout=20,
             what="the Secret restored")
    assert mints(fake_astra, test_org.org_id) == before


def test_vault_down_new_tokens_wait_existing_secrets_stay_and_all_recover(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, fake_astra: FakeAstraThread,
    platform: Platform,
) -> None:
    cluster.must_apply(token_manifest("before-outage", namespace, test_org.name, test_role))
    cluster.wait_ready("astratokens", "before-outage", namespace)
    existing = wait_for(lambda: cluster.secret("before-outage", namespace), timeout=10)
    before = mints(fake_astra, test_org.org_id)

    child = platform.openbao.child
    child.signal_group(signal.SIGSTOP)
    try:
        cluster.must_apply(token_manifest("during-outage", namespace, test_org.name, test_role))
        condition = cluster.wait_reason("astratokens", "during-outage", "VaultUnavailable", namespace, timeout=40)
        assert condition["status"] == "False"
        assert "nothing is minted" in condition["message"]
        assert mints(fake_astra, test_org.org_id) == before  # fail closed: nothing minted it could not record
        assert cluster.secret("during-outage", namespace) is None
        still = cluster.secret("before-outage", namespace)
        assert still is not None
        assert still.data == existing.data
        assert cluster.condition("astratokens", "before-outage", namespace)["status"] == "True"
    finally:
        child.signal_group(signal.SIGCONT)

    cluster.wait_ready("astratokens", "during-outage", namespace, timeout=60)
    assert fake_astra.verify(cluster.secret_data("during-outage", namespace)["token"]).valid


def test_wrong_root_token_makes_the_org_unauthorized_and_its_tokens_wait(
    cluster: Cluster, fake_astra: FakeAstraThread, operator: Any, namespace: str,
) -> None:
    org_id = "0e1d8f3a-5b7c-4d2e-9f10-aa11bb22cc33"
    fake_astra.add_org(org_id)
    wrong = fake_astra.admin_token(org_id)[:-4] + "0000"
    cluster.must_apply(root_token_secret("wrong-root-token", wrong))
    cluster.must_apply(org_manifest("wrong-token-org", org_id, fake_astra.url, "wrong-root-token"))
    condition = cluster.wait_reason("astraorgs", "wrong-token-org", "Unauthorized", timeout=30)
    assert condition["status"] == "False"
    assert wrong not in condition["message"]

    cluster.must_apply(role_manifest("wrong-token-role", "wrong-token-org", astraRoleName="R/W User"))
    cluster.must_apply(token_manifest("waits", namespace, "wrong-token-org", "wrong-token-role"))
    waiting = cluster.wait_reason("astratokens", "waits", "OrgNotReady", namespace, timeout=30)
    assert "wrong-token-org" in waiting["message"]
    assert mints(fake_astra, org_id) == 0

    # Fixing the Secret is noticed without touching the AstraOrg.
    cluster.must_apply(root_token_secret("wrong-root-token", fake_astra.admin_token(org_id)))
    cluster.wait_ready("astraorgs", "wrong-token-org", timeout=40)
    cluster.wait_ready("astratokens", "waits", namespace, timeout=40)


def test_unknown_role_id_is_reported_as_not_found_in_astra(cluster: Cluster, test_org: OrgHandle) -> None:
    cluster.must_apply(role_manifest("ghost-role", test_org.name, roleId="00000000-1111-2222-3333-444444444444"))
    condition = cluster.wait_reason("astraroles", "ghost-role", "RoleNotFoundInAstra", timeout=30)
    assert "00000000-1111-2222-3333-444444444444" in condition["message"]


def test_astra_refusing_a_create_reports_astra_error_without_a_retry_storm(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, fake_astra: FakeAstraThread,
) -> None:
    from astra_token_operator.fake_astra import ScriptedResponse

    fake_astra.set_faults(script=[ScriptedResponse(status=403, endpoint=MINT, org=test_org.org_id, times=50,
                                                   message="token lacks permission")])
    try:
        before = fake_astra.counters().count(org=test_org.org_id, endpoint=MINT, status=403)
        cluster.must_apply(token_manifest("refused", namespace, test_org.name, test_role))
        condition = cluster.wait_reason("astratokens", "refused", "AstraError", namespace, timeout=20)
        assert "403" in condition["message"] or "permission" in condition["message"]
        import time

        time.sleep(5)  # a storm would show as many more attempts within seconds
        attempts = fake_astra.counters().count(org=test_org.org_id, endpoint=MINT, status=403) - before
        assert attempts == 1
    finally:
        fake_astra.set_faults(script=[])


def test_the_operator_lists_and_watches_only_the_secrets_it_manages(platform: Platform, operator: Any) -> None:
    """Never all Secrets: every list/watch of Secrets the operator makes (Kopf's watch, the census)
    carries our label selector (read from the apiserver's own audit log)."""
    import json
    from urllib.parse import parse_qs, urlsplit

    audit_log = platform.controlplane.audit_log
    if audit_log is None:
        pytest.skip("make e2e-kind: the kind cluster's apiserver writes no audit log this test can read")

    def operator_secret_collections() -> list[dict[str, Any]]:
        entries = [json.loads(line) for line in audit_log.read_text().splitlines() if line.strip()]
        return [e for e in entries
                if e.get("objectRef", {}).get("resource") == "secrets" and e.get("verb") in ("list", "watch")
                and e.get("userAgent", "").startswith(("kopf", "astra-token-operator/"))]

    requests = wait_for(operator_secret_collections, timeout=30, what="the operator's Secret watch in the audit log")
    for entry in requests:
        query = parse_qs(urlsplit(entry["requestURI"]).query)
        assert query.get("labelSelector") == ["astra-tokens.io/managed=true"], entry["requestURI"]


def test_at_rest_secrets_are_checked_by_one_metadata_list_per_interval_never_a_get_each(
    platform: Platform, cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, operator: Any,
) -> None:
    """The safety net behind the Secret watch costs one list of the managed Secrets' metadata per
    drift check interval, not a GET per token (10,000 GETs per interval at 10,000 tokens). Read from
    the apiserver's own audit log."""
    import json
    from urllib.parse import parse_qs, urlsplit

    audit_log = platform.controlplane.audit_log
    if audit_log is None:
        pytest.skip("make e2e-kind: the kind cluster's apiserver writes no audit log this test can read")

    def operator_requests(since: int) -> list[dict[str, Any]]:
        with audit_log.open("rb") as log:
            log.seek(since)
            entries = [json.loads(line) for line in log.read().splitlines() if line.strip()]
        return [e for e in entries if e.get("stage") == "ResponseComplete"
                and e.get("userAgent", "").startswith("astra-token-operator/")]

    operator.restart({"ASTRA_OPERATOR_DRIFT_CHECK_INTERVAL_SECONDS": "4"})
    try:
        names = [f"rest-{n}" for n in range(3)]
        for name in names:
            cluster.must_apply(token_manifest(name, namespace, test_org.name, test_role))
        for name in names:
            cluster.wait_ready("astratokens", name, namespace)

        def census_lists(since: int) -> list[dict[str, Any]]:
            return [e for e in operator_requests(since) if e["verb"] == "list"
                    and e["objectRef"].get("resource") == "secrets"]

        # At rest from the first census on (the mints and their own watch events are over by then).
        ready = audit_log.stat().st_size
        wait_for(lambda: census_lists(ready), timeout=30, what="the first census of the managed Secrets")
        mark = audit_log.stat().st_size
        lists = wait_for(lambda: len(found := census_lists(mark)) >= 2 and found, timeout=30,
                         what="two more censuses of the managed Secrets")
        for entry in lists:
            query = parse_qs(urlsplit(entry["requestURI"]).query)
            assert query.get("labelSelector") == ["astra-tokens.io/managed=true"], entry["requestURI"]
        gets = [e["requestURI"] for e in operator_requests(mark)
                if e["verb"] == "get" and e["objectRef"].get("resource") == "secrets"
                and e["objectRef"].get("namespace") == namespace]
        assert gets == []
    finally:
        operator.restart()
