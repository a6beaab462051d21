"""The operator as users run it: its image built from the Dockerfile, installed
with `helm install` on a real node, Ready through its own probes, admitting
AstraTokens through the chart's Service and certificate, with the chart's RBAC
and securityContext; and workloads that mount its Secrets: a container reads a
token that authenticates, sees renewals and rotations in the mounted files
without restarting, and is replaced by a rollout when its token rotates.

The node runs every pod on the host network (it is registered as 127.0.0.1):
the chart's `hostNetwork` value, and KUBERNETES_SERVICE_HOST/PORT pointing at
the apiserver on 127.0.0.1, as no kube-proxy serves the `kubernetes` Service."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import pytest
import yaml
from kubernetes import client as k8s

from astra_token_operator.fake_astra import FakeAstraThread
from astra_token_operator.surface import ANNOTATION_CREATED_BY
from integration.conftest import (
    GROUP,
    VAULT_TOKEN_SECRET,
    VERSION,
    Cluster,
    OrgHandle,
    release_pods_ready,
    set_webhooks,
    suite_operator_aside,
    token_manifest,
    wait_for,
)
from integration.test_crash_safety import assert_exactly_one_live_token
from integration.test_helm_chart import CHART
from testplatform.node import NODE_NAME, TESTAPP_IMAGE, Node
from testplatform.operator import OperatorProcess
from testplatform.platform import Platform

pytestmark = pytest.mark.node

TENANT_USER = "alice"


@dataclass
class PodRelease:
    name: str
    namespace: str
    fullname: str
    org: OrgHandle
    role: str  # ttl 20s, maxTtl 60s: renews and rotates within a test
    long_role: str  # ttl 1h, maxTtl 24h: changes only when asked
    helm: Any
    installed: bool = True

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/instance={self.name}"

    def uninstall(self) -> None:
        if self.installed:
            self.helm("uninstall", self.name, "--namespace", self.namespace, "--wait", "--timeout=120s",
                      timeout=150)
            self.installed = False


# --- helpers -------------------------------------------------------------------------------------

def pods(core: k8s.CoreV1Api, namespace: str, selector: str) -> list[k8s.V1Pod]:
    return [p for p in core.list_namespaced_pod(namespace, label_selector=selector).items
            if p.metadata.deletion_timestamp is None]


def ready(pod: k8s.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def container_status(pod: k8s.V1Pod) -> k8s.V1ContainerStatus:
    (status,) = pod.status.container_statuses
    return status


def app_lines(kubectl: Any, namespace: str, pod: str) -> list[dict[str, Any]]:
    """What the test app printed (one line each time what it sees changes)."""
    logs = kubectl("logs", "-n", namespace, pod)
    assert logs.returncode == 0, logs.stderr
    return [json.loads(line.removeprefix("TESTAPP ")) for line in logs.stdout.splitlines()
            if line.startswith("TESTAPP {")]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def app_deployment(name: str, namespace: str, secret: str, astra_url: str, replicas: int = 1) -> str:
    labels = {"app": name}
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": labels},
            # Host ports are none, but one node: let the old pod go first, as a small cluster would.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": labels}, "spec": {
                "hostNetwork": True,
                "terminationGracePeriodSeconds": 5,
                "securityContext": {"runAsNonRoot": True, "runAsUser": 65532,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "app", "image": TESTAPP_IMAGE, "imagePullPolicy": "Never",
                    "args": [f"-astra-url={astra_url}", "-token-file=/var/run/astra/token", "-interval=500ms"],
                    "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                        "capabilities": {"drop": ["ALL"]}},
                    "volumeMounts": [{"name": "astra", "mountPath": "/var/run/astra", "readOnly": True}],
                }],
                "volumes": [{"name": "astra", "secret": {"secretName": secret}}],
            }},
        },
    })


def host_process_status(node: Node, container_id: str) -> dict[str, str]:
    """/proc/<pid>/status of a container's main process, as the kernel sees it."""
    (line,) = [line for line in node.ctr("tasks", "ls").stdout.splitlines() if line.startswith(container_id)]
    pid = line.split()[1]
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    fields["root_mount_options"] = next(
        entry.split()[5] for entry in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
        if entry.split()[4] == "/")
    return {key: value.strip() for key, value in fields.items()}


