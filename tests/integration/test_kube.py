"""The kube package against a real kube-apiserver (with the garbage collector
running): Secrets with owners, optimistic concurrency and preconditions,
drift after an outside edit, rollout restarts, custom-object metadata and
status, namespace labels, RBAC refusals, and an event loop that never stalls,
even when the apiserver is slow, silent or gone."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.config import new_client_from_config

from astra_token_operator.kube import (
    WORKLOAD_KINDS,
    DesiredSecret,
    Kube,
    KubeAlreadyExists,
    KubeConflict,
    KubeForbidden,
    KubeInvalid,
    KubeNotFound,
    KubeUnavailable,
    OwnerReference,
    RetryPolicy,
    SecretSnapshot,
    SecretVersion,
)
from astra_token_operator.kube import client as kube_client
from testplatform.kube import KubeconfigFactory
from testplatform.waiting import wait_for

pytestmark = pytest.mark.integration

Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]

TOKEN = "AstraCS:kubeTestToken:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
CLIENT_SECRET = "kube-test-client-secret-7f3a9c"
RESTART = "astra-tokens.io/restartedAt"
GROUP = "kube-test.astra-tokens.io"

GADGET_CRDS = f"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.{GROUP}
spec:
  group: {GROUP}
  scope: Namespaced
  names: {{plural: gadgets, singular: gadget, kind: Gadget}}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {{status: {{}}}}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: clustergadgets.{GROUP}
spec:
  group: {GROUP}
  scope: Cluster
  names: {{plural: clustergadgets, singular: clustergadget, kind: ClusterGadget}}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {{status: {{}}}}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"""


# --- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture
async def kube(k8s_api: k8s.ApiClient) -> AsyncIterator[Kube]:
    client = Kube(k8s_api, workers=8)
    yield client
    await client.aclose()


@pytest.fixture
def owner(k8s_api: k8s.ApiClient, namespace: str) -> OwnerReference:
    """A ConfigMap standing in for the AstraToken that owns a Secret."""
    made = k8s.CoreV1Api(k8s_api).create_namespaced_config_map(
        namespace, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="owner")))
    return OwnerReference(api_version="v1", kind="ConfigMap", name="owner", uid=made.metadata.uid)


@pytest.fixture(scope="module")
def gadget_crds(kubectl: Kubectl) -> Iterator[None]:
    applied = kubectl("apply", "-f", "-", input=GADGET_CRDS)
    assert applied.returncode == 0, applied.stderr
    for plural in ("gadgets", "clustergadgets"):
        waited = kubectl("wait", "--for=condition=Established", f"crd/{plural}.{GROUP}", "--timeout=30s")
        assert waited.returncode == 0, waited.stderr
    yield
    kubectl("delete", "-f", "-", "--wait=false", input=GADGET_CRDS)


@pytest.fixture
async def gadget_kube(k8s_api: k8s.ApiClient, gadget_crds: None) -> AsyncIterator[Kube]:
    client = Kube(k8s_api, workers=4, group=GROUP, version="v1")
    yield client
    await client.aclose()


def desired(namespace: str, owner: OwnerReference, **changes: Any) -> DesiredSecret:
    fields: dict[str, Any] = {
        "namespace": namespace,
        "name": "app-token",
        "data": {"token": TOKEN, "clientSecret": CLIENT_SECRET, "orgId": "org-1"},
        "labels": {"astra-tokens.io/org": "org-1", "astra-tokens.io/managed": "true"},
        "annotations": {"astra-tokens.io/lease-id": "astra-tokens/org-1/c1"},
        "owner": owner,
        **changes,
    }
    return DesiredSecret(**fields)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- Secrets -------------------------------------------------------------------------------------


