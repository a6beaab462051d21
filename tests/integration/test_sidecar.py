"""Sidecar caller mode on the real control plane: a labelled pod asks for a token of its own, the
webhook mounts its Secret, the operator mints it through the usual path, and the token dies with the
pod. Most pods here are kept off the node (they stay Pending: what they would read is their Secret);
the tests marked `node` run the test app on the node and read the token it mounted."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import hvac
import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from astra_token_operator.fake_astra import FakeAstraThread
from integration.conftest import Cluster, org_manifest, role_manifest, root_token_secret, wait_for
from testplatform.node import TESTAPP_IMAGE, Node
from testplatform.operator import OperatorProcess
from testplatform.platform import Platform

SIDECAR_ORG_ID = "3b9d2c1a-6e5f-4a7b-8c9d-0e1f2a3b4c5d"
MINT = "POST /v2/clientIdSecrets"


@pytest.fixture(scope="module")
def sidecar_role(cluster: Cluster, fake_astra: FakeAstraThread, operator: OperatorProcess) -> str:
    admin = fake_astra.add_org(SIDECAR_ORG_ID)
    cluster.must_apply(root_token_secret("edge-root-token", admin))
    cluster.must_apply(org_manifest("edge", SIDECAR_ORG_ID, fake_astra.url, "edge-root-token", callerMode="sidecar"))
    cluster.wait_ready("astraorgs", "edge", timeout=30)
    cluster.must_apply(role_manifest("edge-rw", "edge", astraRoleName="R/W User", ttl="1h", maxTtl="4h"))
    cluster.wait_ready("astraroles", "edge-rw", timeout=30)
    return "edge-rw"


@pytest.fixture
def core(k8s_api: k8s.ApiClient, namespace: str) -> k8s.CoreV1Api:
    """The core API, once the test's namespace has its default ServiceAccount (pods need it)."""
    api = k8s.CoreV1Api(k8s_api)
    wait_for_service_account(api, namespace)
    return api


def wait_for_service_account(api: k8s.CoreV1Api, namespace: str) -> None:
    def exists() -> bool:
        try:
            api.read_namespaced_service_account("default", namespace)
        except ApiException:
            return False
        return True

    wait_for(exists, timeout=30, what=f"the default ServiceAccount of {namespace}")


def pod_body(name: str | None = "web-1", labelled: bool = True, generate: str | None = None,
             **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"labels": {"astra-tokens.io/inject": "true"} if labelled else {},
                            "annotations": {"astra-tokens.io/role": "edge-rw", **annotations}}
    if generate is not None:
        meta["generateName"] = generate
    else:
        meta["name"] = name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "app", "image": "example/app:1"}], "initContainers": [
                {"name": "init", "image": "example/init:1"}],
                     "nodeSelector": {"astra-tokens.io/test": "no-such-node"}}}  # Pending, off the node


def pod_token(cluster: Cluster, core: k8s.CoreV1Api, namespace: str, pod_name: str) -> dict[str, Any]:
    """The pod's AstraToken, Ready."""
    name = core.read_namespaced_pod(pod_name, namespace).metadata.annotations["astra-tokens.io/secret"]
    return cluster.wait_ready("astratokens", name, namespace, timeout=30)


def record(hvac_client: hvac.Client, client_id: str) -> dict[str, Any]:
    read = hvac_client.secrets.kv.v2.read_secret_version(
        path=f"astra-tokens/orgs/{SIDECAR_ORG_ID}/tokens/{client_id}", raise_on_deleted_version=True)
    data: dict[str, Any] = read["data"]["data"]
    return data


