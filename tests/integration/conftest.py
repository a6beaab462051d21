"""Integration fixtures: the CRDs, the fake Astra, the operator as a real
process, and a verified org and role shared by the tests."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import hvac
import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from astra_token_operator.config import OperatorConfig
from astra_token_operator.fake_astra import FakeAstraThread, make_admin_token
from testplatform.examples import CRDS
from testplatform.openbao import OpenBao, start_openbao
from testplatform.operator import OperatorProcess, operator_env
from testplatform.platform import Platform
from testplatform.processes import free_port
from testplatform.waiting import wait_for

GROUP, VERSION = "astra-tokens.io", "v1alpha1"
OPERATOR_NAMESPACE = "astra-token-operator"
TEST_ORG_ID = "6a4c38a6-2a8f-4c1e-9d8e-2b7f0c1d9e01"


class Cluster:
    """Small, readable helpers over the admin API for tests."""

    def __init__(self, api: k8s.ApiClient, kubectl: Callable[..., subprocess.CompletedProcess[str]]) -> None:
        self.api = api
        self.core = k8s.CoreV1Api(api)
        self.objects = k8s.CustomObjectsApi(api)
        self.kubectl = kubectl

    def apply(self, manifest: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.kubectl("apply", "-f", "-", input=manifest, **kwargs)

    def must_apply(self, manifest: str) -> None:
        result = self.apply(manifest)
        assert result.returncode == 0, result.stderr

    def get(self, plural: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            if namespace:
                found: dict[str, Any] = self.objects.get_namespaced_custom_object(GROUP, VERSION, namespace,
                                                                                  plural, name)
            else:
                found = self.objects.get_cluster_custom_object(GROUP, VERSION, plural, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def token(self, name: str, namespace: str) -> dict[str, Any]:
        found = self.get("astratokens", name, namespace)
        assert found is not None, f"AstraToken {namespace}/{name} does not exist"
        return found

    def condition(self, plural: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        found = self.get(plural, name, namespace) or {}
        return next((c for c in found.get("status", {}).get("conditions", []) if c["type"] == "Ready"), {})

    def wait_ready(self, plural: str, name: str, namespace: str | None = None, timeout: float = 30) -> dict[str, Any]:
        wait_for(lambda: self.condition(plural, name, namespace).get("status") == "True", timeout,
                 what=f"{plural} {namespace}/{name} Ready (last: {self.condition(plural, name, namespace)})")
        return self.get(plural, name, namespace) or {}

    def wait_reason(self, plural: str, name: str, reason: str, namespace: str | None = None,
                    timeout: float = 30) -> dict[str, Any]:
        wait_for(lambda: self.condition(plural, name, namespace).get("reason") == reason, timeout,
                 what=f"{plural} {namespace}/{name} reason {reason} (last: {self.condition(plural, name, namespace)})")
        return self.condition(plural, name, namespace)

    def secret(self, name: str, namespace: str) -> k8s.V1Secret | None:
        try:
            return self.core.read_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def secret_data(self, name: str, namespace: str) -> dict[str, str]:
        import base64

        secret = self.secret(name, namespace)
        assert secret is not None, f"Secret {namespace}/{name} does not exist"
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def events_for(self, name: str, namespace: str) -> list[k8s.CoreV1Event]:
        listed = self.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
        return list(listed.items)

    def delete(self, plural: str, name: str, namespace: str | None = None) -> None:
        try:
            if namespace:
                self.objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
            else:
                self.objects.delete_cluster_custom_object(GROUP, VERSION, plural, name)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def wait_gone(self, plural: str, name: str, namespace: str | None = None, timeout: float = 30) -> None:
        wait_for(lambda: self.get(plural, name, namespace) is None, timeout, what=f"{plural} {name} deleted")


@pytest.fixture(scope="module")
def helm(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """helm(*args) as the cluster admin, with its own config and cache directories."""
    home = tmp_path_factory.mktemp("helm-home")
    env = {**os.environ, "KUBECONFIG": str(platform.controlplane.kubeconfig),
           "HELM_CONFIG_HOME": str(home / "config"), "HELM_CACHE_HOME": str(home / "cache"),
           "HELM_DATA_HOME": str(home / "data")}

    def run(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(platform.helm), *args], capture_output=True, text=True, env=env,
                                timeout=timeout, check=False)
        if check:
            assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    return run


@pytest.fixture(scope="session")
def cluster(k8s_api: k8s.ApiClient, kubectl: Any) -> Cluster:
    return Cluster(k8s_api, kubectl)


@pytest.fixture(scope="session")
def crds(kubectl: Any) -> Path:
    applied = kubectl("apply", "-f", str(CRDS))
    assert applied.returncode == 0, applied.stderr
    waited = kubectl("wait", "--for=condition=Established", "crd", "-l", "app.kubernetes.io/name=astra-token-operator",
                     "--timeout=60s")
    assert waited.returncode == 0, waited.stderr
    return CRDS


@pytest.fixture(scope="session")
def fake_astra() -> Iterator[FakeAstraThread]:
    fake = FakeAstraThread({TEST_ORG_ID: make_admin_token()})
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def operator_namespace(k8s_api: k8s.ApiClient) -> str:
    core = k8s.CoreV1Api(k8s_api)
    try:
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=OPERATOR_NAMESPACE)))
    except ApiException as exc:
        if exc.status != 409:
            raise
    return OPERATOR_NAMESPACE


# Delivery timings short enough for tests to see them: restarts batched over 3 s, a rollout in
# progress looked at every second and told about after 15 s.
SUITE_TIMING = {"ASTRA_OPERATOR_RESTART_WINDOW_SECONDS": "3", "ASTRA_OPERATOR_ROLLOUT_POLL_SECONDS": "1",
                "ASTRA_OPERATOR_ROLLOUT_TIMEOUT_SECONDS": "15"}


def e2e_webhook_settings() -> dict[str, str]:
    """make e2e-kind: the apiserver runs in a container and reaches the operator on the host
    through the Docker bridge, not through 127.0.0.1."""
    host = os.environ.get("ASTRA_E2E_WEBHOOK_HOST")
    # Listen on the bridge's address only, not on every interface.
    return {"ASTRA_OPERATOR_WEBHOOK_HOST": host, "ASTRA_OPERATOR_WEBHOOK_LISTEN_ADDR": host} if host else {}


@pytest.fixture(scope="session")
def operator(platform: Platform, crds: Path, operator_namespace: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    process = OperatorProcess(
        log_dir=tmp_path_factory.mktemp("operator-logs"),
        env=operator_env(
            kubeconfig=platform.controlplane.kubeconfig, vault_addr=platform.openbao.addr,
            vault_token=platform.openbao.token, operator_namespace=operator_namespace,
            extra={**e2e_webhook_settings(), **SUITE_TIMING},
        ),
    )
    process.start()
    yield process
    process.stop()


# --- the operator as a pod (on the test node) ---------------------------------------------------

SUITE_WEBHOOK_CONFIGURATION = OperatorConfig.model_fields["webhook_configuration_name"].default
VAULT_TOKEN_SECRET = "vault-token"  # in a pod release's namespace: the test OpenBao's token


def set_webhooks(kubectl: Any, configuration: str, webhooks: list[dict[str, Any]] | None) -> None:
    """Admin surgery on both webhook configurations: None deletes them."""
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        if webhooks is None:
            result = kubectl("delete", kind, configuration, "--ignore-not-found")
        else:
            result = kubectl("patch", kind, configuration, "--type=merge", "-p", json.dumps({"webhooks": webhooks}))
        assert result.returncode == 0, result.stderr


def webhook_names(kubectl: Any, configuration: str) -> list[str]:
    found = kubectl("get", "validatingwebhookconfiguration", configuration, "-o", "json", "--ignore-not-found")
    assert found.returncode == 0, found.stderr
    return [hook["name"] for hook in (json.loads(found.stdout or "{}").get("webhooks") or [])]


@contextlib.contextmanager
def suite_operator_aside(operator: OperatorProcess, kubectl: Any) -> Iterator[None]:
    """One operator at a time acts on the cluster's objects: the suite's is stopped, and its
    persistent webhooks (failurePolicy Fail, pointing at its own process) removed, while another
    stands in; then it starts again and re-creates them."""
    operator.stop()
    set_webhooks(kubectl, SUITE_WEBHOOK_CONFIGURATION, None)
    try:
        yield
    finally:
        operator.start()
        wait_for(lambda: webhook_names(kubectl, SUITE_WEBHOOK_CONFIGURATION), timeout=30,
                 what="the suite's operator to re-create its webhooks")


@pytest.fixture(scope="session")
def pod_values(platform: Platform, operator_image: str) -> Callable[[], dict[str, Any]]:
    """pod_values() -> chart values that run the operator as a pod on the test node: the image
    built from the Dockerfile; the host network (the node's only network) with free host ports;
    the test OpenBao with the token in the release namespace's Secret VAULT_TOKEN_SECRET; and
    the apiserver's loopback address, since no kube-proxy serves the `kubernetes` Service."""
    repository, tag = operator_image.rsplit(":", 1)
    apiserver = urlparse(platform.controlplane.server)

    def values() -> dict[str, Any]:
        return {
            "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
            "hostNetwork": True,
            # One node and the host's ports: a second replica could never be scheduled beside the first.
            "replicas": 1,
            "crds": {"enabled": False},  # the suite applied the CRDs itself
            "livenessPort": free_port(), "webhook": {"port": free_port()}, "metrics": {"port": free_port()},
            "vault": {"address": platform.openbao.addr, "auth": "token",
                      "tokenSecret": {"name": VAULT_TOKEN_SECRET}},
            "verbose": True,
            "delivery": {"restartWindowSeconds": 3, "rolloutTimeoutSeconds": 60, "rolloutPollSeconds": 1},
            "extraEnv": [{"name": "KUBERNETES_SERVICE_HOST", "value": apiserver.hostname},
                         {"name": "KUBERNETES_SERVICE_PORT", "value": str(apiserver.port)}],
        }

    return values


def release_pods_ready(core: k8s.CoreV1Api, namespace: str, release: str) -> list[k8s.V1Pod]:
    """The release's operator pods that are Ready (not being deleted)."""
    listed = core.list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/instance={release}").items
    return [p for p in listed if p.metadata.deletion_timestamp is None
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]


@dataclass(frozen=True)
class OrgHandle:
    name: str
    org_id: str
    admin_token: str
    secret_name: str


def root_token_secret(name: str, token: str, namespace: str = OPERATOR_NAMESPACE) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
                       "stringData": {"token": token}})