async def test_created_secret_reads_back_decoded_and_owned(
    kube: Kube, namespace: str, owner: OwnerReference, k8s_api: k8s.ApiClient
) -> None:
    want = desired(namespace, owner)
    created = await kube.create_secret(want)
    read = await kube.read_secret(namespace, "app-token")

    assert read is not None
    assert read.matches(want)
    assert created.matches(want)
    assert read.uid == created.uid
    assert read.resource_version == created.resource_version
    assert read.data["token"].get_secret_value() == TOKEN
    assert read.owner_uids == [owner.uid]
    # What pods mount is the plain value: the apiserver holds exactly one base64 layer.
    raw = k8s.CoreV1Api(k8s_api).read_namespaced_secret("app-token", namespace)
    assert base64.b64decode(raw.data["token"]).decode() == TOKEN
    ref = raw.metadata.owner_references[0]
    assert (ref.kind, ref.name, ref.controller, ref.block_owner_deletion) == ("ConfigMap", "owner", True, True)
    assert TOKEN not in repr(read)
    assert TOKEN not in str(read)


async def test_secret_versions_are_listed_by_label_a_page_at_a_time_without_their_data(
    kube: Kube, namespace: str, owner: OwnerReference, k8s_api: k8s.ApiClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = [await kube.create_secret(desired(namespace, owner, name=f"app-{n}")) for n in range(3)]
    k8s.CoreV1Api(k8s_api).create_namespaced_secret(namespace, k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name="not-ours"), string_data={"password": "hunter2"}))
    monkeypatch.setattr(kube_client, "LIST_PAGE_SIZE", 2)  # three Secrets: two pages

    listed = await kube.list_secret_versions("astra-tokens.io/managed=true", [namespace])
    everywhere = await kube.list_secret_versions("astra-tokens.io/managed=true")

    expected = {SecretVersion(namespace, s.name, s.resource_version) for s in made}
    assert set(listed) == expected
    assert expected <= set(everywhere)
    assert not [v for v in everywhere if v.name == "not-ours"]


async def test_reading_a_missing_secret_is_none(kube: Kube, namespace: str) -> None:
    assert await kube.read_secret(namespace, "never-created") is None
    assert await kube.read_secret(f"no-such-namespace-{uuid.uuid4().hex[:6]}", "x") is None


async def test_creating_a_secret_that_exists_raises_already_exists(
    kube: Kube, namespace: str, owner: OwnerReference
) -> None:
    await kube.create_secret(desired(namespace, owner))
    with pytest.raises(KubeAlreadyExists) as raised:
        await kube.create_secret(desired(namespace, owner))
    assert raised.value.status == 409
    assert raised.value.reason == "AlreadyExists"
    assert (raised.value.namespace, raised.value.name, raised.value.kind) == (namespace, "app-token", "Secret")


async def test_update_replaces_data_and_keeps_what_others_added(
    kube: Kube, namespace: str, owner: OwnerReference, kubectl: Kubectl
) -> None:
    created = await kube.create_secret(desired(namespace, owner))
    labelled = kubectl("label", "secret", "app-token", "-n", namespace, "team=payments")
    annotated = kubectl("annotate", "secret", "app-token", "-n", namespace, "reloader/match=true")
    assert labelled.returncode == 0, labelled.stderr
    assert annotated.returncode == 0, annotated.stderr
    current = await kube.read_secret(namespace, "app-token")
    assert current is not None
    assert current.resource_version != created.resource_version

    rotated = desired(namespace, owner, data={"token": TOKEN + "-rotated", "orgId": "org-1"},
                      labels={"astra-tokens.io/org": "org-1", "astra-tokens.io/client-id": "c2"})
    updated = await kube.update_secret(rotated, current=current)

    assert updated.matches(rotated)
    assert set(updated.data) == {"token", "orgId"}  # data is replaced whole: clientSecret is gone
    assert updated.labels["team"] == "payments"
    assert updated.annotations["reloader/match"] == "true"
    assert updated.owner_uids == [owner.uid]
    again = await kube.read_secret(namespace, "app-token")
    assert again is not None
    assert again.data["token"].get_secret_value() == TOKEN + "-rotated"