def test_a_labelled_pod_gets_its_secret_mounted_and_a_token_recorded_with_its_pod_and_creator(
    cluster: Cluster, sidecar_role: str, namespace: str, core: k8s.CoreV1Api, fake_astra: FakeAstraThread,
    hvac_client: hvac.Client, kubectl: Any,
) -> None:
    created = kubectl("--as=alice", "--as-group=system:masters", "-n", namespace, "apply", "-f", "-",
                      input=json.dumps(pod_body(**{"astra-tokens.io/metadata.team": "orders"})))
    assert created.returncode == 0, created.stderr
    pod = core.read_namespaced_pod("web-1", namespace)
    secret = pod.metadata.annotations["astra-tokens.io/secret"]
    volume = next(v for v in pod.spec.volumes if v.name == "astra-token")
    assert (volume.secret.secret_name, volume.secret.optional) == (secret, False)
    for container in [*pod.spec.containers, *pod.spec.init_containers]:
        mount = next(m for m in container.volume_mounts if m.name == "astra-token")
        assert (mount.mount_path, mount.read_only) == ("/var/run/secrets/astra-tokens.io", True)

    token = pod_token(cluster, core, namespace, "web-1")
    data = cluster.secret_data(secret, namespace)
    assert fake_astra.verify(data["token"]).valid
    assert token["metadata"]["ownerReferences"][0]["uid"] == pod.metadata.uid
    assert token["metadata"]["labels"]["astra-tokens.io/pod"] == "web-1"
    ledger = record(hvac_client, token["status"]["clientId"])
    assert ledger["metadata"] == {"team": "orders", "pod": "web-1", "podUid": pod.metadata.uid}
    assert ledger["createdBy"]["username"] == "alice"
    listed = kubectl("get", "astratokens", "-n", namespace, "-l", "astra-tokens.io/pod=web-1", "-o", "name")
    assert listed.stdout.strip() == f"astratoken.astra-tokens.io/{secret}"


def test_a_pod_from_generate_name_and_a_workload_owner_is_served_the_same(
    cluster: Cluster, sidecar_role: str, namespace: str, core: k8s.CoreV1Api, fake_astra: FakeAstraThread,
    hvac_client: hvac.Client, k8s_api: k8s.ApiClient,
) -> None:
    apps = k8s.AppsV1Api(k8s_api)
    owner = apps.create_namespaced_replica_set(namespace, {
        "metadata": {"name": "web-7d9f"}, "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                                                   "template": {"metadata": {"labels": {"app": "web"}},
                                                                "spec": {"containers": [{"name": "app",
                                                                                         "image": "x"}]}}}})
    body = pod_body(generate="web-", **{"astra-tokens.io/env": "true"})
    body["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f",
                                            "uid": owner.metadata.uid}]
    made = core.create_namespaced_pod(namespace, body)
    assert made.metadata.name.startswith("web-")
    env = next(e for e in made.spec.containers[0].env if e.name == "ASTRA_DB_APPLICATION_TOKEN")
    assert env.value_from.secret_key_ref.name == made.metadata.annotations["astra-tokens.io/secret"]
    token = pod_token(cluster, core, namespace, made.metadata.name)
    assert token["metadata"]["labels"]["astra-tokens.io/workload"] == "ReplicaSet.web-7d9f"
    assert record(hvac_client, token["status"]["clientId"])["metadata"]["workload"] == "ReplicaSet/web-7d9f"
    assert fake_astra.verify(cluster.secret_data(token["spec"]["secret"]["name"], namespace)["token"]).valid


def test_deleting_the_pod_revokes_its_token_and_names_who_deleted_it(
    cluster: Cluster, sidecar_role: str, namespace: str, core: k8s.CoreV1Api, fake_astra: FakeAstraThread,
    hvac_client: hvac.Client, kubectl: Any,
) -> None:
    core.create_namespaced_pod(namespace, pod_body("doomed"))
    token = pod_token(cluster, core, namespace, "doomed")
    client_id = token["status"]["clientId"]
    secret = cluster.secret_data(token["spec"]["secret"]["name"], namespace)["token"]
    started = time.monotonic()
    deleted = kubectl("--as=bob", "--as-group=system:masters", "-n", namespace, "delete", "pod", "doomed",
                      "--grace-period=0", "--force", "--wait=false")
    assert deleted.returncode == 0, deleted.stderr
    wait_for(lambda: not fake_astra.verify(secret).valid, timeout=10, what="the pod's token revoked")
    took = time.monotonic() - started

    def recorded_revoked() -> dict[str, Any] | None:  # revoked in Astra first, then recorded
        found = record(hvac_client, client_id)
        return found if found["state"] == "revoked" else None

    ledger = wait_for(recorded_revoked, timeout=10, what="the revocation recorded")
    assert ledger["revokedBy"]["username"] == "bob"
    assert took < 10


