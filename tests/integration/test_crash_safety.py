"""Crash safety of the mint (DESIGN.md §6): kill the operator with SIGKILL at
each step, or lose Astra's answer to a create; after a restart every
AstraToken has exactly one live token and Astra holds nothing the ledger does
not know. A restart mints nothing for tokens that are fine."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import hvac
import pytest

from astra_token_operator.fake_astra import FakeAstraThread
from integration.conftest import Cluster, OrgHandle, role_manifest, token_manifest, wait_for
from testplatform.operator import OperatorProcess

MINT = "POST /v2/clientIdSecrets"


def ledger_state(hvac_client: hvac.Client, org_id: str, client_id: str) -> str | None:
    try:
        read = hvac_client.secrets.kv.v2.read_secret_version(
            path=f"astra-tokens/orgs/{org_id}/tokens/{client_id}", raise_on_deleted_version=True)
    except hvac.exceptions.InvalidPath:
        return None
    state: str = read["data"]["data"]["state"]
    return state


def assert_exactly_one_live_token(cluster: Cluster, fake: FakeAstraThread, hvac_client: hvac.Client,
                                  org: OrgHandle, namespace: str, name: str) -> None:
    status = cluster.wait_ready("astratokens", name, namespace, timeout=30)["status"]
    owner_marker = f"astra-token-operator {namespace}/{name} "
    views = fake.tokens(org.org_id)
    live_for_owner = [v.client_id for v in views if owner_marker in v.description and v.state == "valid"]
    assert live_for_owner == [status["clientId"]]
    assert cluster.secret_data(name, namespace)["clientId"] == status["clientId"]
    assert ledger_state(hvac_client, org.org_id, status["clientId"]) == "active"
    # Astra holds no live token the ledger does not know (the org's admin token aside). Other
    # tokens of the org may be rotating (a short-ttl role): a mint in flight has its token in Astra a
    # moment before its record, so only one still unknown after a while is a leak.

    def unknown() -> list[str]:
        return [f"{v.client_id} ({v.description})" for v in fake.tokens(org.org_id) if v.state == "valid"
                and not v.is_admin
                and ledger_state(hvac_client, org.org_id, v.client_id) not in ("active", "superseded")]

    deadline = time.monotonic() + 15
    while (left := unknown()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == []


@pytest.fixture
def crashing_operator(operator: OperatorProcess) -> Iterator[OperatorProcess]:
    """The session's operator, stopped so a test can run one with failpoints; restarted after."""
    operator.stop()
    yield operator
    if not operator.alive():
        operator.start()


@pytest.mark.parametrize("failpoint", ["after-intent", "after-create", "after-record", "after-secret"])
def test_operator_killed_during_a_mint_leaves_exactly_one_live_token(
    failpoint: str, crashing_operator: OperatorProcess, cluster: Cluster, test_org: OrgHandle, test_role: str,
    namespace: str, fake_astra: FakeAstraThread, hvac_client: hvac.Client,
) -> None:
    crashing_operator.start(extra_env={"ASTRA_OPERATOR_FAILPOINTS": json.dumps([failpoint])})
    cluster.must_apply(token_manifest("crashy", namespace, test_org.name, test_role, logicalName=f"crashy-{failpoint}"))
    code = crashing_operator.wait_exit(timeout=30)
    assert code == -9  # it really died at the failpoint, by SIGKILL

    crashing_operator.start()
    assert_exactly_one_live_token(cluster, fake_astra, hvac_client, test_org, namespace, "crashy")


def test_a_create_whose_answer_is_lost_is_reconciled_not_duplicated(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, fake_astra: FakeAstraThread,
    hvac_client: hvac.Client,
) -> None:
    fake_astra.set_faults(drop_create_responses=1)
    try:
        cluster.must_apply(token_manifest("unanswered", namespace, test_org.name, test_role))
        assert_exactly_one_live_token(cluster, fake_astra, hvac_client, test_org, namespace, "unanswered")
    finally:
        fake_astra.set_faults(drop_create_responses=0)
    marker = f"astra-token-operator {namespace}/unanswered "
    states = sorted(v.state for v in fake_astra.tokens(test_org.org_id) if marker in v.description)
    assert states == ["revoked", "valid"]  # the unanswered one was found by its marker and revoked