def namespace_containers(node: Node, namespace: str) -> list[str]:
    """Running containers (sandboxes included) of pods in a namespace, as the runtime lists them."""
    mine = set(node.ctr("containers", "ls", "-q", f'labels."io.kubernetes.pod.namespace"=={namespace}')
               .stdout.split())
    return [task for task in node.running_containers() if task in mine]


# --- the release ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pod_release(
    helm: Any, node: Node, pod_values: Any, platform: Platform, operator: OperatorProcess, kubectl: Any,
    cluster: Cluster, k8s_api: k8s.ApiClient, crds: Path, fake_astra: FakeAstraThread,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PodRelease]:
    """`helm install` of the chart with the image built from the Dockerfile, standing in for the
    suite's operator, with an org and roles of its own. Uninstalled afterwards."""
    suffix = uuid.uuid4().hex[:6]
    name, namespace = f"pod-{suffix}", f"ato-pod-{suffix}"
    values_file = tmp_path_factory.mktemp("pod-release") / "values.yaml"
    values_file.write_text(yaml.safe_dump(pod_values()))
    core = k8s.CoreV1Api(k8s_api)
    release = PodRelease(name=name, namespace=namespace, fullname=f"{name}-astra-token-operator", helm=helm,
                         role=f"pod-rw-{suffix}", long_role=f"pod-long-{suffix}",
                         org=OrgHandle(f"pod-org-{suffix}", str(uuid.uuid4()), "", "pod-root-token"))
    with suite_operator_aside(operator, kubectl):
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
        try:
            core.create_namespaced_secret(namespace, k8s.V1Secret(
                metadata=k8s.V1ObjectMeta(name=VAULT_TOKEN_SECRET), string_data={"token": platform.openbao.token}))
            started = time.monotonic()
            helm("install", name, str(CHART), "--namespace", namespace, "-f", str(values_file))
            # Not `helm install --wait`: with hostNetwork the chart's maxUnavailable is 1, and helm
            # counts a Deployment of one replica with none ready as ready.
            wait_for(lambda: release_pods_ready(core, namespace, name), timeout=180, interval=1,
                     what="the operator pod Ready")
            print(f"operator pod Ready {time.monotonic() - started:.1f} s after helm install")
            admin_token = fake_astra.add_org(release.org.org_id)
            release.org = OrgHandle(release.org.name, release.org.org_id, admin_token, release.org.secret_name)
            core.create_namespaced_secret(namespace, k8s.V1Secret(
                metadata=k8s.V1ObjectMeta(name=release.org.secret_name), string_data={"token": admin_token}))
            cluster.must_apply(json.dumps({
                "apiVersion": f"{GROUP}/{VERSION}", "kind": "AstraOrg", "metadata": {"name": release.org.name},
                "spec": {"orgId": release.org.org_id, "url": fake_astra.url, "allowedNamespaces": ["*"],
                         "rootTokenRef": {"secret": {"namespace": namespace, "name": release.org.secret_name}}}}))
            cluster.wait_ready("astraorgs", release.org.name, timeout=60)
            for role, ttl, max_ttl in ((release.role, "20s", "60s"), (release.long_role, "1h", "24h")):
                cluster.must_apply(json.dumps({
                    "apiVersion": f"{GROUP}/{VERSION}", "kind": "AstraRole", "metadata": {"name": role},
                    "spec": {"orgRef": release.org.name, "astraRoleName": "R/W User", "ttl": ttl, "maxTtl": max_ttl}}))
            for role in (release.role, release.long_role):
                cluster.wait_ready("astraroles", role, timeout=60)
            yield release
        finally:
            release.uninstall()
            set_webhooks(kubectl, f"{release.fullname}.astra-tokens.io", None)
    # The suite's operator is back (the same finalizer): it lets the org and the roles go.
    for plural, obj in (("astraroles", release.role), ("astraroles", release.long_role),
                        ("astraorgs", release.org.name)):
        cluster.delete(plural, obj)
    core.delete_namespace(namespace)


@pytest.fixture
def tenant(make_namespace: Any, kubectl: Any) -> str:
    """A tenant namespace where TENANT_USER has the built-in edit role (which the chart
    aggregates AstraToken rights into)."""
    name = make_namespace("tenant")
    bound = kubectl("create", "rolebinding", f"{TENANT_USER}-edit", "--clusterrole=edit", f"--user={TENANT_USER}",
                    "-n", name)
    assert bound.returncode == 0, bound.stderr
    return name