def org_manifest(name: str, org_id: str, url: str, secret_name: str, **spec: Any) -> str:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AstraOrg", "metadata": {"name": name},
            "spec": {"orgId": org_id, "url": url, "allowedNamespaces": ["*"],
                     "rootTokenRef": {"secret": {"namespace": OPERATOR_NAMESPACE, "name": secret_name}}, **spec}}
    return json.dumps(body)


def role_manifest(name: str, org: str, **spec: Any) -> str:
    return json.dumps({"apiVersion": f"{GROUP}/{VERSION}", "kind": "AstraRole", "metadata": {"name": name},
                       "spec": {"orgRef": org, **spec}})


def token_manifest(name: str, namespace: str, org: str, role: str, **spec: Any) -> str:
    return json.dumps({"apiVersion": f"{GROUP}/{VERSION}", "kind": "AstraToken",
                       "metadata": {"name": name, "namespace": namespace},
                       "spec": {"orgRef": org, "roleRef": role, **spec}})


@pytest.fixture(scope="session")
def test_org(cluster: Cluster, fake_astra: FakeAstraThread, operator: OperatorProcess) -> OrgHandle:
    handle = OrgHandle("it-org", TEST_ORG_ID, fake_astra.admin_token(TEST_ORG_ID), "it-org-root-token")
    cluster.must_apply(root_token_secret(handle.secret_name, handle.admin_token))
    cluster.must_apply(org_manifest(handle.name, handle.org_id, fake_astra.url, handle.secret_name))
    cluster.wait_ready("astraorgs", handle.name, timeout=30)
    return handle