MOUNTED_TOKEN = "/var/run/secrets/astra-tokens.io/token"


def app_pod_template(app: str, astra_url: str, *args: str, **annotations: str) -> dict[str, Any]:
    """A labelled pod template of the test app on the node, reading the token mounted for it."""
    return {"metadata": {"labels": {"app": app, "astra-tokens.io/inject": "true"},
                         "annotations": {"astra-tokens.io/role": "edge-rw", **annotations}},
            "spec": {"hostNetwork": True, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "app", "image": TESTAPP_IMAGE, "imagePullPolicy": "Never",
                                     "args": [f"-astra-url={astra_url}", f"-token-file={MOUNTED_TOKEN}", *args]}]}}


def app_lines(kubectl: Any, namespace: str, pod: str) -> list[dict[str, Any]]:
    logs = kubectl("-n", namespace, "logs", pod)
    return [json.loads(line.removeprefix("TESTAPP ")) for line in logs.stdout.splitlines()
            if line.startswith("TESTAPP {")]


@pytest.mark.node
def test_a_job_pod_reads_its_token_and_once_it_succeeded_the_token_is_revoked_while_the_pod_lingers(
    cluster: Cluster, sidecar_role: str, namespace: str, core: k8s.CoreV1Api, fake_astra: FakeAstraThread,
    k8s_api: k8s.ApiClient, kubectl: Any, node: Node,
) -> None:
    template = app_pod_template("job", fake_astra.url, "-once")
    template["spec"]["restartPolicy"] = "Never"
    k8s.BatchV1Api(k8s_api).create_namespaced_job(namespace, {
        "metadata": {"name": "report"}, "spec": {"backoffLimit": 0, "template": template}})
    pod = wait_for(lambda: core.list_namespaced_pod(namespace, label_selector="job-name=report").items,
                   timeout=20, what="the Job's pod")[0]
    token = pod_token(cluster, core, namespace, pod.metadata.name)
    secret = cluster.secret_data(token["spec"]["secret"]["name"], namespace)["token"]
    # The app exits 0 only if the token it read from its mount authenticated.
    phase = wait_for(lambda: (p := core.read_namespaced_pod(pod.metadata.name, namespace).status.phase) in (
        "Succeeded", "Failed") and p, timeout=60, what="the Job's pod finished")
    assert phase == "Succeeded", app_lines(kubectl, namespace, pod.metadata.name)
    wait_for(lambda: not fake_astra.verify(secret).valid, timeout=15, what="the finished pod's token revoked")
    assert core.read_namespaced_pod(pod.metadata.name, namespace).status.phase == "Succeeded"  # it lingers