# --- the tests -----------------------------------------------------------------------------------

def test_operator_pod_from_helm_install_is_ready_through_its_probes_and_runs_confined(
    pod_release: PodRelease, k8s_api: k8s.ApiClient, node: Node,
) -> None:
    core = k8s.CoreV1Api(k8s_api)
    (pod,) = pods(core, pod_release.namespace, pod_release.selector)
    assert ready(pod)
    assert pod.spec.node_name == NODE_NAME
    assert pod.status.pod_ip == "127.0.0.1"
    operator = pod.spec.containers[0]
    # Ready came from the chart's own probes, run by the kubelet.
    assert operator.startup_probe.http_get.path == "/healthz"
    assert operator.readiness_probe.http_get.path == "/readyz"  # the webhook serves and Vault answers
    assert operator.liveness_probe.http_get.path == "/livez"
    status = container_status(pod)
    assert status.started
    assert status.ready
    assert status.restart_count == 0

    # What the kernel enforces on the container's process: the chart's securityContext.
    proc = host_process_status(node, status.container_id.removeprefix("containerd://"))
    assert proc["Uid"].split() == ["10001"] * 4
    assert proc["Gid"].split() == ["10001"] * 4
    assert int(proc["CapEff"], 16) == 0
    assert int(proc["CapPrm"], 16) == 0
    assert int(proc["CapBnd"], 16) == 0
    assert proc["NoNewPrivs"] == "1"
    assert proc["Seccomp"] == "2"  # filter mode: RuntimeDefault
    assert proc["root_mount_options"].split(",")[0] == "ro"


def test_tenant_token_is_admitted_through_the_service_fronted_webhook_and_becomes_ready(
    pod_release: PodRelease, tenant: str, kubectl: Any, cluster: Cluster, fake_astra: FakeAstraThread,
) -> None:
    configuration = f"{pod_release.fullname}.astra-tokens.io"
    found = json.loads(kubectl("get", "mutatingwebhookconfiguration", configuration, "-o", "json").stdout)
    services = [hook["clientConfig"].get("service") for hook in found["webhooks"]]
    assert services
    assert all(s == {"name": f"{pod_release.fullname}-webhook", "namespace": pod_release.namespace,
                                  "port": 443, "path": s["path"]} for s in services), services
    assert not any("url" in hook["clientConfig"] for hook in found["webhooks"])

    # Refused by the validating webhook, with its message, for the tenant.
    too_long = token_manifest("too-long", tenant, pod_release.org.name, pod_release.long_role, ttl="48h")
    refused = kubectl("create", "-f", "-", f"--as={TENANT_USER}", input=too_long)
    assert refused.returncode != 0
    assert "admission webhook" in refused.stderr, refused.stderr
    assert "ttl" in refused.stderr, refused.stderr

    created = kubectl("create", "-f", "-", f"--as={TENANT_USER}",
                      input=token_manifest("orders", tenant, pod_release.org.name, pod_release.long_role))
    assert created.returncode == 0, created.stderr
    token = cluster.wait_ready("astratokens", "orders", tenant, timeout=60)
    created_by = json.loads(token["metadata"]["annotations"][ANNOTATION_CREATED_BY])
    assert created_by["username"] == TENANT_USER  # stamped by the mutating webhook, from the request
    assert fake_astra.verify(cluster.secret_data("orders", tenant)["token"]).valid


