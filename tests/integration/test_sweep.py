"""Reconciliation with Astra itself, on the real control plane and OpenBao with the fake Astra:
orphans of this cluster revoked, tokens deleted behind the operator's back replaced, the names of
AstraTokens deleted without their finalizer freed, other clusters' and unmarked tokens never
touched, a list that cannot be read touching nothing, and an Astra outage that lapses no lease.

The operator runs here with a short Astra call deadline (5 s), so the sweep's safety age can be
short too (10 s), and verifies its orgs every 5 s (so an outage is noticed within seconds). The
org these tests sweep is a fake org of their own, swept every 5 s."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import hvac
import pytest
from kubernetes import client as k8s
from kubernetes.config import new_client_from_config

from astra_token_operator.fake_astra import FakeAstraThread, ScriptedResponse
from astra_token_operator.policy.markers import format_marker
from integration.conftest import (
    OPERATOR_NAMESPACE,
    Cluster,
    org_manifest,
    role_manifest,
    root_token_secret,
    token_manifest,
    wait_for,
)
from testplatform.controlplane import start_controlplane
from testplatform.examples import CRDS
from testplatform.gobuild import ensure_controlplane
from testplatform.operator import OperatorProcess, operator_env
from testplatform.platform import Platform

SAFETY_AGE = 10.0
FAST = {"ASTRA_OPERATOR_ASTRA_DEADLINE_SECONDS": "5", "ASTRA_OPERATOR_SWEEP_SAFETY_AGE_SECONDS": str(SAFETY_AGE),
        "ASTRA_OPERATOR_ORG_VERIFY_INTERVAL_SECONDS": "5"}
SWEEP_ORG_ID = "5e7d9c1b-3a2f-4e6d-8c0b-1a2b3c4d5e6f"
ORG, ROLE = "sweep-org", "sweep-rw"
LIST = "GET /v2/clientIdSecrets"
MINT = "POST /v2/clientIdSecrets"
REVOKE = "DELETE /v2/clientIdSecrets/{clientId}"


@dataclass(frozen=True)
class SweptOrg:
    name: str
    org_id: str
    admin_token: str
    cluster_id: str


@pytest.fixture(scope="module")
def sweeping_operator(operator: OperatorProcess) -> Iterator[OperatorProcess]:
    operator.restart(FAST)
    yield operator
    operator.restart()  # the rest of the suite runs with the defaults


@pytest.fixture(scope="module")
def swept(cluster: Cluster, fake_astra: FakeAstraThread, sweeping_operator: OperatorProcess) -> Iterator[SweptOrg]:
    token = fake_astra.add_org(SWEEP_ORG_ID)
    cluster.must_apply(root_token_secret("sweep-org-root-token", token))
    cluster.must_apply(org_manifest(ORG, SWEEP_ORG_ID, fake_astra.url, "sweep-org-root-token",
                                    sweep={"interval": "5s"}))
    cluster.must_apply(role_manifest(ROLE, ORG, astraRoleName="R/W User", ttl="1h", maxTtl="24h"))
    cluster.wait_ready("astraorgs", ORG, timeout=30)
    cluster.wait_ready("astraroles", ROLE, timeout=30)
    kube_system = cluster.core.read_namespace("kube-system").metadata.uid
    yield SweptOrg(ORG, SWEEP_ORG_ID, token, kube_system)
    fake_astra.set_faults()


# --- helpers ----------------------------------------------------------------------------------------

def marker(cluster_id: str, owner_uid: str | None = None, nonce: str | None = None, name: str = "gone") -> str:
    return format_marker(prefix="", cluster_id=cluster_id, namespace="team-x", name=name,
                         owner_uid=owner_uid or str(uuid.uuid4()), nonce=nonce or uuid.uuid4().hex[:12])


def token_at_fake(fake: FakeAstraThread, org_id: str, description: str, age: float = 0.0) -> str:
    """A token made at the fake, not by the operator, generated ``age`` seconds ago."""
    fake.advance_clock(-age)
    try:
        token = fake.issue_token(org_id, ["R/W User"], description)
    finally:
        fake.advance_clock(age)
    return token.split(":")[1]


def state_at_fake(fake: FakeAstraThread, org_id: str, client_id: str) -> str | None:
    return next((v.state for v in fake.tokens(org_id) if v.client_id == client_id), None)


def revoke_behind_the_operators_back(fake: FakeAstraThread, org: SweptOrg, client_id: str) -> None:
    answer = httpx.delete(f"{fake.url}/v2/clientIdSecrets/{client_id}",
                          headers={"Authorization": f"Bearer {org.admin_token}"}, timeout=10)
    assert answer.status_code == 204


def sweep_status(cluster: Cluster, org: str = ORG) -> dict[str, Any]:
    return dict(((cluster.get("astraorgs", org) or {}).get("status") or {}).get("sweep") or {})


def swept_condition(cluster: Cluster, org: str = ORG) -> dict[str, Any]:
    conditions = ((cluster.get("astraorgs", org) or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Swept"), {})


def wait_for_sweeps(cluster: Cluster, count: int = 1, org: str = ORG, timeout: float = 60) -> dict[str, Any]:
    """Wait until ``count`` sweeps have started after now; the status of the last."""
    seen: list[str] = []
    start = sweep_status(cluster, org).get("lastSweepTime")

    def advanced() -> dict[str, Any] | None:
        status = sweep_status(cluster, org)
        stamp = status.get("lastSweepTime")
        if stamp and stamp != start and stamp not in seen:
            seen.append(stamp)
        return status if len(seen) >= count else None

    return dict(wait_for(advanced, timeout=timeout, interval=0.5, what=f"{count} sweep(s) of {org}"))


def ledger(hvac_client: hvac.Client, path: str) -> dict[str, Any]:
    read = hvac_client.secrets.kv.v2.read_secret_version(path=path, raise_on_deleted_version=True)
    return dict(read["data"]["data"])


def org_events(cluster: Cluster, reason: str, org: str = ORG) -> list[str]:
    return [e.message or "" for e in cluster.events_for(org, OPERATOR_NAMESPACE) if e.reason == reason]


def generated(view_generated_on: str) -> datetime:
    return datetime.fromisoformat(view_generated_on[:26].rstrip("Z") + "+00:00")


# --- orphans --------------------------------------------------------------------------------------

def test_orphans_of_this_cluster_are_revoked_past_the_safety_age_and_nothing_else_is(
    cluster: Cluster, swept: SweptOrg, fake_astra: FakeAstraThread, hvac_client: hvac.Client,
) -> None:
    org_id = swept.org_id
    old = token_at_fake(fake_astra, org_id, marker(swept.cluster_id), age=600)
    young = token_at_fake(fake_astra, org_id, marker(swept.cluster_id))
    untouchable = {
        "another cluster's": token_at_fake(fake_astra, org_id, marker(str(uuid.uuid4())), age=600),
        "a hand-made": token_at_fake(fake_astra, org_id, "made by hand in Astra Portal", age=600),
        "a legacy-marked": token_at_fake(fake_astra, org_id, "astra-token-operator team-x/app mint=0123456789ab",
                                         age=600),
    }

    wait_for(lambda: state_at_fake(fake_astra, org_id, old) == "revoked", timeout=30, what="the old orphan revoked")
    wait_for(lambda: state_at_fake(fake_astra, org_id, young) == "revoked", timeout=40,
             what="the young orphan revoked once past the safety age")
    view = next(v for v in fake_astra.tokens(org_id) if v.client_id == young)
    assert view.revoked_at is not None
    assert (view.revoked_at - generated(view.generated_on)).total_seconds() >= SAFETY_AGE

    for what, client_id in untouchable.items():
        assert state_at_fake(fake_astra, org_id, client_id) == "valid", f"{what} token was touched"
    entry = ledger(hvac_client, f"astra-tokens/orgs/{org_id}/orphans/{old}")
    assert entry["clusterId"] == swept.cluster_id
    assert "names this cluster" in entry["reason"]
    assert any(old in message for message in org_events(cluster, "OrphanRevoked"))
    status = wait_for_sweeps(cluster)
    assert status["foreign"] >= 1
    assert status["unmanaged"] >= 3  # the root token, the hand-made and the legacy-marked one
    assert swept_condition(cluster)["status"] == "True"


# --- deleted externally -------------------------------------------------------------------------------

def test_a_token_revoked_behind_the_operators_back_is_replaced(
    cluster: Cluster, swept: SweptOrg, fake_astra: FakeAstraThread, hvac_client: hvac.Client, namespace: str,
) -> None:
    cluster.must_apply(token_manifest("victim", namespace, ORG, ROLE))
    old = cluster.wait_ready("astratokens", "victim", namespace)["status"]["clientId"]

    revoke_behind_the_operators_back(fake_astra, swept, old)

    status = wait_for(lambda: (t := cluster.token("victim", namespace)["status"]).get("clientId") != old and t,
                      timeout=40, what="a replacement token")
    ready = cluster.wait_reason("astratokens", "victim", "ReplacedAfterExternalDeletion", namespace, timeout=20)
    assert ready["status"] == "True"
    assert old in ready["message"]
    secret = cluster.secret_data("victim", namespace)
    assert secret["clientId"] == status["clientId"]
    assert fake_astra.verify(secret["token"]).valid
    record = ledger(hvac_client, f"astra-tokens/orgs/{swept.org_id}/tokens/{old}")
    assert (record["state"], record["lastAction"]) == ("deleted-externally", "deleted-externally")
    warnings = [e for e in cluster.events_for("victim", namespace) if e.reason == "DeletedExternally"]
    assert warnings
    assert warnings[0].type == "Warning"
    assert old in (warnings[0].message or "")


def test_with_a_lagging_list_a_fresh_token_is_never_taken_for_deleted(
    cluster: Cluster, swept: SweptOrg, fake_astra: FakeAstraThread, hvac_client: hvac.Client, namespace: str,
) -> None:
    fake_astra.set_faults(consistency_lag_seconds=90)
    try:
        cluster.must_apply(token_manifest("fresh", namespace, ORG, ROLE))
        client_id = cluster.wait_ready("astratokens", "fresh", namespace)["status"]["clientId"]
        wait_for_sweeps(cluster, count=3, timeout=40)
        listed = httpx.get(f"{fake_astra.url}/v2/clientIdSecrets", timeout=10,
                           headers={"Authorization": f"Bearer {swept.admin_token}"}).json()["clients"]
        assert client_id not in {t["clientId"] for t in listed}  # still within the lag: Astra does not list it
        assert cluster.token("fresh", namespace)["status"]["clientId"] == client_id
        assert ledger(hvac_client, f"astra-tokens/orgs/{swept.org_id}/tokens/{client_id}")["state"] == "active"
        assert not [e for e in cluster.events_for("fresh", namespace) if e.reason == "DeletedExternally"]
    finally:
        fake_astra.set_faults()


# --- a finalizer removed by hand --------------------------------------------------------------------

def test_an_astratoken_deleted_without_its_finalizer_has_its_token_revoked_and_its_name_freed(
    cluster: Cluster, swept: SweptOrg, fake_astra: FakeAstraThread, hvac_client: hvac.Client, namespace: str,
    kubectl: Any, sweeping_operator: OperatorProcess,
) -> None:
    cluster.must_apply(token_manifest("forced", namespace, ORG, ROLE))
    old = cluster.wait_ready("astratokens", "forced", namespace)["status"]["clientId"]
    # As an admin does when an AstraToken hangs in deletion while the operator is down: with the
    # operator stopped, its (fail-closed) webhooks out of the way, the finalizer removed by hand.
    sweeping_operator.stop()
    try:
        for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
            kubectl("delete", kind, "astra-token-operator.astra-tokens.io", "--ignore-not-found")
        patched = kubectl("-n", namespace, "patch", "astratoken", "forced", "--type=merge",
                          "-p", json.dumps({"metadata": {"finalizers": None}}))
        assert patched.returncode == 0, patched.stderr
        cluster.delete("astratokens", "forced", namespace)
        cluster.wait_gone("astratokens", "forced", namespace)
    finally:
        sweeping_operator.start(FAST)  # the webhooks are registered again as it starts
    assert state_at_fake(fake_astra, swept.org_id, old) == "valid"  # nobody revoked it on the way out

    cluster.must_apply(token_manifest("forced", namespace, ORG, ROLE))  # the same names, a new AstraToken
    wait_for(lambda: state_at_fake(fake_astra, swept.org_id, old) == "revoked", timeout=40,
             what="the sweep revoking the token of the AstraToken deleted without its finalizer")
    # Ready once its name is free and the old Secret is gone (Kubernetes garbage-collects it).
    new = cluster.wait_ready("astratokens", "forced", namespace, timeout=90)["status"]["clientId"]
    assert new != old
    assert fake_astra.verify(cluster.secret_data("forced", namespace)["token"]).valid
    record = ledger(hvac_client, f"astra-tokens/orgs/{swept.org_id}/tokens/{old}")
    assert record["state"] == "revoked"
    assert "no longer exists in this cluster" in record["reason"]
    assert org_events(cluster, "StaleSlotFreed")


# --- a list that cannot be read ---------------------------------------------------------------------

@pytest.mark.parametrize(("fault", "said"), [
    ({"script": [ScriptedResponse(status=403, endpoint=LIST, org=SWEEP_ORG_ID, times=10_000,
                                  message="token lacks permission")]}, "403"),
    ({"script": [ScriptedResponse(status=503, endpoint=LIST, org=SWEEP_ORG_ID, times=10_000)]}, "503"),
    ({"malformed_lists": 10_000}, "could not be read"),
], ids=["403", "503", "malformed-body"])
def test_a_list_that_fails_revokes_nothing_and_says_why(
    cluster: Cluster, swept: SweptOrg, fake_astra: FakeAstraThread, fault: dict[str, Any], said: str,
) -> None:
    fake_astra.set_faults(**fault)
    try:
        orphan = token_at_fake(fake_astra, swept.org_id, marker(swept.cluster_id), age=600)
        condition = wait_for(lambda: (c := swept_condition(cluster)).get("reason") == "ListFailed"
                             and said in c.get("message", "") and c, timeout=60, what="Swept=False, ListFailed")
        assert condition["status"] == "False"
        assert "nothing was revoked" in condition["message"]
        wait_for_sweeps(cluster, count=1, timeout=90)  # it keeps trying, and still touches nothing
        assert state_at_fake(fake_astra, swept.org_id, orphan) == "valid"
        assert sweep_status(cluster).get("managed") is None  # nothing counted from what it could not see
    finally:
        fake_astra.set_faults()
    wait_for(lambda: state_at_fake(fake_astra, swept.org_id, orphan) == "revoked", timeout=90,
             what="the orphan revoked once the list can be read")
    wait_for(lambda: swept_condition(cluster).get("status") == "True", timeout=30, what="Swept=True again")


# --- an Astra outage --------------------------------------------------------------------------------

def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]}}}}


def test_an_astra_outage_longer_than_renew_before_lapses_nothing_and_its_end_changes_nothing(
    cluster: Cluster, swept: SweptOrg, fake_astra: FakeAstraThread, hvac_client: hvac.Client, namespace: str,
    k8s_api: k8s.ApiClient,
) -> None:
    apps = k8s.AppsV1Api(k8s_api)
    apps.create_namespaced_deployment(namespace, deployment("web"))
    cluster.must_apply(role_manifest("sweep-short", ORG, astraRoleName="R/W User", ttl="20s", maxTtl="1h"))
    cluster.wait_ready("astraroles", "sweep-short", timeout=30)
    names = [f"steady-{i}" for i in range(3)]
    cluster.must_apply("\n---\n".join(
        token_manifest(n, namespace, ORG, "sweep-short", renewBefore="8s",
                       rolloutRestartTargets=[{"kind": "Deployment", "name": "web"}]) for n in names))
    before = {n: cluster.wait_ready("astratokens", n, namespace)["status"]["clientId"] for n in names}
    tokens = {n: cluster.secret_data(n, namespace)["token"] for n in names}
    counters = fake_astra.counters()
    template = apps.read_namespaced_deployment("web", namespace).spec.template.metadata.annotations

    fake_astra.set_faults(rate_503=1.0)  # every call to Astra answers 503
    try:
        cluster.wait_reason("astraorgs", ORG, "Unreachable", timeout=40)
        outage_started = time.time()
        while time.time() - outage_started < 35:  # longer than the ttl (20 s), let alone renewBefore (8 s)
            for name in names:
                condition = cluster.condition("astratokens", name, namespace)
                assert condition["status"] == "True", f"{name} during the outage: {condition}"
                assert cluster.token(name, namespace)["status"]["clientId"] == before[name]
            time.sleep(1)
        for name in names:
            record = ledger(hvac_client, f"astra-tokens/orgs/{swept.org_id}/tokens/{before[name]}")
            renewed_at = datetime.fromisoformat(record["lastRenewedAt"].replace("Z", "+00:00")).timestamp()
            assert renewed_at > outage_started + 10, f"{name} was not renewed during the outage"
            assert datetime.fromisoformat(record["leaseExpiresAt"].replace("Z", "+00:00")).timestamp() > time.time()
            assert cluster.secret_data(name, namespace)["token"] == tokens[name]
    finally:
        fake_astra.set_faults()

    cluster.wait_ready("astraorgs", ORG, timeout=40)
    wait_for_sweeps(cluster, count=2, timeout=60)  # and the sweeps after it: nothing to do
    after = fake_astra.counters()
    assert after.count(org=swept.org_id, endpoint=MINT) == counters.count(org=swept.org_id, endpoint=MINT)
    assert after.count(org=swept.org_id, endpoint=REVOKE) == counters.count(org=swept.org_id, endpoint=REVOKE)
    for name in names:
        assert cluster.token(name, namespace)["status"]["clientId"] == before[name]
        assert cluster.condition("astratokens", name, namespace)["status"] == "True"
        assert cluster.secret_data(name, namespace)["token"] == tokens[name]
        assert fake_astra.verify(tokens[name]).valid
    assert apps.read_namespaced_deployment("web", namespace).spec.template.metadata.annotations == template


# --- two clusters, one org --------------------------------------------------------------------------

class OtherCluster:
    """A second control plane with an operator of its own, sharing OpenBao (under another ledger
    prefix) and the fake Astra."""

    def __init__(self, platform: Platform, fake: FakeAstraThread, work_dir: Path) -> None:
        binary, _ = ensure_controlplane()
        self.controlplane = start_controlplane(binary, work_dir / "controlplane")
        self.platform, self.fake = platform, fake
        self.api = new_client_from_config(config_file=str(self.controlplane.kubeconfig))
        self.cluster = Cluster(self.api, self.kubectl)
        self.operator = OperatorProcess(log_dir=work_dir, env=operator_env(
            kubeconfig=self.controlplane.kubeconfig, vault_addr=platform.openbao.addr,
            vault_token=platform.openbao.token, operator_namespace=OPERATOR_NAMESPACE,
            extra={**FAST, "ASTRA_OPERATOR_VAULT_PREFIX": "astra-tokens-b"}))

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 60, **_: Any) -> Any:
        import subprocess

        return subprocess.run([str(self.platform.kubectl), f"--kubeconfig={self.controlplane.kubeconfig}", *args],
                              input=input, capture_output=True, text=True, timeout=timeout, check=False)

    def start(self) -> None:
        applied = self.kubectl("apply", "-f", str(CRDS))
        assert applied.returncode == 0, applied.stderr
        waited = self.kubectl("wait", "--for=condition=Established", "crd", "-l",
                              "app.kubernetes.io/name=astra-token-operator", "--timeout=60s")
        assert waited.returncode == 0, waited.stderr
        core = k8s.CoreV1Api(self.api)
        for name in (OPERATOR_NAMESPACE, "team-b"):
            core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
        self.operator.start()

    def stop(self) -> None:
        self.operator.stop()
        self.api.close()
        self.controlplane.stop()


def test_two_clusters_sharing_an_org_never_revoke_each_others_tokens(
    cluster: Cluster, swept: SweptOrg, fake_astra: FakeAstraThread, hvac_client: hvac.Client, namespace: str,
    platform: Platform, tmp_path: Path,
) -> None:
    other = OtherCluster(platform, fake_astra, tmp_path)
    try:
        other.start()
        b = other.cluster
        b.must_apply(root_token_secret("shared-root-token", swept.admin_token))
        b.must_apply(org_manifest("shared", swept.org_id, fake_astra.url, "shared-root-token",
                                  sweep={"interval": "5s"}))
        b.must_apply(role_manifest("shared-rw", "shared", astraRoleName="R/W User", ttl="1h", maxTtl="24h"))
        b.wait_ready("astraorgs", "shared", timeout=60)
        b.wait_ready("astraroles", "shared-rw", timeout=30)
        b.must_apply(token_manifest("app", "team-b", "shared", "shared-rw"))
        theirs = b.wait_ready("astratokens", "app", "team-b", timeout=60)["status"]["clientId"]

        cluster.must_apply(token_manifest("app", namespace, ORG, ROLE))
        ours = cluster.wait_ready("astratokens", "app", namespace)["status"]["clientId"]
        unmarked = token_at_fake(fake_astra, swept.org_id, "made by hand", age=600)

        descriptions = {v.client_id: v.description for v in fake_astra.tokens(swept.org_id)}
        b_cluster_id = other.cluster.core.read_namespace("kube-system").metadata.uid
        assert b_cluster_id != swept.cluster_id
        assert f"cluster={swept.cluster_id} " in descriptions[ours]
        assert f"cluster={b_cluster_id} " in descriptions[theirs]

        time.sleep(SAFETY_AGE)  # every token is past the safety age before the sweeps that count
        ours_status = wait_for_sweeps(cluster, count=2)
        theirs_status = wait_for_sweeps(b, org="shared", count=2)
        for client_id in (ours, theirs, unmarked):
            assert state_at_fake(fake_astra, swept.org_id, client_id) == "valid"
        assert ours_status["foreign"] >= 1
        assert theirs_status["foreign"] >= 1
        assert theirs_status["managed"] == 1
        assert (theirs_status["orphansRevoked"], theirs_status["deletedExternally"],
                theirs_status["staleSlotsFreed"]) == (0, 0, 0)
        # each ledger holds only its own cluster's token
        assert ledger(hvac_client, f"astra-tokens-b/orgs/{swept.org_id}/tokens/{theirs}")["state"] == "active"
        assert ledger(hvac_client, f"astra-tokens/orgs/{swept.org_id}/tokens/{ours}")["state"] == "active"
        credentials = ledger(hvac_client, f"astra-tokens-b/credentials/{swept.org_id}/{theirs}")
        log = other.operator.log_text()  # the other operator logs at DEBUG too, and never a secret
        assert log
        for secret in (credentials["token"], credentials["clientSecret"], swept.admin_token):
            assert secret not in log
    finally:
        other.stop()
    # its AstraTokens were not deleted: cluster B's token stays valid, and ours never touches it
    wait_for_sweeps(cluster, count=2)
    assert state_at_fake(fake_astra, swept.org_id, theirs) == "valid"