async def test_update_from_a_stale_resource_version_conflicts(
    kube: Kube, namespace: str, owner: OwnerReference, kubectl: Kubectl
) -> None:
    created = await kube.create_secret(desired(namespace, owner))
    assert kubectl("label", "secret", "app-token", "-n", namespace, "touched=yes").returncode == 0

    with pytest.raises(KubeConflict) as raised:
        await kube.update_secret(desired(namespace, owner, data={"token": "new"}), current=created)
    assert raised.value.status == 409
    left = await kube.read_secret(namespace, "app-token")
    assert left is not None
    assert left.data["token"].get_secret_value() == TOKEN


async def test_updating_a_deleted_secret_raises_not_found(
    kube: Kube, namespace: str, owner: OwnerReference
) -> None:
    created = await kube.create_secret(desired(namespace, owner))
    assert await kube.delete_secret(namespace, "app-token")
    with pytest.raises(KubeNotFound):
        await kube.update_secret(desired(namespace, owner), current=created)


async def test_delete_with_another_objects_uid_is_refused(
    kube: Kube, namespace: str, owner: OwnerReference
) -> None:
    created = await kube.create_secret(desired(namespace, owner))

    with pytest.raises(KubeConflict) as raised:
        await kube.delete_secret(namespace, "app-token", uid=str(uuid.uuid4()))
    assert "precondition" in str(raised.value).lower()
    assert await kube.read_secret(namespace, "app-token") is not None

    assert await kube.delete_secret(namespace, "app-token", uid=created.uid) is True
    assert await kube.read_secret(namespace, "app-token") is None
    assert await kube.delete_secret(namespace, "app-token") is False


async def test_deleting_the_owner_garbage_collects_the_secret(
    kube: Kube, namespace: str, owner: OwnerReference, k8s_api: k8s.ApiClient
) -> None:
    await kube.create_secret(desired(namespace, owner))
    k8s.CoreV1Api(k8s_api).delete_namespaced_config_map("owner", namespace)

    def secret_gone() -> bool:
        try:
            k8s.CoreV1Api(k8s_api).read_namespaced_secret("app-token", namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(secret_gone)


async def test_outside_edits_show_as_drift_by_key_name_only(
    kube: Kube, namespace: str, owner: OwnerReference, kubectl: Kubectl
) -> None:
    want = desired(namespace, owner)
    await kube.create_secret(want)
    edit = {"data": {"token": b64("AstraCS:someone-elses-token"), "extra": b64("x")},
            "metadata": {"labels": {"astra-tokens.io/org": None, "team": "payments"}}}
    patched = kubectl("patch", "secret", "app-token", "-n", namespace, "--type=merge", "-p", json.dumps(edit))
    assert patched.returncode == 0, patched.stderr

    found = await kube.read_secret(namespace, "app-token")
    assert found is not None
    assert not found.matches(want)
    assert found.drift(want) == [
        "data key token differs",
        "data key extra unexpected",
        "label astra-tokens.io/org missing",
    ]
    assert not any("AstraCS" in line for line in found.drift(want))

    repaired = await kube.update_secret(want, current=found)
    assert repaired.drift(want) == []
    assert repaired.labels["team"] == "payments"


async def test_a_refused_write_does_not_echo_the_secret(
    kube: Kube, namespace: str, owner: OwnerReference
) -> None:
    # The label repeats a data value and is not a valid label value (':' and too long):
    # the apiserver's 422 quotes it back.
    bad = desired(namespace, owner, labels={"astra-tokens.io/client-id": TOKEN})
    with pytest.raises(KubeInvalid) as raised:
        await kube.create_secret(bad)

    error = raised.value
    assert error.status == 422
    assert error.reason == "Invalid"
    assert "metadata.labels" in str(error)  # the apiserver's message survives, scrubbed
    for text in (str(error), repr(error), str(error.args)):
        assert TOKEN not in text
        assert b64(TOKEN) not in text
        assert "AstraCS:kubeTestToken" not in text
    assert error.__cause__ is None
    assert error.__context__ is None


# --- workloads -----------------------------------------------------------------------------------


def _pod_template(app: str) -> k8s.V1PodTemplateSpec:
    return k8s.V1PodTemplateSpec(
        metadata=k8s.V1ObjectMeta(labels={"app": app}),
        spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="app", image="registry.invalid/app:1")]),
    )


