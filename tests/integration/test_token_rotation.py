"""Leases renew on time and rotate before their max: ttl 20s, maxTtl 60s,
renewBefore 33%. The workload restarts, the old token dies after the grace
period, and the ledger keeps every version."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import hvac
from kubernetes import client as k8s

from astra_token_operator.fake_astra import FakeAstraThread
from integration.conftest import Cluster, OrgHandle, role_manifest, token_manifest, wait_for

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app, namespace: {namespace}}}
spec:
  replicas: 0  # the Deployment controller reports a rollout of nothing finished at once
  selector: {{matchLabels: {{app: app}}}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      containers:
      - name: app
        image: registry.example.com/app:1
        envFrom: [{{secretRef: {{name: rotating}}}}]
"""


def history(hvac_client: hvac.Client, org_id: str, client_id: str) -> list[dict[str, Any]]:
    path = f"astra-tokens/orgs/{org_id}/tokens/{client_id}"
    versions = hvac_client.secrets.kv.v2.read_secret_metadata(path=path)["data"]["versions"]
    return [hvac_client.secrets.kv.v2.read_secret_version(path=path, version=int(v),
                                                          raise_on_deleted_version=True)["data"]["data"]
            for v in sorted(versions, key=int)]


def test_lease_renews_twice_then_rotates_restarts_the_workload_and_revokes_the_old_token(
    cluster: Cluster, test_org: OrgHandle, namespace: str, fake_astra: FakeAstraThread, hvac_client: hvac.Client,
    k8s_api: k8s.ApiClient,
) -> None:
    cluster.must_apply(role_manifest("it-short", test_org.name, astraRoleName="R/W User", ttl="20s", maxTtl="60s"))
    cluster.wait_ready("astraroles", "it-short")
    cluster.must_apply(DEPLOYMENT.format(namespace=namespace))
    cluster.must_apply(token_manifest(
        "rotating", namespace, test_org.name, "it-short", renewBefore="33%", rotationGracePeriod="3s",
        rolloutRestartTargets=[{"kind": "Deployment", "name": "app"}]))
    first = cluster.wait_ready("astratokens", "rotating", namespace)["status"]
    first_token = cluster.secret_data("rotating", namespace)["token"]
    apps = k8s.AppsV1Api(k8s_api)

    def rotated() -> dict[str, Any] | None:
        status = cluster.token("rotating", namespace)["status"]
        return status if status.get("clientId") not in (None, first["clientId"]) else None

    second = wait_for(rotated, timeout=75, interval=0.5, what="the rotation")

    assert second["conditions"][0]["reason"] == "Rotated"
    wait_for(lambda: cluster.secret_data("rotating", namespace)["clientId"] == second["clientId"], timeout=10,
             what="the Secret updated in place")
    assert fake_astra.verify(cluster.secret_data("rotating", namespace)["token"]).valid
    wait_for(lambda: "astra-tokens.io/restartedAt" in (
        apps.read_namespaced_deployment("app", namespace).spec.template.metadata.annotations or {}),
        timeout=15, what="the workload restarted (after the restart batch window)")

    old = history(hvac_client, test_org.org_id, first["clientId"])
    actions = [version["lastAction"] for version in old]
    assert actions.count("renewed") >= 2, actions
    assert actions[0] == "minted"
    assert "superseded" in actions
    # The old token stays valid through the grace period, then is revoked.
    wait_for(lambda: not fake_astra.verify(first_token).valid, timeout=20, what="the old token revoked")
    final = history(hvac_client, test_org.org_id, first["clientId"])[-1]
    # Its grace may end at its max expiry, when Astra's own tokenExpiry takes it first: expired, then.
    # Never "deleted-externally": nobody else touched it.
    assert final["state"] in ("revoked", "expired", "superseded")
    new_record = history(hvac_client, test_org.org_id, second["clientId"])[0]
    assert new_record["supersedes"] == first["clientId"]


def test_a_rotate_request_rotates_once_on_behalf_of_the_requester(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, fake_astra: FakeAstraThread,
    hvac_client: hvac.Client, k8s_api: k8s.ApiClient, kubectl: Any,
) -> None:
    cluster.must_apply(DEPLOYMENT.format(namespace=namespace))
    cluster.must_apply(token_manifest("on-request", namespace, test_org.name, test_role, logicalName=namespace,
                                      rotationGracePeriod="1h",
                                      rolloutRestartTargets=[{"kind": "Deployment", "name": "app"}]))
    first = cluster.wait_ready("astratokens", "on-request", namespace)["status"]
    first_token = cluster.secret_data("on-request", namespace)["token"]
    apps = k8s.AppsV1Api(k8s_api)
    generation = apps.read_namespaced_deployment("app", namespace).metadata.generation

    asked = kubectl("annotate", "--as=rotation-requester", "--as-group=system:masters", "astratoken", "on-request",
                    "-n", namespace, "astra-tokens.io/rotate=now")

    assert asked.returncode == 0, asked.stderr
    second = wait_for(lambda: (s := cluster.token("on-request", namespace)["status"]).get("clientId") not in (
        None, first["clientId"]) and s, timeout=60, what="the rotation on request")
    wait_for(lambda: "astra-tokens.io/rotate" not in (
        cluster.token("on-request", namespace)["metadata"].get("annotations") or {}), timeout=30,
        what="the request removed once handled")
    assert second["conditions"][0]["reason"] == "Rotated"
    assert fake_astra.verify(first_token).valid  # superseded, valid through its grace period
    assert fake_astra.verify(cluster.secret_data("on-request", namespace)["token"]).valid
    deployment = wait_for(lambda: (d := apps.read_namespaced_deployment("app", namespace)).metadata.generation
                          == generation + 1 and d, timeout=15, what="the restart (batched over a window)")
    stamp = deployment.spec.template.metadata.annotations["astra-tokens.io/restartedAt"]
    rotated_at = datetime.fromisoformat(second["generatedOn"].replace("Z", "+00:00"))
    assert abs(datetime.fromisoformat(stamp) - rotated_at) < timedelta(seconds=30)  # "now": the rotation's time
    old = history(hvac_client, test_org.org_id, first["clientId"])[-1]
    assert (old["lastAction"], old["state"], old["actor"]["username"]) == (
        "superseded", "superseded", "rotation-requester")
    new = history(hvac_client, test_org.org_id, second["clientId"])
    # Minted for the requester; then the record notes its workloads were restarted for it.
    assert [(v["lastAction"], v["actor"]["username"]) for v in new] == [
        ("minted", "rotation-requester"), ("restarted", "astra-token-operator")]
    assert new[0]["requestedBy"]["username"] == "rotation-requester"
    assert new[0]["supersedes"] == first["clientId"]
    # Handled once: the token stays the same afterwards.
    assert cluster.token("on-request", namespace)["status"]["clientId"] == second["clientId"]