@pytest.mark.node
def test_each_replica_reads_a_token_of_its_own_and_sees_a_rotation_of_it_in_its_mount(
    cluster: Cluster, sidecar_role: str, namespace: str, core: k8s.CoreV1Api, fake_astra: FakeAstraThread,
    k8s_api: k8s.ApiClient, kubectl: Any, node: Node,
) -> None:
    k8s.AppsV1Api(k8s_api).create_namespaced_deployment(namespace, {
        "metadata": {"name": "reader"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "reader"}},
                 "template": app_pod_template("reader", fake_astra.url, "-interval=500ms")}})

    def running() -> list[k8s.V1Pod]:
        pods = core.list_namespaced_pod(namespace, label_selector="app=reader").items
        return pods if len(pods) == 2 and all(p.status.phase == "Running" for p in pods) else []

    pods = {p.metadata.name: p for p in wait_for(running, timeout=90, what="both replicas running")}
    tokens = {name: pod_token(cluster, core, namespace, name) for name in pods}
    assert len({t["status"]["clientId"] for t in tokens.values()}) == 2  # a token per replica

    def sees(pod: str, token: str) -> dict[str, Any] | None:
        lines = app_lines(kubectl, namespace, pod)
        return lines[-1] if lines and lines[-1]["tokenSha256"] == sha256(token) and lines[-1]["valid"] else None

    for name, tok in tokens.items():
        mounted = cluster.secret_data(tok["spec"]["secret"]["name"], namespace)["token"]
        wait_for(lambda n=name, m=mounted: sees(n, m), timeout=30, what=f"{name} reading its own token, valid")

    # A tenant asks for an emergency rotation of one replica's token: only that pod's mount changes.
    rotated_pod, other_pod = sorted(pods)
    before = tokens[rotated_pod]["status"]["clientId"]
    asked = kubectl("--as=alice", "--as-group=system:masters", "-n", namespace, "annotate", "astratoken",
                    tokens[rotated_pod]["metadata"]["name"], "astra-tokens.io/rotate=now")
    assert asked.returncode == 0, asked.stderr
    secret_name = tokens[rotated_pod]["spec"]["secret"]["name"]
    rotated = wait_for(lambda: (d := cluster.secret_data(secret_name, namespace))["clientId"] != before and d,
                       timeout=30, what="the replica's token rotated")
    wait_for(lambda: sees(rotated_pod, rotated["token"]), timeout=30,
             what="the rotated token in the replica's mount, valid")
    other = cluster.secret_data(tokens[other_pod]["spec"]["secret"]["name"], namespace)["token"]
    assert sees(other_pod, other), "the other replica's token changed too"
    assert core.read_namespaced_pod(rotated_pod, namespace).status.container_statuses[0].restart_count == 0


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_pod_whose_status_is_patched_to_succeeded_has_its_token_revoked_and_the_pod_stays(
    cluster: Cluster, sidecar_role: str, namespace: str, core: k8s.CoreV1Api, fake_astra: FakeAstraThread,
) -> None:
    core.create_namespaced_pod(namespace, pod_body("job-run"))
    token = pod_token(cluster, core, namespace, "job-run")
    secret = cluster.secret_data(token["spec"]["secret"]["name"], namespace)["token"]
    core.patch_namespaced_pod_status("job-run", namespace, {"status": {"phase": "Succeeded"}})
    wait_for(lambda: not fake_astra.verify(secret).valid, timeout=15, what="the finished pod's token revoked")
    assert core.read_namespaced_pod("job-run", namespace).status.phase == "Succeeded"  # the pod lingers


@pytest.fixture
def crashing_operator(operator: OperatorProcess) -> Iterator[OperatorProcess]:
    """The session's operator, stopped so a test can run one with failpoints; restarted after."""
    operator.stop()
    yield operator
    if not operator.alive():
        operator.start()


def test_the_operator_killed_between_a_pods_mint_and_its_record_leaves_nothing_the_ledger_does_not_know(
    cluster: Cluster, sidecar_role: str, namespace: str, core: k8s.CoreV1Api, fake_astra: FakeAstraThread,
    hvac_client: hvac.Client, crashing_operator: OperatorProcess,
) -> None:
    crashing_operator.start(extra_env={"ASTRA_OPERATOR_FAILPOINTS": json.dumps(["after-create"])})
    core.create_namespaced_pod(namespace, pod_body("crashy"))
    assert crashing_operator.wait_exit(timeout=30) == -9  # died by SIGKILL with the token made, not recorded
    crashing_operator.start()
    token = pod_token(cluster, core, namespace, "crashy")
    assert fake_astra.verify(cluster.secret_data(token["spec"]["secret"]["name"], namespace)["token"]).valid
    pod_uid = core.read_namespaced_pod("crashy", namespace).metadata.uid
    made_for_pod = [v for v in fake_astra.tokens(SIDECAR_ORG_ID) if namespace in v.description]
    assert len(made_for_pod) == 2, "the crash's token and the one minted after it"
    valid = [v.client_id for v in made_for_pod if v.state == "valid"]
    assert valid == [token["status"]["clientId"]]  # the crash's token was found by its marker and revoked
    assert record(hvac_client, valid[0])["metadata"]["podUid"] == pod_uid