def record_versions(hvac_client: hvac.Client, org_id: str, client_id: str) -> list[tuple[float, dict[str, Any]]]:
    """(created at, data) of every version of a ledger record, oldest first."""
    path = f"astra-tokens/orgs/{org_id}/tokens/{client_id}"
    meta = hvac_client.secrets.kv.v2.read_secret_metadata(path=path)["data"]["versions"]
    versions = []
    for number in sorted(meta, key=int):
        read = hvac_client.secrets.kv.v2.read_secret_version(path=path, version=int(number),
                                                             raise_on_deleted_version=True)["data"]
        created = datetime.fromisoformat(read["metadata"]["created_time"].replace("Z", "+00:00")).timestamp()
        versions.append((created, read["data"]))
    return versions


def test_a_restart_with_50_tokens_mints_nothing_and_renewals_and_rotations_go_on(
    operator: OperatorProcess, cluster: Cluster, test_org: OrgHandle, namespace: str,
    fake_astra: FakeAstraThread, hvac_client: hvac.Client,
) -> None:
    # ttl 30s, maxTtl 75s: renewals about 20 and 40 s after the mint, the rotation at about 60 s; the
    # restart (and the daemons' start-up spread) fits before the first renewal is due.
    cluster.must_apply(role_manifest("fleet-short", test_org.name, astraRoleName="R/W User", ttl="30s",
                                     maxTtl="75s"))
    cluster.wait_ready("astraroles", "fleet-short", timeout=30)
    names = [f"fleet-{i:02d}" for i in range(50)]
    cluster.must_apply("\n---\n".join(token_manifest(n, namespace, test_org.name, "fleet-short",
                                                      rotationGracePeriod="5s") for n in names))
    before = {name: cluster.wait_ready("astratokens", name, namespace, timeout=60)["status"]["clientId"]
              for name in names}
    mints = fake_astra.counters().count(org=test_org.org_id, endpoint=MINT)
    log_mark = len(operator.log_text())

    operator.restart()
    restarted_at = time.time()
    # Every daemon resumes within the start-up spread (10 s), its timer armed from its status.
    wait_for(lambda: operator.log_text()[log_mark:].count("Daemon 'lifecycle' is invoked") >= len(names),
             timeout=30, what="every token's daemon resumed")
    assert fake_astra.counters().count(org=test_org.org_id, endpoint=MINT) == mints, "a restart re-minted"
    assert {n: cluster.token(n, namespace)["status"]["clientId"] for n in names} == before

    # And the lifecycle goes on: each token renews, then rotates, with the restarted process.
    def rotated() -> bool:
        return all(cluster.token(n, namespace)["status"]["clientId"] != before[n] for n in names)

    wait_for(rotated, timeout=120, interval=1, what="every token rotated after the restart")
    for name in names:
        cluster.wait_ready("astratokens", name, namespace)
        versions = record_versions(hvac_client, test_org.org_id, before[name])
        renewed_after = [d for t, d in versions if t >= restarted_at and d["lastAction"] == "renewed"]
        assert len(renewed_after) >= 2, f"{name}: {[d['lastAction'] for _, d in versions]}"
        assert versions[-1][1]["state"] in ("superseded", "revoked")
        assert fake_astra.verify(cluster.secret_data(name, namespace)["token"]).valid


def test_a_secret_deleted_while_the_operator_was_down_is_restored_after_the_restart_without_a_mint(
    operator: OperatorProcess, cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str,
    fake_astra: FakeAstraThread,
) -> None:
    """A restart arms Ready tokens from their status and verifies each (its ledger records and its
    Secret) within the drift check interval, here 15 s: nothing told the new process that this
    Secret went while no process watched."""
    cluster.must_apply(token_manifest("away", namespace, test_org.name, test_role))
    cluster.wait_ready("astratokens", "away", namespace)
    original = wait_for(lambda: cluster.secret("away", namespace) and cluster.secret_data("away", namespace),
                        timeout=10)
    mints = fake_astra.counters().count(org=test_org.org_id, endpoint=MINT)
    operator.stop()
    try:
        cluster.core.delete_namespaced_secret("away", namespace)
        operator.start(extra_env={"ASTRA_OPERATOR_DRIFT_CHECK_INTERVAL_SECONDS": "15"})
        restored = wait_for(lambda: cluster.secret("away", namespace) and cluster.secret_data("away", namespace),
                            timeout=60, what="the Secret restored after the restart")
        assert restored == original
        assert fake_astra.counters().count(org=test_org.org_id, endpoint=MINT) == mints
        # The Event is posted after the Secret is written, from Kopf's posting queue.
        wait_for(lambda: "SecretRestored" in [event.reason for event in cluster.events_for("away", namespace)],
                 timeout=15, what="the SecretRestored Event")
    finally:
        operator.restart()  # the session's settings again