def _create_workload(api: k8s.ApiClient, namespace: str, kind: str, name: str) -> None:
    apps = k8s.AppsV1Api(api)
    selector = k8s.V1LabelSelector(match_labels={"app": name})
    meta = k8s.V1ObjectMeta(name=name)
    if kind == "Deployment":
        apps.create_namespaced_deployment(namespace, k8s.V1Deployment(
            metadata=meta, spec=k8s.V1DeploymentSpec(selector=selector, template=_pod_template(name))))
    elif kind == "StatefulSet":
        apps.create_namespaced_stateful_set(namespace, k8s.V1StatefulSet(
            metadata=meta, spec=k8s.V1StatefulSetSpec(selector=selector, template=_pod_template(name),
                                                      service_name=name)))
    else:
        apps.create_namespaced_daemon_set(namespace, k8s.V1DaemonSet(
            metadata=meta, spec=k8s.V1DaemonSetSpec(selector=selector, template=_pod_template(name))))


def _read_workload(api: k8s.ApiClient, namespace: str, kind: str, name: str) -> Any:
    apps = k8s.AppsV1Api(api)
    read = {"Deployment": apps.read_namespaced_deployment, "StatefulSet": apps.read_namespaced_stateful_set,
            "DaemonSet": apps.read_namespaced_daemon_set}[kind]
    return read(name, namespace)


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet"])
async def test_restart_rollout_stamps_the_pod_template(
    kube: Kube, namespace: str, k8s_api: k8s.ApiClient, kind: Any
) -> None:
    _create_workload(k8s_api, namespace, kind, "web")
    before = _read_workload(k8s_api, namespace, kind, "web").metadata.generation

    assert await kube.restart_rollout(namespace, kind, "web", annotation=RESTART, value="2025-03-01T12:00:00Z")
    first = _read_workload(k8s_api, namespace, kind, "web")
    assert first.spec.template.metadata.annotations[RESTART] == "2025-03-01T12:00:00Z"
    assert first.spec.template.metadata.labels == {"app": "web"}  # the rest of the template is kept
    assert first.metadata.generation == before + 1  # a template change: the controller rolls the pods

    assert await kube.restart_rollout(namespace, kind, "web", annotation=RESTART, value="2025-03-01T12:00:00Z")
    assert _read_workload(k8s_api, namespace, kind, "web").metadata.generation == before + 1  # no-op

    assert await kube.restart_rollout(namespace, kind, "web", annotation=RESTART, value="2025-03-02T08:00:00Z")
    second = _read_workload(k8s_api, namespace, kind, "web")
    assert second.spec.template.metadata.annotations[RESTART] == "2025-03-02T08:00:00Z"
    assert second.metadata.generation == before + 2


async def test_restarting_a_missing_workload_is_false(kube: Kube, namespace: str) -> None:
    for kind in WORKLOAD_KINDS:
        assert await kube.restart_rollout(namespace, kind, "absent", annotation=RESTART, value="x") is False


# --- custom objects ------------------------------------------------------------------------------


