"""Upgrades re-mint nothing, and uninstalling revokes nothing.

The chart is installed with its CRDs (crds.enabled; the suite's CRDs, applied
with kubectl, are adopted the documented way), the operator runs with the
release's arguments and settings (a local process stands for the pod: pods
never run on this control plane), and 50 AstraTokens become Ready, each naming
a Deployment to restart after a rotation. Then `helm upgrade` with changed
values (replicas, resources, a new setting), a CRD that drifted from the chart
is put back, and the operator restarts from the upgraded release: 0 creates in
Astra, 0 Secret changes, 0 workload restarts. `helm uninstall` then keeps the
CRDs (helm.sh/resource-policy: keep), so every AstraToken, Secret and Astra
token stays as it was."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from prometheus_client.parser import text_string_to_metric_families

from astra_token_operator.config import OperatorConfig
from astra_token_operator.fake_astra import FakeAstraThread
from integration.conftest import (
    OPERATOR_NAMESPACE,
    Cluster,
    org_manifest,
    role_manifest,
    root_token_secret,
    token_manifest,
)
from testplatform.operator import OperatorProcess, operator_env
from testplatform.paths import REPO_ROOT
from testplatform.platform import Platform
from testplatform.waiting import wait_for

CHART = REPO_ROOT / "helm" / "astra-token-operator"
CRDS = ("astraorgs.astra-tokens.io", "astraroles.astra-tokens.io", "astratokens.astra-tokens.io")
TOKENS = 50
SUITE_WEBHOOK_CONFIGURATION = OperatorConfig.model_fields["webhook_configuration_name"].default
# In a pod: the webhook behind the chart's Service with the chart's certificate, the metrics port
# on every address. A local process gets its own certificate, a URL and free ports.
POD_ONLY = ("WEBHOOK_LISTEN_ADDR", "WEBHOOK_PORT", "WEBHOOK_CERT_FILE", "WEBHOOK_KEY_FILE", "WEBHOOK_CA_FILE",
            "WEBHOOK_SERVICE_NAME", "WEBHOOK_SERVICE_NAMESPACE", "WEBHOOK_SERVICE_PORT", "METRICS_LISTEN_ADDR",
            "METRICS_PORT")


@pytest.fixture
def helm_cli(platform: Platform, tmp_path: Path) -> Any:
    env = {**os.environ, "KUBECONFIG": str(platform.controlplane.kubeconfig),
           "HELM_CONFIG_HOME": str(tmp_path / "helm-config"), "HELM_CACHE_HOME": str(tmp_path / "helm-cache"),
           "HELM_DATA_HOME": str(tmp_path / "helm-data")}

    def run(*args: str) -> str:
        done = subprocess.run([str(platform.helm), *args], capture_output=True, text=True, env=env, timeout=180,
                              check=False)
        assert done.returncode == 0, f"helm {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    return run


def operator_container(manifest: str) -> dict[str, Any]:
    deployment = next(doc for doc in yaml.safe_load_all(manifest) if doc and doc["kind"] == "Deployment")
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def release_operator(manifest: str, platform: Platform, namespace: str, log_dir: Path) -> OperatorProcess:
    """The operator with the release's arguments and settings, as a local process."""
    container = operator_container(manifest)
    settings = {item["name"]: item["value"] for item in container["env"]
                if "value" in item and item["name"].removeprefix("ASTRA_OPERATOR_") not in POD_ONLY}
    local = operator_env(kubeconfig=platform.controlplane.kubeconfig, vault_addr=platform.openbao.addr,
                         vault_token=platform.openbao.token, operator_namespace=namespace,
                         extra={"ASTRA_OPERATOR_VAULT_AUTH": "token", "POD_ID": "upgrade-test"})
    log_dir.mkdir(parents=True, exist_ok=True)
    process = OperatorProcess(log_dir=log_dir, env={**settings, **local}, verbose=False, standalone=False,
                              priority=1)
    assert "--standalone" not in container["args"]  # the release peers
    return process