def test_a_pod_back_under_the_same_name_at_once_gets_a_token_of_its_own(
    cluster: Cluster, sidecar_role: str, namespace: str, core: k8s.CoreV1Api, fake_astra: FakeAstraThread,
) -> None:
    """What a StatefulSet does: the pod is replaced under its name while the old token is revoked."""
    core.create_namespaced_pod(namespace, pod_body("db-0"))
    first = pod_token(cluster, core, namespace, "db-0")
    first_secret = cluster.secret_data(first["spec"]["secret"]["name"], namespace)["token"]
    core.delete_namespaced_pod("db-0", namespace, grace_period_seconds=0)
    wait_for(lambda: not core.list_namespaced_pod(namespace, field_selector="metadata.name=db-0").items,
             timeout=10, what="the first db-0 gone")
    core.create_namespaced_pod(namespace, pod_body("db-0"))
    second = pod_token(cluster, core, namespace, "db-0")
    assert second["metadata"]["name"] != first["metadata"]["name"]
    assert fake_astra.verify(cluster.secret_data(second["spec"]["secret"]["name"], namespace)["token"]).valid
    wait_for(lambda: not fake_astra.verify(first_secret).valid, timeout=10, what="the first pod's token revoked")


def test_a_pod_deleted_at_once_leaves_nothing_valid_the_ledger_does_not_know(
    cluster: Cluster, sidecar_role: str, namespace: str, core: k8s.CoreV1Api, fake_astra: FakeAstraThread,
    hvac_client: hvac.Client,
) -> None:
    for i in range(5):
        core.create_namespaced_pod(namespace, pod_body(f"brief-{i}"))
        core.delete_namespaced_pod(f"brief-{i}", namespace, grace_period_seconds=0)

    def settled() -> bool:
        tokens = cluster.objects.list_namespaced_custom_object("astra-tokens.io", "v1alpha1", namespace,
                                                               "astratokens")["items"]
        return not [t for t in tokens if t["metadata"].get("labels", {}).get("astra-tokens.io/pod", "").startswith(
            "brief-")]

    wait_for(settled, timeout=60, what="every brief pod's AstraToken gone")
    for view in fake_astra.tokens(SIDECAR_ORG_ID):
        if view.state == "valid" and not view.is_admin and "brief-" in view.description:
            pytest.fail(f"{view.client_id} of a deleted pod is still valid")


@pytest.mark.parametrize(("annotations", "said"), [
    ({"astra-tokens.io/role": "no-such-role"}, "AstraRole 'no-such-role' does not exist"),
    ({"astra-tokens.io/role": "it-rw"}, "which is in standard mode"),
    ({"astra-tokens.io/ttl": "9h"}, "longer than AstraRole 'edge-rw''s maxTtl 4h"),
    ({"astra-tokens.io/ttl": "soon"}, "is not a duration"),
    ({"astra-tokens.io/containers": "ghost"}, "names ghost, which the pod does not have"),
])
def test_a_pod_that_cannot_have_a_token_is_not_created_and_nothing_is_minted(
    cluster: Cluster, sidecar_role: str, test_role: str, namespace: str, core: k8s.CoreV1Api,
    fake_astra: FakeAstraThread, annotations: dict[str, str], said: str,
) -> None:
    mints = fake_astra.counters().count(endpoint=MINT)
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, pod_body("refused", **annotations))
    assert said in refused.value.body
    with pytest.raises(ApiException):
        core.read_namespaced_pod("refused", namespace)
    assert fake_astra.counters().count(endpoint=MINT) == mints


def test_a_pod_with_the_reserved_volume_name_is_refused(
    sidecar_role: str, namespace: str, core: k8s.CoreV1Api,
) -> None:
    body = pod_body("clash")
    body["spec"]["volumes"] = [{"name": "astra-token", "emptyDir": {}}]
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, body)
    assert "already has a volume named 'astra-token'" in refused.value.body


def test_a_namespace_the_org_does_not_allow_is_refused(
    cluster: Cluster, sidecar_role: str, make_namespace: Any, core: k8s.CoreV1Api,
) -> None:
    cluster.must_apply(role_manifest("edge-narrow", "edge", astraRoleName="R/W User", allowedNamespaces=["only-*"]))
    cluster.wait_ready("astraroles", "edge-narrow")
    namespace = make_namespace("elsewhere")
    wait_for_service_account(core, namespace)
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, pod_body("outside", **{"astra-tokens.io/role": "edge-narrow"}))
    assert "edge-narrow" in refused.value.body