def test_container_reads_a_valid_token_and_sees_renewal_and_rotation_in_its_mount_without_restart(
    pod_release: PodRelease, namespace: str, cluster: Cluster, kubectl: Any, k8s_api: k8s.ApiClient,
    fake_astra: FakeAstraThread,
) -> None:
    core = k8s.CoreV1Api(k8s_api)
    cluster.must_apply(token_manifest("reader", namespace, pod_release.org.name, pod_release.long_role))
    cluster.wait_ready("astratokens", "reader", namespace, timeout=60)
    first = cluster.secret_data("reader", namespace)
    cluster.must_apply(app_deployment("reader", namespace, "reader", fake_astra.url))
    wait_for(lambda: [p for p in pods(core, namespace, "app=reader") if ready(p)], timeout=60,
             what="the test app running")
    (pod,) = pods(core, namespace, "app=reader")
    container_id = container_status(pod).container_id

    def latest() -> dict[str, Any]:
        lines = app_lines(kubectl, namespace, pod.metadata.name)
        return lines[-1] if lines else {}

    seen = wait_for(lambda: latest().get("valid") and latest(), timeout=30, what="the app to read a valid token")
    assert seen["tokenSha256"] == sha256(first["token"])
    assert seen["orgId"] == pod_release.org.org_id
    assert seen["expiresAt"] == first["expiresAt"]

    # A renewal: the same token, a later expiry, in the file the running container reads.
    annotated = kubectl("annotate", "astratoken", "reader", "-n", namespace, "astra-tokens.io/renew=2h")
    assert annotated.returncode == 0, annotated.stderr
    renewed = wait_for(lambda: cluster.secret_data("reader", namespace)["expiresAt"] != first["expiresAt"]
                       and cluster.secret_data("reader", namespace), timeout=30, what="the Secret renewed")
    changed = time.monotonic()
    seen = wait_for(lambda: latest().get("expiresAt") == renewed["expiresAt"] and latest(), timeout=30,
                    what="the renewal in the mounted file")
    print(f"renewal reached the running container {time.monotonic() - changed:.1f} s after the Secret")
    assert seen["tokenSha256"] == sha256(first["token"])
    assert seen["valid"]

    # A rotation (the emergency one): a new token in the same running container.
    annotated = kubectl("annotate", "astratoken", "reader", "-n", namespace, "astra-tokens.io/revoke=now")
    assert annotated.returncode == 0, annotated.stderr
    rotated = wait_for(lambda: cluster.secret_data("reader", namespace)["clientId"] != first["clientId"]
                       and cluster.secret_data("reader", namespace), timeout=60, what="the Secret rotated")
    changed = time.monotonic()
    seen = wait_for(lambda: latest().get("tokenSha256") == sha256(rotated["token"]) and latest().get("valid")
                    and latest(), timeout=30, what="the rotated token in the mounted file, valid")
    print(f"rotation reached the running container {time.monotonic() - changed:.1f} s after the Secret")
    assert not fake_astra.verify(first["token"]).valid  # revoke=now: the old one is gone at once

    (after,) = pods(core, namespace, "app=reader")
    assert after.metadata.uid == pod.metadata.uid
    assert container_status(after).container_id == container_id
    assert container_status(after).restart_count == 0


def test_rotation_with_restart_targets_replaces_the_pods_which_read_the_new_token_before_the_old_is_revoked(
    pod_release: PodRelease, namespace: str, cluster: Cluster, kubectl: Any, k8s_api: k8s.ApiClient,
    fake_astra: FakeAstraThread,
) -> None:
    """Role ttl 20s, maxTtl 60s: renewed, then rotated at about 40 s."""
    core = k8s.CoreV1Api(k8s_api)
    cluster.must_apply(token_manifest("rolling", namespace, pod_release.org.name, pod_release.role,
                                      rotationGracePeriod="30s",
                                      rolloutRestartTargets=[{"kind": "Deployment", "name": "rolling"}]))
    first = cluster.wait_ready("astratokens", "rolling", namespace, timeout=60)["status"]
    first_token = cluster.secret_data("rolling", namespace)["token"]
    cluster.must_apply(app_deployment("rolling", namespace, "rolling", fake_astra.url, replicas=2))
    wait_for(lambda: len([p for p in pods(core, namespace, "app=rolling") if ready(p)]) == 2, timeout=60,
             what="two test app pods running")
    before = {p.metadata.uid for p in pods(core, namespace, "app=rolling")}

    second = wait_for(lambda: cluster.token("rolling", namespace)["status"].get("clientId") != first["clientId"]
                      and cluster.token("rolling", namespace)["status"], timeout=90, interval=0.5,
                      what="the rotation")
    assert second["conditions"][0]["reason"] == "Rotated"
    new_token = cluster.secret_data("rolling", namespace)["token"]
    apps = k8s.AppsV1Api(k8s_api)
    wait_for(lambda: "astra-tokens.io/restartedAt" in (
        apps.read_namespaced_deployment("rolling", namespace).spec.template.metadata.annotations or {}),
        timeout=20, what="the restart (after the release's 3 s batch window)")

    status = kubectl("rollout", "status", "deployment/rolling", "-n", namespace, "--timeout=90s", timeout=100)
    assert status.returncode == 0, status.stderr
    now = [p for p in pods(core, namespace, "app=rolling") if ready(p)]
    assert len(now) == 2
    assert not {p.metadata.uid for p in now} & before
    for pod in now:
        seen = wait_for(lambda pod=pod: [line for line in app_lines(kubectl, namespace, pod.metadata.name)
                                         if line.get("valid")], timeout=30, what="the new pod's first read")
        assert seen[0]["tokenSha256"] == sha256(new_token)
    # The new pods run on the new token while the old one is still within its grace period...
    assert fake_astra.verify(first_token).valid
    # ...which then ends.
    wait_for(lambda: not fake_astra.verify(first_token).valid, timeout=50, what="the old token revoked")