def metric(process: OperatorProcess, name: str, **labels: str) -> float:
    wanted = tuple(sorted(labels.items()))
    for family in text_string_to_metric_families(process.scrape()):
        for sample in family.samples:
            if sample.name == name and tuple(sorted(sample.labels.items())) == wanted:
                return float(sample.value)
    return 0.0


def suite_operator_aside(operator: OperatorProcess, kubectl: Any) -> None:
    """The suite's standalone operator would act on the same tokens: stopped, and its webhooks
    (failurePolicy Fail, pointing at it) removed until it starts again (it writes them back)."""
    operator.stop()
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        kubectl("delete", kind, SUITE_WEBHOOK_CONFIGURATION, "--ignore-not-found")


def adopt_crds(kubectl: Any, release: str, namespace: str) -> None:
    """docs/install.md: CRDs applied with kubectl, handed to a release with crds.enabled."""
    for crd in CRDS:
        for args in (("label", "crd", crd, "app.kubernetes.io/managed-by=Helm", "--overwrite"),
                     ("annotate", "crd", crd, f"meta.helm.sh/release-name={release}",
                      f"meta.helm.sh/release-namespace={namespace}", "--overwrite")):
            done = kubectl(*args)
            assert done.returncode == 0, done.stderr


def release_crds(kubectl: Any) -> None:
    for crd in CRDS:
        kubectl("annotate", "crd", crd, "meta.helm.sh/release-name-", "meta.helm.sh/release-namespace-",
                "helm.sh/resource-policy-")
        kubectl("label", "crd", crd, "app.kubernetes.io/managed-by-", "helm.sh/chart-")