def test_tenants_cannot_make_change_or_delete_a_pods_token(
    cluster: Cluster, sidecar_role: str, namespace: str, core: k8s.CoreV1Api, kubectl: Any,
) -> None:
    core.create_namespaced_pod(namespace, pod_body("guarded"))
    token = pod_token(cluster, core, namespace, "guarded")
    name = token["metadata"]["name"]
    as_tenant = ("--as=mallory", "--as-group=system:masters", "-n", namespace)
    changed = kubectl(*as_tenant, "annotate", "astratoken", name, "astra-tokens.io/revoke=now")
    assert changed.returncode != 0
    assert "only the operator changes it" in changed.stderr
    # Its pod label is what keeps it from deletion: a label-only update is judged too.
    unlabelled = kubectl(*as_tenant, "label", "astratoken", name, "astra-tokens.io/pod-")
    assert unlabelled.returncode != 0
    assert "only the operator changes it" in unlabelled.stderr
    deleted = kubectl(*as_tenant, "delete", "astratoken", name, "--wait=false")
    assert deleted.returncode != 0
    assert "delete the pod instead" in deleted.stderr
    forged = dict(token)
    forged["metadata"] = {"name": "forged", "namespace": namespace,
                          "annotations": {"astra-tokens.io/pod": "some-uid"}}
    forged.pop("status", None)
    made = kubectl(*as_tenant, "apply", "-f", "-", input=json.dumps(forged))
    assert made.returncode != 0
    assert "made by the operator for pods" in made.stderr


def test_fifty_pods_each_get_a_distinct_token(
    cluster: Cluster, sidecar_role: str, namespace: str, core: k8s.CoreV1Api, fake_astra: FakeAstraThread,
) -> None:
    names = [f"many-{i:02d}" for i in range(50)]
    for name in names:
        core.create_namespaced_pod(namespace, pod_body(name))
    client_ids = {pod_token(cluster, core, namespace, name)["status"]["clientId"] for name in names}
    assert len(client_ids) == 50


def test_unlabelled_pods_never_reach_the_webhook_and_pods_are_watched_only_by_label(
    platform: Platform, sidecar_role: str, namespace: str, core: k8s.CoreV1Api, kubectl: Any,
) -> None:
    def inject_calls() -> float:
        metrics = kubectl("get", "--raw", "/metrics").stdout
        return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                   if line.startswith("apiserver_admission_webhook_admission_duration_seconds_count")
                   and 'name="inject-pod.' in line)

    before = inject_calls()
    core.create_namespaced_pod(namespace, pod_body("plain", labelled=False))
    assert inject_calls() == before  # the objectSelector kept it away
    core.create_namespaced_pod(namespace, pod_body("labelled"))
    assert inject_calls() == before + 1

    audit_log = platform.controlplane.audit_log
    if audit_log is None:
        pytest.skip("make e2e-kind: the kind cluster's apiserver writes no audit log this test can read")
    entries = [json.loads(line) for line in audit_log.read_text().splitlines() if line.strip()]
    collections = [e for e in entries if e.get("objectRef", {}).get("resource") == "pods"
                   and e.get("verb") in ("list", "watch") and e.get("userAgent", "").startswith("kopf")]
    assert collections, "the operator's pod watch is not in the audit log"
    for entry in collections:
        assert parse_qs(urlsplit(entry["requestURI"]).query).get("labelSelector") == ["astra-tokens.io/inject=true"]


@pytest.fixture
def stopped_operator(operator: OperatorProcess) -> Iterator[OperatorProcess]:
    operator.stop()
    yield operator
    operator.start()


def test_with_the_operator_stopped_labelled_pods_fail_closed_and_others_are_unaffected(
    sidecar_role: str, namespace: str, core: k8s.CoreV1Api, stopped_operator: OperatorProcess,
) -> None:
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, pod_body("while-down"))
    assert "inject-pod" in refused.value.body
    core.create_namespaced_pod(namespace, pod_body("plain-while-down", labelled=False))