@pytest.fixture(scope="session")
def test_role(cluster: Cluster, test_org: OrgHandle) -> str:
    cluster.must_apply(role_manifest("it-rw", test_org.name, astraRoleName="R/W User", ttl="1h", maxTtl="24h"))
    cluster.wait_ready("astraroles", "it-rw", timeout=30)
    return "it-rw"


# --- kubectl astra ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PluginRun:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    shows_token: bool  # run with --show-token: its stdout is a token by design


@dataclass
class KubectlAstra:
    """Runs `kubectl astra ...` through the real kubectl, which finds kubectl-astra on PATH,
    as the admin of the test cluster (or ``--as`` someone), with no Vault credentials unless
    given: the caller's own. Every run is kept, so the last test can scan them all for secrets."""

    kubectl: Path
    kubeconfig: Path
    runs: list[PluginRun] = field(default_factory=list)

    def __call__(self, *args: str, vault: dict[str, str] | None = None, timeout: float = 180,
                 ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "ASTRA_OPERATOR_"))}
        env.update({"KUBECONFIG": str(self.kubeconfig), "HOME": str(self.kubeconfig.parent), **(vault or {})})
        result = subprocess.run([str(self.kubectl), "astra", *args], env=env, capture_output=True, text=True,
                                timeout=timeout, check=False)
        self.runs.append(PluginRun(tuple(args), result.returncode, result.stdout, result.stderr,
                                   "--show-token" in args))
        return result

    def ok(self, *args: str, vault: dict[str, str] | None = None) -> str:
        """Run, require success, return stdout."""
        result = self(*args, vault=vault)
        assert result.returncode == 0, f"kubectl astra {' '.join(args)} failed: {result.stderr}"
        return result.stdout


@pytest.fixture(scope="session")
def kubectl_astra(platform: Platform, kubeconfig: Path) -> KubectlAstra:
    found = shutil.which("kubectl-astra")
    assert found is not None, "kubectl-astra is not on PATH: run make venv (pip install -e .)"
    assert Path(found).parent == platform.kubectl.parent, f"kubectl-astra at {found} is not this venv's"
    return KubectlAstra(platform.kubectl, kubeconfig)


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """An OpenBao of the test module's own (the ledger modules change its mounts and policies),
    apart from the platform's."""
    server = start_openbao(tmp_path_factory.mktemp("openbao"))
    yield server
    server.stop()


@pytest.fixture
def root(bao: OpenBao) -> hvac.Client:
    """An administrator's client of `bao`, to arrange things and look behind the ledger's back."""
    return hvac.Client(url=bao.addr, token=bao.token)