@pytest.mark.timeout(600)
def test_an_upgrade_restarts_the_operator_without_a_mint_a_secret_change_or_a_restart_and_uninstall_revokes_nothing(
    operator: OperatorProcess, helm_cli: Any, platform: Platform, cluster: Cluster, fake_astra: FakeAstraThread,
    k8s_api: k8s.ApiClient, make_namespace: Any, kubectl: Any, tmp_path: Path,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    release, release_ns = f"up-{suffix}", f"up-chart-{suffix}"
    org, org_id, role = f"up-{suffix}", str(uuid.uuid4()), f"up-rw-{suffix}"
    tenant = make_namespace("up-tenant")
    suite_operator_aside(operator, kubectl)
    adopt_crds(kubectl, release, release_ns)
    installed = False
    process: OperatorProcess | None = None
    names = [f"app-{i:02d}" for i in range(TOKENS)]
    try:
        helm_cli("install", release, str(CHART), "--namespace", release_ns, "--create-namespace",
                 "--set", "replicas=1", "--set", f"rootTokenNamespaces[0]={OPERATOR_NAMESPACE}")
        installed = True
        manifest = helm_cli("get", "manifest", release, "--namespace", release_ns)
        process = release_operator(manifest, platform, release_ns, tmp_path / "before")
        process.start()

        # The root token where the suite's operator, which cleans up afterwards, may read it too.
        cluster.must_apply(root_token_secret(f"{org}-root", fake_astra.add_org(org_id)))
        cluster.must_apply(org_manifest(org, org_id, fake_astra.url, f"{org}-root"))
        cluster.must_apply(role_manifest(role, org, astraRoleName="R/W User", ttl="1h", maxTtl="24h"))
        apps = k8s.AppsV1Api(k8s_api)
        apps.create_namespaced_deployment(tenant, k8s.V1Deployment(
            metadata=k8s.V1ObjectMeta(name="app"),
            spec=k8s.V1DeploymentSpec(
                replicas=0, selector=k8s.V1LabelSelector(match_labels={"app": "app"}),
                template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels={"app": "app"}), spec=k8s.V1PodSpec(
                    containers=[k8s.V1Container(name="app", image="app:1")])))))
        for name in names:
            cluster.must_apply(token_manifest(name, tenant, org, role,
                                              rolloutRestartTargets=[{"kind": "Deployment", "name": "app"}]))
        for name in names:
            cluster.wait_ready("astratokens", name, tenant, timeout=120)
        creates = len([t for t in fake_astra.tokens(org_id) if not t.is_admin])
        assert creates == TOKENS
        secrets = {name: cluster.secret(name, tenant).metadata.resource_version for name in names}  # type: ignore[union-attr]
        deployment = apps.read_namespaced_deployment("app", tenant)
        generation, template = deployment.metadata.generation, deployment.spec.template.metadata.annotations

        # A CRD drifted from the chart's (an older schema had no printer columns, say).
        drifted = kubectl("patch", "crd", "astratokens.astra-tokens.io", "--type=json", "-p",
                          json.dumps([{"op": "remove", "path": "/spec/versions/0/additionalPrinterColumns"}]))
        assert drifted.returncode == 0, drifted.stderr

        helm_cli("upgrade", release, str(CHART), "--namespace", release_ns, "--reuse-values",
                 "--set", "replicas=2", "--set", "resources.requests.cpu=100m", "--set", "logLevel=DEBUG",
                 "--set", "extraEnv[0].name=ASTRA_OPERATOR_DRIFT_CHECK_INTERVAL_SECONDS",
                 "--set-string", "extraEnv[0].value=900")
        upgraded = helm_cli("get", "manifest", release, "--namespace", release_ns)
        container = operator_container(upgraded)
        assert container["resources"]["requests"]["cpu"] == "100m"
        columns = json.loads(kubectl("get", "crd", "astratokens.astra-tokens.io", "-o", "json").stdout)
        assert columns["spec"]["versions"][0].get("additionalPrinterColumns"), "helm upgrade left the CRD drifted"

        process.stop()
        process = release_operator(upgraded, platform, release_ns, tmp_path / "after")
        assert process.env["ASTRA_OPERATOR_LOG_LEVEL"] == "DEBUG"
        assert process.env["ASTRA_OPERATOR_DRIFT_CHECK_INTERVAL_SECONDS"] == "900"
        process.start()
        # Every token has had a pass in the upgraded operator (each reports itself on /metrics).
        wait_for(lambda: metric(process, "astra_token_operator_tokens", org=org, role=role, state="ready") == TOKENS,
                 timeout=120, what="the upgraded operator to look at every token")
        assert len([t for t in fake_astra.tokens(org_id) if not t.is_admin]) == creates, "an upgrade minted"
        assert {name: cluster.secret(name, tenant).metadata.resource_version  # type: ignore[union-attr]
                for name in names} == secrets, "an upgrade rewrote Secrets"
        deployment = apps.read_namespaced_deployment("app", tenant)
        assert (deployment.metadata.generation, deployment.spec.template.metadata.annotations) == \
            (generation, template), "an upgrade restarted workloads"
        assert metric(process, "astra_token_operator_mints_total", org=org, outcome="ok") == 0

        # Uninstall: the operator goes, the CRDs stay, and so do the tokens, valid.
        process.stop()
        helm_cli("uninstall", release, "--namespace", release_ns, "--wait")
        installed = False
        for crd in CRDS:
            assert kubectl("get", "crd", crd).returncode == 0, f"helm uninstall deleted {crd}"
        assert all(cluster.get("astratokens", name, tenant) is not None for name in names)
        valid = {t.client_id for t in fake_astra.tokens(org_id) if not t.is_admin and t.state == "valid"}
        assert len(valid) == TOKENS, "uninstalling revoked tokens"
        assert all(cluster.secret(name, tenant) is not None for name in names)
    finally:
        if process is not None:
            process.stop()
        if installed:
            helm_cli("uninstall", release, "--namespace", release_ns, "--wait")
        release_crds(kubectl)
        k8s.CoreV1Api(k8s_api).delete_namespace(release_ns)
        operator.start()
        # What the user asks for before uninstalling, to revoke: delete the AstraTokens first.
        for name in names:
            cluster.delete("astratokens", name, tenant)
        for name in names:
            cluster.wait_gone("astratokens", name, tenant, timeout=120)
        for plural, name in (("astraroles", role), ("astraorgs", org)):
            cluster.delete(plural, name)
    assert not [t for t in fake_astra.tokens(org_id) if not t.is_admin and t.state == "valid"]
