"""Zero-downtime delivery on the real platform: the old token outlives the rollout of the workloads
restarted for the new one, restarts of a shared workload are batched, label-selected targets and
Argo Rollouts restart, and the Secret takes the shape its template asks for.

Rollouts are real: the control plane's Deployment controller rolls pods out on the suite's node,
where they read the token from the mounted Secret."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client as k8s

from astra_token_operator.fake_astra import FakeAstraThread
from integration.conftest import Cluster, OrgHandle, role_manifest, token_manifest, wait_for
from testplatform.node import TESTAPP_IMAGE, Node

MINT = "POST /v2/clientIdSecrets"


def deployment(name: str, namespace: str, labels: dict[str, str] | None = None) -> str:
    """A Deployment of nothing: its controller finishes each rollout at once."""
    return json.dumps({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
                       "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                                "template": {"metadata": {"labels": {"app": name}},
                                             "spec": {"containers": [{"name": "app", "image": "example/app:1"}]}}}})


def app_deployment(name: str, namespace: str, secret: str, astra_url: str, *, min_ready_seconds: int = 0,
                   never_ready: bool = False) -> str:
    """One pod of the test app on the node, reading its token from the Secret. A new pod counts as
    available only min_ready_seconds after it is Ready (which holds a rollout in progress that
    long); never_ready gives it a readiness probe that always fails (a rollout that never ends)."""
    container: dict[str, Any] = {
        "name": "app", "image": TESTAPP_IMAGE, "imagePullPolicy": "Never",
        "args": [f"-astra-url={astra_url}", "-token-file=/var/run/astra/token"],
        "volumeMounts": [{"name": "astra", "mountPath": "/var/run/astra", "readOnly": True}]}
    if never_ready:
        container["readinessProbe"] = {"exec": {"command": ["/nonexistent"]}, "periodSeconds": 1}
    return json.dumps({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": name, "namespace": namespace},
                       "spec": {"replicas": 1, "minReadySeconds": min_ready_seconds,
                                "selector": {"matchLabels": {"app": name}},
                                "strategy": {"type": "RollingUpdate",
                                             "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                                "template": {"metadata": {"labels": {"app": name}}, "spec": {
                                    "hostNetwork": True, "terminationGracePeriodSeconds": 1,
                                    "containers": [container],
                                    "volumes": [{"name": "astra", "secret": {"secretName": secret}}]}}}})


def rolled_out(apps: k8s.AppsV1Api, namespace: str, name: str) -> bool:
    """What `kubectl rollout status` waits for: every replica of the latest template, available, and
    no old one left."""
    current = apps.read_namespaced_deployment(name, namespace)
    status, wanted = current.status, current.spec.replicas
    return bool((status.observed_generation or 0) >= current.metadata.generation
                and (status.updated_replicas or 0) == wanted and (status.available_replicas or 0) == wanted
                and (status.replicas or 0) == wanted)


def restart_stamp(apps: k8s.AppsV1Api, namespace: str, name: str) -> str | None:
    template = apps.read_namespaced_deployment(name, namespace).spec.template.metadata
    return (template.annotations or {}).get("astra-tokens.io/restartedAt")


@pytest.fixture(scope="module")
def delivery_role(cluster: Cluster, test_org: OrgHandle) -> str:
    cluster.must_apply(role_manifest("it-delivery", test_org.name, astraRoleName="R/W User", ttl="1h", maxTtl="24h"))
    cluster.wait_ready("astraroles", "it-delivery")
    return "it-delivery"


@pytest.fixture
def apps(k8s_api: k8s.ApiClient) -> k8s.AppsV1Api:
    return k8s.AppsV1Api(k8s_api)


def rotate(cluster: Cluster, kubectl: Any, namespace: str, *names: str, rotation: str = "now") -> dict[str, str]:
    """Ask for rotations (as kubectl astra rotate does) and wait until each token has a new client id."""
    before = {name: cluster.token(name, namespace)["status"]["clientId"] for name in names}
    for name in names:
        done = kubectl("-n", namespace, "annotate", "astratoken", name, f"astra-tokens.io/rotate={rotation}")
        assert done.returncode == 0, done.stderr
    return {name: wait_for(lambda n=name: (c := cluster.token(n, namespace)["status"]["clientId"]) != before[n] and c,
                           timeout=30, what=f"{name} rotated") for name in names}


@pytest.mark.node
def test_the_old_token_stays_valid_until_the_rollout_finishes_then_for_the_grace(
    cluster: Cluster, test_org: OrgHandle, delivery_role: str, namespace: str, fake_astra: FakeAstraThread,
    apps: k8s.AppsV1Api, kubectl: Any, node: Node,
) -> None:
    cluster.must_apply(token_manifest("web-token", namespace, test_org.name, delivery_role, rotationGracePeriod="3s",
                                      rolloutRestartTargets=[{"kind": "Deployment", "name": "web"}]))
    cluster.wait_ready("astratokens", "web-token", namespace)
    cluster.must_apply(app_deployment("web", namespace, "web-token", fake_astra.url, min_ready_seconds=10))
    wait_for(lambda: rolled_out(apps, namespace, "web"), timeout=60, what="the first pod available")
    assert restart_stamp(apps, namespace, "web") is None  # a first Secret restarts nothing
    old_token = cluster.secret_data("web-token", namespace)["token"]

    rotate(cluster, kubectl, namespace, "web-token")
    wait_for(lambda: restart_stamp(apps, namespace, "web"), timeout=20, what="the Deployment restarted")
    # The new pod is Ready within seconds, available 10 s later; only then does the old one go.
    # Until then, far past the 3 s grace, the old token stays valid.
    restarted = time.monotonic()
    while not rolled_out(apps, namespace, "web"):
        assert fake_astra.verify(old_token).valid, "revoked while the rollout was in progress"
        assert time.monotonic() - restarted < 60, "the rollout never finished"
        time.sleep(0.5)
    assert time.monotonic() - restarted > 6, "the rollout was over before the grace could have passed"
    wait_for(lambda: not fake_astra.verify(old_token).valid, timeout=20,
             what="the old token revoked within the grace after the rollout")
    status = cluster.token("web-token", namespace)["status"]
    assert status["restarts"] == 1
    reasons = [event.reason for event in cluster.events_for("web", namespace)]
    assert "RolloutRestarted" in reasons  # an Event on the workload too


@pytest.mark.node
def test_a_rollout_that_never_finishes_keeps_the_old_token_until_its_max_expiry_and_warns(
    cluster: Cluster, test_org: OrgHandle, namespace: str, fake_astra: FakeAstraThread, apps: k8s.AppsV1Api,
    kubectl: Any, node: Node,
) -> None:
    cluster.must_apply(role_manifest("it-delivery-short", test_org.name, astraRoleName="R/W User", ttl="45s",
                                     maxTtl="60s"))
    cluster.wait_ready("astraroles", "it-delivery-short")
    cluster.must_apply(token_manifest("stuck-token", namespace, test_org.name, "it-delivery-short",
                                      rotationGracePeriod="1s",
                                      rolloutRestartTargets=[{"kind": "Deployment", "name": "stuck"}]))
    first = cluster.wait_ready("astratokens", "stuck-token", namespace)["status"]
    # Its pods run but never pass their readiness probe: no rollout of it ever finishes.
    cluster.must_apply(app_deployment("stuck", namespace, "stuck-token", fake_astra.url, never_ready=True))
    old_token = cluster.secret_data("stuck-token", namespace)["token"]
    rotate(cluster, kubectl, namespace, "stuck-token")
    wait_for(lambda: restart_stamp(apps, namespace, "stuck"), timeout=20, what="the Deployment restarted")
    stuck = wait_for(lambda: [e for e in cluster.events_for("stuck-token", namespace) if e.reason == "RolloutStuck"],
                     timeout=40, what="a Warning that the rollout is stuck (after the suite's 15 s bound)")
    assert "Deployment stuck" in (stuck[0].message or "")
    assert stuck[0].type == "Warning"
    assert fake_astra.verify(old_token).valid  # past its grace: still valid, the rollout never finished
    condition = next(c for c in cluster.token("stuck-token", namespace)["status"]["conditions"]
                     if c["type"] == "RolledOut")
    assert condition["reason"] == "RolloutStuck"
    wait_for(lambda: not fake_astra.verify(old_token).valid, timeout=60,
             what=f"the old token revoked at its max expiry {first['maxExpiresAt']}")


def test_two_tokens_rotated_within_the_window_restart_their_shared_deployment_once(
    cluster: Cluster, test_org: OrgHandle, delivery_role: str, namespace: str, apps: k8s.AppsV1Api, kubectl: Any,
) -> None:
    cluster.must_apply(deployment("shop", namespace))
    target = [{"kind": "Deployment", "name": "shop"}]
    for name in ("cart", "checkout"):
        cluster.must_apply(token_manifest(name, namespace, test_org.name, delivery_role,
                                          rolloutRestartTargets=target))
        cluster.wait_ready("astratokens", name, namespace)
    generation = apps.read_namespaced_deployment("shop", namespace).metadata.generation
    assert restart_stamp(apps, namespace, "shop") is None  # creating tokens restarts nothing

    rotate(cluster, kubectl, namespace, "cart", "checkout")
    wait_for(lambda: restart_stamp(apps, namespace, "shop"), timeout=20, what="the Deployment restarted")
    wait_for(lambda: all(cluster.token(n, namespace)["status"].get("restarts") == 1 for n in ("cart", "checkout")),
             timeout=20, what="both tokens counted the restart")
    assert apps.read_namespaced_deployment("shop", namespace).metadata.generation == generation + 1


def test_a_label_selected_target_restarts_every_match_and_no_other(
    cluster: Cluster, test_org: OrgHandle, delivery_role: str, namespace: str, apps: k8s.AppsV1Api, kubectl: Any,
) -> None:
    for name, tier in (("front", "shop"), ("back", "shop"), ("blog", "blog")):
        cluster.must_apply(deployment(name, namespace, labels={"tier": tier}))
    cluster.must_apply(token_manifest("tiered", namespace, test_org.name, delivery_role, rolloutRestartTargets=[
        {"kind": "Deployment", "selector": {"matchLabels": {"tier": "shop"}}}]))
    cluster.wait_ready("astratokens", "tiered", namespace)
    rotate(cluster, kubectl, namespace, "tiered")
    wait_for(lambda: restart_stamp(apps, namespace, "front") and restart_stamp(apps, namespace, "back"),
             timeout=20, what="both shop Deployments restarted")
    assert restart_stamp(apps, namespace, "blog") is None


ROLLOUT_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "rollouts.argoproj.io"},
    "spec": {"group": "argoproj.io", "scope": "Namespaced",
             "names": {"plural": "rollouts", "singular": "rollout", "kind": "Rollout"},
             "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                           "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}}}]}}


def test_an_argo_rollout_is_restarted_through_its_restart_at(
    cluster: Cluster, test_org: OrgHandle, delivery_role: str, namespace: str, kubectl: Any,
) -> None:
    cluster.must_apply(json.dumps(ROLLOUT_CRD))
    assert kubectl("wait", "--for=condition=Established", "crd/rollouts.argoproj.io", "--timeout=30s").returncode == 0
    cluster.must_apply(json.dumps({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                   "metadata": {"name": "canary", "namespace": namespace}, "spec": {"replicas": 1}}))
    cluster.must_apply(token_manifest("argo", namespace, test_org.name, delivery_role, rolloutRestartTargets=[
        {"kind": "Rollout", "name": "canary"}]))
    cluster.wait_ready("astratokens", "argo", namespace)
    rotate(cluster, kubectl, namespace, "argo")

    def restart_at() -> str | None:
        rollout = cluster.objects.get_namespaced_custom_object("argoproj.io", "v1alpha1", namespace, "rollouts",
                                                               "canary")
        return rollout.get("spec", {}).get("restartAt")

    assert wait_for(restart_at, timeout=20, what="the Rollout's spec.restartAt set").endswith("Z")


# --- the Secret's shape ----------------------------------------------------------------------------

@pytest.mark.parametrize(("preset", "keys"), [
    ("default", {"token", "clientId", "clientSecret", "orgId", "expiresAt"}),
    ("env", {"ASTRA_DB_APPLICATION_TOKEN", "ASTRA_DB_CLIENT_ID", "ASTRA_DB_CLIENT_SECRET"}),
    ("properties", {"astra.properties"}),
    ("dotenv", {".env"}),
])
def test_each_preset_publishes_its_documented_keys(
    cluster: Cluster, test_org: OrgHandle, delivery_role: str, namespace: str, fake_astra: FakeAstraThread,
    preset: str, keys: set[str],
) -> None:
    cluster.must_apply(token_manifest("shaped", namespace, test_org.name, delivery_role,
                                      logicalName=f"shaped-{preset}", secret={"template": {"preset": preset}}))
    status = cluster.wait_ready("astratokens", "shaped", namespace)["status"]
    data = cluster.secret_data("shaped", namespace)
    assert set(data) == keys
    token = next(v for k, v in data.items() if k in ("token", "ASTRA_DB_APPLICATION_TOKEN")) if preset in (
        "default", "env") else next(line.split("=", 1)[1] for line in next(iter(data.values())).splitlines()
                                    if line.startswith(("astra.token=", "ASTRA_DB_APPLICATION_TOKEN=")))
    assert fake_astra.verify(token).valid
    assert status["clientId"] in "".join(data.values())


def test_a_custom_template_renders_byte_for_byte_and_follows_renewals(
    cluster: Cluster, test_org: OrgHandle, delivery_role: str, namespace: str, kubectl: Any,
) -> None:
    template = {"type": "Opaque", "template": {"preset": "env", "data": {
        "application.properties": "astra.org={{ orgName }}\nastra.team={{ metadata.team }}\n"
                                  "astra.expiresAt={{ expiresAt }}\n"}}}
    cluster.must_apply(token_manifest("custom", namespace, test_org.name, delivery_role, secret=template,
                                      metadata={"team": "orders"}))
    status = cluster.wait_ready("astratokens", "custom", namespace)["status"]
    expected = f"astra.org={test_org.name}\nastra.team=orders\nastra.expiresAt={status['leaseExpiresAt']}\n"
    assert cluster.secret_data("custom", namespace)["application.properties"] == expected
    assert "ASTRA_DB_APPLICATION_TOKEN" in cluster.secret_data("custom", namespace)

    assert kubectl("-n", namespace, "annotate", "astratoken", "custom", "astra-tokens.io/renew=2h").returncode == 0
    renewed = wait_for(lambda: (s := cluster.token("custom", namespace)["status"]).get("renewals") == 1 and s,
                       timeout=20, what="the renewal")
    wait_for(lambda: cluster.secret_data("custom", namespace)["application.properties"] == (
        f"astra.org={test_org.name}\nastra.team=orders\nastra.expiresAt={renewed['leaseExpiresAt']}\n"),
        timeout=10, what="the template rendered again for the renewed lease")


@pytest.mark.parametrize(("template", "said"), [
    ({"data": {"bad key!": "x"}}, "'bad key!' is not a valid Secret key"),
    ({"data": {"conf": "{{ tokn }}"}}, "'tokn' is undefined"),
    ({"data": {"conf": "{{ metadata.team }}"}}, "has no attribute 'team'"),
    ({"data": {"conf": "{% for %}"}}, "does not render"),
])
def test_a_template_that_cannot_render_is_refused_and_nothing_is_minted(
    cluster: Cluster, test_org: OrgHandle, delivery_role: str, namespace: str, fake_astra: FakeAstraThread,
    template: dict[str, Any], said: str,
) -> None:
    mints = fake_astra.counters().count(org=test_org.org_id, endpoint=MINT)
    refused = cluster.apply(token_manifest("broken", namespace, test_org.name, delivery_role,
                                           secret={"template": template}))
    assert refused.returncode != 0
    assert said in refused.stderr
    assert "secret.template key" in refused.stderr or "Secret key" in refused.stderr
    assert cluster.get("astratokens", "broken", namespace) is None
    assert fake_astra.counters().count(org=test_org.org_id, endpoint=MINT) == mints