async def test_status_and_metadata_patches_on_a_namespaced_object(
    gadget_kube: Kube, namespace: str, k8s_api: k8s.ApiClient
) -> None:
    k8s_objects = k8s.CustomObjectsApi(k8s_api)
    k8s_objects.create_namespaced_custom_object(GROUP, "v1", namespace, "gadgets", {
        "apiVersion": f"{GROUP}/v1", "kind": "Gadget",
        "metadata": {"name": "g1", "labels": {"keep": "me", "drop": "me"}, "annotations": {"a": "1"}},
        "spec": {"size": 1},
    })

    await gadget_kube.patch_status("gadgets", "g1", {"phase": "Ready", "clientId": "c1"}, namespace=namespace)
    await gadget_kube.patch_status("gadgets", "g1", {"clientId": None, "renewals": 2}, namespace=namespace)
    await gadget_kube.patch_metadata("gadgets", "g1", namespace=namespace,
                                     labels={"drop": None, "astra-tokens.io/org": "org-1"},
                                     annotations={"astra-tokens.io/renew": "1h", "a": None})

    found = await gadget_kube.get_object("gadgets", "g1", namespace=namespace)
    assert found is not None
    assert found["status"] == {"phase": "Ready", "renewals": 2}
    assert found["spec"] == {"size": 1}  # a status patch never touches spec
    assert found["metadata"]["labels"] == {"keep": "me", "astra-tokens.io/org": "org-1"}
    assert found["metadata"]["annotations"] == {"astra-tokens.io/renew": "1h"}

    await gadget_kube.patch_metadata("gadgets", "g1", namespace=namespace)  # nothing asked, nothing sent
    assert await gadget_kube.get_object("gadgets", "absent", namespace=namespace) is None
    with pytest.raises(KubeNotFound):
        await gadget_kube.patch_status("gadgets", "absent", {"phase": "x"}, namespace=namespace)


async def test_status_and_metadata_patches_on_a_cluster_scoped_object(
    gadget_kube: Kube, k8s_api: k8s.ApiClient
) -> None:
    name = f"cg-{uuid.uuid4().hex[:6]}"
    k8s_objects = k8s.CustomObjectsApi(k8s_api)
    k8s_objects.create_cluster_custom_object(GROUP, "v1", "clustergadgets", {
        "apiVersion": f"{GROUP}/v1", "kind": "ClusterGadget", "metadata": {"name": name}})
    try:
        await gadget_kube.patch_status("clustergadgets", name, {"orgName": "Acme"})
        await gadget_kube.patch_metadata("clustergadgets", name, annotations={"astra-tokens.io/x": "y"})
        found = await gadget_kube.get_object("clustergadgets", name)
        assert found is not None
        assert found["status"] == {"orgName": "Acme"}
        assert found["metadata"]["annotations"] == {"astra-tokens.io/x": "y"}
    finally:
        k8s_objects.delete_cluster_custom_object(GROUP, "v1", "clustergadgets", name)
    assert await gadget_kube.get_object("clustergadgets", name) is None


# --- namespaces ----------------------------------------------------------------------------------


async def test_namespace_labels_are_read_and_a_missing_namespace_is_none(
    kube: Kube, make_namespace: Callable[..., str]
) -> None:
    team = make_namespace("team", labels={"tenant": "payments", "env": "prod"})
    labels = await kube.namespace_labels(team)
    assert labels is not None
    assert labels["tenant"] == "payments"
    assert labels["env"] == "prod"
    assert labels["kubernetes.io/metadata.name"] == team  # the apiserver's own label is there too
    assert await kube.namespace_labels(f"absent-{uuid.uuid4().hex[:6]}") is None


# --- identity and RBAC ---------------------------------------------------------------------------


async def test_an_account_without_rbac_is_forbidden(
    sa_kubeconfig: KubeconfigFactory, namespace: str, owner: OwnerReference
) -> None:
    api = new_client_from_config(config_file=str(sa_kubeconfig(namespace, "nobody")))  # type: ignore[no-untyped-call]
    limited = Kube(api, workers=2)
    try:
        with pytest.raises(KubeForbidden) as read_refused:
            await limited.read_secret(namespace, "app-token")
        with pytest.raises(KubeForbidden) as create_refused:
            await limited.create_secret(desired(namespace, owner))
        with pytest.raises(KubeForbidden):
            await limited.restart_rollout(namespace, "Deployment", "web", annotation=RESTART, value="x")
        with pytest.raises(KubeForbidden):
            await limited.namespace_labels(namespace)
    finally:
        await limited.aclose()
        api.close()

    assert read_refused.value.status == 403
    assert read_refused.value.reason == "Forbidden"
    assert f"system:serviceaccount:{namespace}:nobody" in str(read_refused.value)
    assert TOKEN not in str(create_refused.value)
    assert CLIENT_SECRET not in str(create_refused.value)