def test_force_deleting_the_operator_pod_mid_mint_leaves_exactly_one_live_token(
    pod_release: PodRelease, namespace: str, cluster: Cluster, kubectl: Any, k8s_api: k8s.ApiClient,
    fake_astra: FakeAstraThread, hvac_client: hvac.Client,
) -> None:
    core = k8s.CoreV1Api(k8s_api)
    (old,) = pods(core, pod_release.namespace, pod_release.selector)
    marker = f"astra-token-operator {namespace}/midmint "
    # The create reaches Astra, which makes the token and never answers: the operator is mid-mint.
    faults = fake_astra.faults
    fake_astra.set_faults(drop_create_responses=1, drop_mode="hang", hang_seconds=20)
    try:
        cluster.must_apply(token_manifest("midmint", namespace, pod_release.org.name, pod_release.role))
        wait_for(lambda: [v for v in fake_astra.tokens(pod_release.org.org_id) if marker in v.description],
                 timeout=60, what="Astra to make the token whose answer is held back")
        deleted = kubectl("delete", "pod", old.metadata.name, "-n", pod_release.namespace, "--grace-period=0",
                          "--force")
        assert deleted.returncode == 0, deleted.stderr
    finally:
        fake_astra.set_faults(faults)

    def replacement() -> k8s.V1Pod | None:
        found = [p for p in pods(core, pod_release.namespace, pod_release.selector)
                 if p.metadata.uid != old.metadata.uid and ready(p)]
        return found[0] if found else None

    started = time.monotonic()
    wait_for(replacement, timeout=180, interval=1, what="the replacement operator pod Ready")
    print(f"replacement operator pod Ready {time.monotonic() - started:.1f} s after the forced delete")
    cluster.wait_ready("astratokens", "midmint", namespace, timeout=120)
    assert_exactly_one_live_token(cluster, fake_astra, hvac_client, pod_release.org, namespace, "midmint")


def test_helm_uninstall_and_namespace_deletion_leave_no_running_containers(
    pod_release: PodRelease, cluster: Cluster, node: Node, k8s_api: k8s.ApiClient, fake_astra: FakeAstraThread,
) -> None:
    core = k8s.CoreV1Api(k8s_api)
    app = f"leaving-{uuid.uuid4().hex[:6]}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=app)))
    cluster.must_apply(token_manifest("leaving", app, pod_release.org.name, pod_release.role))
    cluster.wait_ready("astratokens", "leaving", app, timeout=60)
    cluster.must_apply(app_deployment("leaving", app, "leaving", fake_astra.url, replicas=2))
    wait_for(lambda: len([p for p in pods(core, app, "app=leaving") if ready(p)]) == 2, timeout=60,
             what="two test app pods running")
    assert len(namespace_containers(node, app)) == 4  # two sandboxes, two containers
    assert namespace_containers(node, pod_release.namespace)

    leaving = cluster.secret_data("leaving", app)["token"]
    core.delete_namespace(app)
    wait_for(lambda: not namespace_containers(node, app), timeout=90, what="the app's containers gone")
    # Deleting the namespace deleted the AstraToken: the operator revoked it on the way.
    wait_for(lambda: not fake_astra.verify(leaving).valid, timeout=60,
             what="the namespace's token revoked")
    pod_release.uninstall()
    wait_for(lambda: not namespace_containers(node, pod_release.namespace), timeout=60,
             what="the operator's containers gone")
    assert not pods(core, pod_release.namespace, pod_release.selector)