async def test_from_environment_uses_the_kubeconfig_named_by_KUBECONFIG(
    kubeconfig: Path, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    async with Kube.from_environment(workers=2) as client:
        labels = await client.namespace_labels(namespace)
    assert labels is not None
    assert labels["test"] == "true"
    with pytest.raises(KubeUnavailable, match="closed"):
        await client.namespace_labels(namespace)


# --- the event loop ------------------------------------------------------------------------------


class Ticker:
    """Counts event-loop turns: a blocked loop shows as a long gap between ticks."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.ticks: list[float] = []

    async def run(self) -> None:
        while True:
            self.ticks.append(time.monotonic())
            await asyncio.sleep(self.interval)

    def longest_gap(self) -> float:
        return max(b - a for a, b in zip(self.ticks, self.ticks[1:], strict=False))


async def test_the_event_loop_keeps_ticking_through_many_parallel_calls(
    kubeconfig: Path, namespace: str, owner: OwnerReference
) -> None:
    async with Kube.from_environment(kubeconfig=str(kubeconfig)) as kube:  # 16 workers, cold connections
        await kube.create_secret(desired(namespace, owner))
        ticker = Ticker()
        ticking = asyncio.create_task(ticker.run())
        await asyncio.sleep(0)
        started = time.monotonic()
        results = await asyncio.gather(*(kube.read_secret(namespace, "app-token") for _ in range(500)))
        elapsed = time.monotonic() - started
        ticking.cancel()

    assert all(isinstance(r, SecretSnapshot) for r in results)
    # Had the calls run on the loop, it would have stood still for all of `elapsed`.
    # What remains is the GIL shared with 16 workers (TLS set-up at first), on 2 busy cores (other
    # suites may share them: the bound is relative to how long the calls took, not absolute).
    assert len(ticker.ticks) >= 20, f"{len(ticker.ticks)} ticks in {elapsed:.2f}s"
    assert ticker.longest_gap() < elapsed / 2, (
        f"loop stalled {ticker.longest_gap():.3f}s during {elapsed:.2f}s of calls")


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP port that accepts connections and never answers: a hung apiserver."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


async def test_a_hung_apiserver_times_out_without_stalling_the_loop(silent_server: str) -> None:
    hung = Kube.from_configuration(k8s.Configuration(host=silent_server), workers=4, timeout_seconds=0.5,
                                   retry=RetryPolicy(attempts=2, initial_backoff=0.05))
    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    started = time.monotonic()
    try:
        with pytest.raises(KubeUnavailable, match="no answer within the request timeout") as raised:
            await hung.read_secret("ns", "app-token")
        with pytest.raises(KubeUnavailable) as write_raised:
            await hung.create_secret(desired("ns", OwnerReference(api_version="v1", kind="ConfigMap",
                                                                   name="o", uid="u")))
    finally:
        elapsed = time.monotonic() - started
        ticking.cancel()
        await hung.aclose()

    # read: 2 attempts of 0.5 s; create: sent, so never re-sent: 1 attempt.
    assert 1.4 <= elapsed < 5, elapsed
    assert raised.value.maybe_applied
    assert write_raised.value.maybe_applied
    assert ticker.longest_gap() < 0.25


async def test_an_unreachable_apiserver_is_unavailable_and_nothing_was_applied() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    gone = Kube.from_configuration(k8s.Configuration(host=f"http://127.0.0.1:{port}"), workers=2,
                                   timeout_seconds=1, retry=RetryPolicy(attempts=2, initial_backoff=0.01))
    try:
        with pytest.raises(KubeUnavailable, match="Connection refused") as raised:
            await gone.namespace_labels("default")
    finally:
        await gone.aclose()
    assert raised.value.maybe_applied is False
    assert f":{port}" not in str(raised.value)  # urllib3's URL-laden text stays behind
