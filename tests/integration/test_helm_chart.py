"""The Helm chart: it lints and renders what its values promise, installs on a
real control plane, and its RBAC is exactly enough: an operator authenticated
as the chart's ServiceAccount, with the chart's flags, issues and revokes a
token, and that ServiceAccount cannot do what the operator never does.

Pods never run here (there is no kubelet): the RBAC proof runs the operator as
a local process with the ServiceAccount's token, which is what the pod would
present to the apiserver."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from kubernetes import client as k8s

from astra_token_operator.config import OperatorConfig
from astra_token_operator.fake_astra import FakeAstraThread
from astra_token_operator.surface import ANNOTATION_CREATED_BY
from integration.conftest import GROUP, OPERATOR_NAMESPACE, VERSION, Cluster, root_token_secret, wait_for
from testplatform.kube import KubeconfigFactory
from testplatform.operator import OperatorProcess, operator_env
from testplatform.paths import REPO_ROOT, venv_tool
from testplatform.platform import Platform
from testplatform.processes import Child, free_port

CHART = REPO_ROOT / "helm" / "astra-token-operator"
DEPLOY = REPO_ROOT / "deploy"
Manifest = dict[str, Any]


# --- helm ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def helm(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """helm(*args) as the cluster admin, with its own config and cache directories."""
    home = tmp_path_factory.mktemp("helm-home")
    env = {**os.environ, "KUBECONFIG": str(platform.controlplane.kubeconfig),
           "HELM_CONFIG_HOME": str(home / "config"), "HELM_CACHE_HOME": str(home / "cache"),
           "HELM_DATA_HOME": str(home / "data")}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(platform.helm), *args], capture_output=True, text=True, env=env,
                                timeout=120, check=False)
        if check:
            assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    return run


def documents(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render(helm: Any, *sets: str, release: str = "ato", namespace: str = "astra-system") -> list[Manifest]:
    args = [arg for value in sets for arg in ("--set", value)]
    return documents(helm("template", release, str(CHART), "--namespace", namespace, *args).stdout)


def one(docs: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [doc for doc in docs if doc["kind"] == kind and name in (None, doc["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def kinds(docs: list[Manifest]) -> list[str]:
    return sorted(doc["kind"] for doc in docs)


def container(docs: list[Manifest]) -> Manifest:
    deployment = one(docs, "Deployment")
    containers: list[Manifest] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def plain_env(docs: list[Manifest]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container(docs)["env"] if "value" in item}


def operator_rules(docs: list[Manifest], fullname: str) -> list[Manifest]:
    rules: list[Manifest] = one(docs, "ClusterRole", fullname)["rules"]
    return rules


# --- rendering -----------------------------------------------------------------------------------

def test_chart_lints_clean_with_default_and_optional_features(helm: Any) -> None:
    helm("lint", str(CHART), "--strict")
    helm("lint", str(CHART), "--strict", "--set", "certManager.enabled=true,networkPolicy.enabled=true,replicas=2,"
                                                  "podDisruptionBudget.enabled=true")


def test_default_render_wires_deployment_webhook_certificate_and_peering_together(helm: Any) -> None:
    docs = render(helm)
    fullname = "ato-astra-token-operator"
    assert kinds(docs) == sorted([
        "ClusterKopfPeering", "ClusterRole", "ClusterRole", "ClusterRole", "ClusterRoleBinding", "Deployment",
        "MutatingWebhookConfiguration", "Secret", "Service", "ServiceAccount", "ValidatingWebhookConfiguration",
        "CustomResourceDefinition", "CustomResourceDefinition", "CustomResourceDefinition", "PodDisruptionBudget",
        "Service",  # metrics
    ])
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    operator = container(docs)
    env = plain_env(docs)

    assert deployment["spec"]["replicas"] == 2  # an active replica and a standby that serves admission
    # The new pod starts (and waits, paused) before the old one stops.
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert "exec astra-token-operator run --priority=" in operator["command"][2]  # distinct priorities
    assert "--liveness=http://0.0.0.0:8080/healthz" in operator["args"]
    assert operator["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "metrics"}
    assert operator["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert {"name": "metrics", "containerPort": int(env["ASTRA_OPERATOR_METRICS_PORT"]), "protocol": "TCP"} \
        in operator["ports"]
    assert "--standalone" not in operator["args"]
    assert pod["serviceAccountName"] == one(docs, "ServiceAccount")["metadata"]["name"] == fullname
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert operator["securityContext"]["readOnlyRootFilesystem"] is True
    assert operator["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert operator["securityContext"]["allowPrivilegeEscalation"] is False

    # Peering: the operator keeps alive in the object the chart creates, and may patch only that one.
    peering = one(docs, "ClusterKopfPeering")["metadata"]["name"]
    assert env["ASTRA_OPERATOR_PEERING_NAME"] == peering
    assert any(rule.get("resourceNames") == [peering] and rule["verbs"] == ["patch"]
               for rule in operator_rules(docs, fullname))

    # Webhook: Service -> container port, the configuration names, the certificate's names and chain.
    service = one(docs, "Service", "ato-astra-token-operator-webhook")
    assert env["ASTRA_OPERATOR_WEBHOOK_SERVICE_NAME"] == service["metadata"]["name"]
    assert env["ASTRA_OPERATOR_WEBHOOK_SERVICE_NAMESPACE"] == "astra-system"
    assert env["ASTRA_OPERATOR_WEBHOOK_SERVICE_PORT"] == str(service["spec"]["ports"][0]["port"]) == "443"
    assert service["spec"]["ports"][0]["targetPort"] == "webhook"
    assert {"name": "webhook", "containerPort": 9443, "protocol": "TCP"} in operator["ports"]
    assert env["ASTRA_OPERATOR_WEBHOOK_LISTEN_ADDR"] == "0.0.0.0"  # noqa: S104 (in a pod: the Service reaches it)
    configuration = env["ASTRA_OPERATOR_WEBHOOK_CONFIGURATION_NAME"]
    assert one(docs, "ValidatingWebhookConfiguration")["metadata"]["name"] == configuration
    assert one(docs, "MutatingWebhookConfiguration")["metadata"]["name"] == configuration
    assert "webhooks" not in one(docs, "ValidatingWebhookConfiguration")  # the operator owns that field

    secret = one(docs, "Secret")
    volume = next(v for v in pod["volumes"] if v["name"] == "webhook-certificate")
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    mount = next(m for m in operator["volumeMounts"] if m["name"] == "webhook-certificate")
    for key, setting in (("tls.crt", "CERT_FILE"), ("tls.key", "KEY_FILE"), ("ca.crt", "CA_FILE")):
        assert env[f"ASTRA_OPERATOR_WEBHOOK_{setting}"] == f"{mount['mountPath']}/{key}"
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    ca = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["ca.crt"]))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName)
    assert f"{service['metadata']['name']}.astra-system.svc" in names  # what the apiserver connects to
    cert.verify_directly_issued_by(ca)

    # Nothing optional unless asked for.
    assert not [doc for doc in docs if doc["kind"] in {"NetworkPolicy", "Certificate", "ServiceMonitor",
                                                        "PrometheusRule", "ConfigMap"}]


def test_cert_manager_network_policy_and_two_replicas_render_as_asked(helm: Any) -> None:
    docs = render(helm, "certManager.enabled=true", "networkPolicy.enabled=true", "replicas=2")
    deployment = one(docs, "Deployment")
    operator = container(docs)

    assert deployment["spec"]["replicas"] == 2
    # Equal peering priorities pause every replica: each pod draws its own at start.
    assert operator["command"][:2] == ["/bin/sh", "-c"]
    assert "exec astra-token-operator run --priority=" in operator["command"][2]
    assert '"$@"' in operator["command"][2]

    # cert-manager writes the Secret the pod mounts; Helm generates none.
    assert not [doc for doc in docs if doc["kind"] == "Secret"]
    serving = one(docs, "Certificate", "ato-astra-token-operator-webhook")
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "webhook-certificate")
    assert serving["spec"]["secretName"] == volume["secret"]["secretName"]
    assert "ato-astra-token-operator-webhook.astra-system.svc" in serving["spec"]["dnsNames"]
    ca_issuer = one(docs, "Issuer", serving["spec"]["issuerRef"]["name"])
    ca_certificate = one(docs, "Certificate", "ato-astra-token-operator-webhook-ca")
    assert ca_certificate["spec"]["isCA"] is True
    assert ca_issuer["spec"]["ca"]["secretName"] == ca_certificate["spec"]["secretName"]

    policy = one(docs, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert {"port": "webhook", "protocol": "TCP"} in policy["ingress"][0]["ports"]
    egress_ports = {(port["port"], port["protocol"]) for rule in policy["egress"] for port in rule["ports"]}
    assert {(443, "TCP"), (6443, "TCP"), (53, "UDP"), (53, "TCP"), (8200, "TCP")} <= egress_ports
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_standalone_never_runs_two_operators_even_during_a_rollout(helm: Any) -> None:
    docs = render(helm, "peering.enabled=false", "replicas=1")
    assert "--standalone" in container(docs)["args"]
    assert one(docs, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    assert not [doc for doc in docs if doc["kind"] in {"ClusterKopfPeering", "KopfPeering"}]
    assert not [rule for rule in operator_rules(docs, "ato-astra-token-operator") if "kopf.dev" in rule["apiGroups"]]


@pytest.mark.parametrize(("sets", "reason"), [
    (["replicas=2", "peering.enabled=false"], "replicas > 1 needs peering.enabled=true"),
    (["watchNamespaces[0]=team-*"], "is a pattern"),
    (["vault.auth=token"], "vault.tokenSecret.name"),
    (["vault.auth=userpass"], "vault/auth"),
])
def test_values_that_cannot_work_are_refused_with_the_fix(helm: Any, sets: list[str], reason: str) -> None:
    result = helm("template", "ato", str(CHART), *[a for s in sets for a in ("--set", s)], check=False)
    assert result.returncode != 0
    assert reason in result.stderr


def test_plain_manifests_in_deploy_are_the_chart_rendered_with_deploy_values(helm: Any) -> None:
    rendered = helm("template", "astra-token-operator", str(CHART), "--namespace", "astra-token-operator",
                    "--values", str(DEPLOY / "values.yaml")).stdout
    assert (DEPLOY / "astra-token-operator.yaml").read_text().endswith(rendered), \
        "deploy/astra-token-operator.yaml is stale: run hack/render-deploy.sh"
    docs = documents(rendered)
    assert not [doc for doc in docs if doc["kind"] == "Secret"]  # no private key shared by every user


# --- installed -----------------------------------------------------------------------------------

@dataclass
class Release:
    name: str
    namespace: str
    fullname: str
    manifest: list[Manifest] = field(default_factory=list)

    @property
    def service_account(self) -> str:
        return self.fullname

    @property
    def subject(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


# While the chart's operator stands in for the suite's, it also serves the orgs other tests
# share, whose root tokens are in the suite operator's namespace: allowing that namespace keeps
# them Ready (and exercises rootTokenNamespaces).
SHARED_ORGS = (f"rootTokenNamespaces[0]={OPERATOR_NAMESPACE}", "replicas=1")  # one local process stands in


@contextlib.contextmanager
def installed(helm: Any, k8s_api: k8s.ApiClient, *sets: str) -> Iterator[Release]:
    """The chart installed into a fresh namespace, uninstalled afterwards."""
    suffix = uuid.uuid4().hex[:6]
    release = Release(name=f"ato-{suffix}", namespace=f"ato-chart-{suffix}",
                      fullname=f"ato-{suffix}-astra-token-operator")
    helm("install", release.name, str(CHART), "--namespace", release.namespace, "--create-namespace",
         "--set", "crds.enabled=false",  # the suite applied the CRDs itself
         *[arg for value in sets for arg in ("--set", value)])
    release.manifest = documents(helm("get", "manifest", release.name, "--namespace", release.namespace).stdout)
    try:
        yield release
    finally:
        helm("uninstall", release.name, "--namespace", release.namespace, "--wait", check=False)
        k8s.CoreV1Api(k8s_api).delete_namespace(release.namespace)


@pytest.fixture(scope="module")
def release(helm: Any, k8s_api: k8s.ApiClient, crds: Path) -> Iterator[Release]:
    """The chart with default values (but SHARED_ORGS). The CRDs exist already
    (the suite applied crds/): Helm skips CRDs that exist and creates the
    missing Kopf peering ones, so no --skip-crds is needed."""
    with installed(helm, k8s_api, *SHARED_ORGS) as default_release:
        yield default_release


def can_i(kubectl: Any, who: str, *args: str) -> bool:
    result = kubectl("auth", "can-i", *args, f"--as={who}")
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), f"kubectl auth can-i {' '.join(args)}: {result.stdout} {result.stderr}"
    return answer == "yes"


def test_upgrade_keeps_the_webhook_certificate_and_the_operators_webhooks(
    helm: Any, release: Release, kubectl: Any, cluster: Cluster,
) -> None:
    secret_name = f"{release.fullname}-webhook-tls"
    before = cluster.secret_data(secret_name, release.namespace)
    configuration = f"{release.fullname}.astra-tokens.io"
    # What the operator would write: a webhook that can match nothing here.
    webhook = {"name": f"probe.{configuration}", "admissionReviewVersions": ["v1"], "sideEffects": "None",
               "failurePolicy": "Ignore",
               "clientConfig": {"service": {"name": f"{release.fullname}-webhook", "namespace": release.namespace,
                                            "port": 443, "path": "/probe"}},
               "objectSelector": {"matchLabels": {"astra-tokens.io/never": "true"}},
               "rules": [{"apiGroups": [GROUP], "apiVersions": [VERSION], "operations": ["CREATE"],
                          "resources": ["astratokens"]}]}
    patched = kubectl("patch", "validatingwebhookconfiguration", configuration, "--type=merge",
                      "-p", json.dumps({"webhooks": [webhook]}))
    assert patched.returncode == 0, patched.stderr

    helm("upgrade", release.name, str(CHART), "--namespace", release.namespace, "--reuse-values",
         "--set", "podLabels.upgraded=yes")

    assert cluster.secret_data(secret_name, release.namespace) == before
    found = json.loads(kubectl("get", "validatingwebhookconfiguration", configuration, "-o", "json").stdout)
    assert [hook["name"] for hook in found.get("webhooks", [])] == [webhook["name"]]


def test_service_account_cannot_do_what_the_operator_never_does(release: Release, kubectl: Any) -> None:
    sa, ns = release.subject, release.namespace
    configuration = f"{release.fullname}.astra-tokens.io"
    must = [
        ("list", "secrets", "--all-namespaces"),
        ("create", "secrets", "-n", "default"),
        ("patch", "astratokens.astra-tokens.io", "--subresource=status", "-n", "default"),
        ("patch", f"validatingwebhookconfigurations/{configuration}"),
        ("patch", f"clusterkopfpeerings.kopf.dev/{release.fullname}"),
    ]
    must_not = [
        ("delete", "namespaces"),
        ("create", "clusterrolebindings"),
        ("create", "clusterroles"),
        ("create", "pods", "--subresource=exec", "-n", ns),
        ("get", "pods", "-n", ns),
        ("get", "configmaps", "-n", "kube-system"),
        ("update", "deployments", "-n", "default"),  # a rollout restart is a patch, nothing more
        ("patch", "secrets", "-n", "default"),
        ("delete", "astratokens.astra-tokens.io", "-n", "default"),
        ("create", "astraorgs.astra-tokens.io"),
        ("patch", "validatingwebhookconfigurations/someone-elses"),
        ("delete", f"validatingwebhookconfigurations/{configuration}"),
        ("patch", "clusterkopfpeerings.kopf.dev/someone-elses"),
        ("impersonate", "users"),
        ("create", "serviceaccounts", "--subresource=token", "-n", ns),
        ("create", "events.events.k8s.io", "-n", "default"),
    ]
    assert [args for args in must if not can_i(kubectl, sa, *args)] == []
    assert [args for args in must_not if can_i(kubectl, sa, *args)] == []


def test_edit_users_get_astratokens_in_their_namespace_but_not_orgs_or_roles(
    release: Release, kubectl: Any, make_namespace: Any,
) -> None:
    team = make_namespace("chart-team")
    for user, role in (("alice", "edit"), ("victor", "view")):
        bound = kubectl("create", "rolebinding", f"{user}-{role}", f"--clusterrole={role}", f"--user={user}",
                        "-n", team)
        assert bound.returncode == 0, bound.stderr
    # The aggregation controller merges our ClusterRoles into edit/view asynchronously.
    wait_for(lambda: can_i(kubectl, "alice", "create", "astratokens.astra-tokens.io", "-n", team)
             and can_i(kubectl, "victor", "list", "astratokens.astra-tokens.io", "-n", team),
             timeout=30, what="edit and view to include AstraTokens")

    assert can_i(kubectl, "alice", "delete", "astratokens.astra-tokens.io", "-n", team)
    assert not can_i(kubectl, "alice", "create", "astratokens.astra-tokens.io", "-n", "default")
    assert not can_i(kubectl, "alice", "create", "astraorgs.astra-tokens.io")
    assert not can_i(kubectl, "alice", "create", "astraroles.astra-tokens.io")
    assert not can_i(kubectl, "alice", "patch", "astratokens.astra-tokens.io", "--subresource=status", "-n", team)
    assert not can_i(kubectl, "victor", "create", "astratokens.astra-tokens.io", "-n", team)


# --- the RBAC proof: the operator, as the chart's ServiceAccount ------------------------------------

@dataclass
class ChartOperatorProcess(OperatorProcess):
    """The operator started with the chart's container arguments (only the
    liveness address moves to loopback), not the suite's --standalone."""

    args: list[str] = field(default_factory=list)

    def start(self, extra_env: dict[str, str] | None = None, wait: bool = True) -> None:
        self.starts += 1
        self.liveness_port = free_port()
        log = self.log_dir / f"chart-operator-{self.starts}.log"
        self.logs.append(log)
        local_liveness = f"--liveness=http://127.0.0.1:{self.liveness_port}/healthz"
        args = [local_liveness if arg.startswith("--liveness=") else arg for arg in self.args]
        self.child = Child("chart-operator", [str(venv_tool("astra-token-operator")), "run", *args],
                           log_path=log, env={**self.env, **(extra_env or {})}, stdout=None)
        if wait:
            self.wait_ready()


# In a pod the webhook is reached through the chart's Service with the chart's certificate; a
# local process is reached at a URL with a certificate of its own (as the suite's operator is).
SUITE_WEBHOOK_CONFIGURATION = OperatorConfig.model_fields["webhook_configuration_name"].default
POD_ONLY_SETTINGS = ("WEBHOOK_LISTEN_ADDR", "WEBHOOK_PORT", "WEBHOOK_CERT_FILE", "WEBHOOK_KEY_FILE",
                     "WEBHOOK_CA_FILE", "WEBHOOK_SERVICE_NAME", "WEBHOOK_SERVICE_NAMESPACE", "WEBHOOK_SERVICE_PORT")


def chart_operator(release: Release, platform: Platform, kubeconfig: Path, log_dir: Path) -> ChartOperatorProcess:
    operator_container = container(release.manifest)
    assert operator_container["command"] == ["astra-token-operator", "run"]
    chart_settings = {key: value for key, value in plain_env(release.manifest).items()
                      if key.removeprefix("ASTRA_OPERATOR_") not in POD_ONLY_SETTINGS}
    assert chart_settings["ASTRA_OPERATOR_WEBHOOK_ENABLED"] == "true"
    # Vault is the test OpenBao with token auth; the namespace comes from the downward API in a pod.
    local = operator_env(kubeconfig=kubeconfig, vault_addr=platform.openbao.addr, vault_token=platform.openbao.token,
                         operator_namespace=release.namespace,
                         extra={"ASTRA_OPERATOR_VAULT_AUTH": "token", "POD_ID": "chart-rbac-proof"})
    return ChartOperatorProcess(log_dir=log_dir, env={**chart_settings, **local}, args=operator_container["args"])


def set_webhooks(kubectl: Any, configuration: str, webhooks: list[Manifest] | None) -> None:
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


def manifest(kind: str, name: str, spec: Manifest, namespace: str | None = None) -> str:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return json.dumps({"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": metadata, "spec": spec})


def prove_rbac_suffices(release: Release, tenant: str, *, platform: Platform, operator: OperatorProcess,
                        sa_kubeconfig: KubeconfigFactory, cluster: Cluster, fake_astra: FakeAstraThread,
                        kubectl: Any, log_dir: Path) -> None:
    """Run the operator as the release's ServiceAccount with the chart's flags
    and settings: an org, a role and a token in `tenant` become Ready, the
    token's Secret is written, and deleting the token revokes it and removes
    the Secret, with no request refused on the way."""
    org_id, suffix = str(uuid.uuid4()), uuid.uuid4().hex[:6]
    org, role, token = f"chart-org-{suffix}", f"chart-rw-{suffix}", "chart-app"
    cluster.must_apply(root_token_secret("chart-root-token", fake_astra.add_org(org_id), namespace=release.namespace))
    process = chart_operator(release, platform, sa_kubeconfig(release.namespace, release.service_account), log_dir)
    configuration = process.env["ASTRA_OPERATOR_WEBHOOK_CONFIGURATION_NAME"]

    # One operator at a time: the suite's would act on the same objects. Its persistent webhooks
    # (failurePolicy Fail) outlive it and would refuse every write: remove them; it re-creates
    # them when it starts again.
    operator.stop()
    set_webhooks(kubectl, SUITE_WEBHOOK_CONFIGURATION, None)
    try:
        process.start()
        # Its own webhooks, in the configuration the chart created (create, then patch by name).
        wait_for(lambda: f"validate-token.{configuration}" in webhook_names(kubectl, configuration), timeout=20,
                 what="the operator's webhooks")

        cluster.must_apply(manifest("AstraOrg", org, {
            "orgId": org_id, "url": fake_astra.url, "allowedNamespaces": [tenant],
            "rootTokenRef": {"secret": {"namespace": release.namespace, "name": "chart-root-token"}},
            "roleSync": {"enabled": True, "interval": "1h"}}))
        cluster.must_apply(manifest("AstraRole", role, {"orgRef": org, "astraRoleName": "R/W User", "ttl": "1h"}))
        cluster.must_apply(manifest("AstraToken", token, {"orgRef": org, "roleRef": role}, namespace=tenant))

        found = cluster.wait_ready("astratokens", token, tenant, timeout=30)
        cluster.wait_ready("astraroles", f"{org}-r-w-user", timeout=30)  # role import: create on astraroles
        data = wait_for(lambda: cluster.secret(token, tenant) and cluster.secret_data(token, tenant), timeout=10,
                        what="the token's Secret")
        assert data["clientId"] == found["status"]["clientId"]
        assert fake_astra.verify(data["token"]).valid
        assert ANNOTATION_CREATED_BY in found["metadata"]["annotations"]  # the mutating webhook ran
        assert "chart-rbac-proof" in peering_status(cluster, release)  # peering ran: not --standalone

        cluster.delete("astratokens", token, tenant)
        cluster.wait_gone("astratokens", token, tenant, timeout=30)
        assert not fake_astra.verify(data["token"]).valid
        wait_for(lambda: cluster.secret(token, tenant) is None, timeout=10, what="the Secret to be deleted")
        for plural, name in (("astraroles", role), ("astraorgs", org)):
            cluster.delete(plural, name)
            cluster.wait_gone(plural, name, timeout=30)

        # No refusal on any path it took, including Kopf's own (it logs them and carries on).
        log = process.log_text()
        for refusal in (release.subject, "Not enough permissions", "Not enough RBAC permissions"):
            assert refusal not in log, f"the operator was refused something ({refusal!r}):\n{log[-3000:]}"
    finally:
        process.stop()
        set_webhooks(kubectl, configuration, [])  # its persistent webhooks point at a process now gone
        operator.start()
        wait_for(lambda: webhook_names(kubectl, SUITE_WEBHOOK_CONFIGURATION), timeout=30,
                 what="the suite's operator to re-create its webhooks")


def peering_status(cluster: Cluster, release: Release) -> dict[str, Any]:
    """Who keeps alive in the release's peering object (ClusterKopfPeering, or
    the KopfPeering in its one watched namespace)."""
    objects = cluster.objects
    watched = [arg.split("=", 1)[1] for arg in container(release.manifest)["args"] if arg.startswith("--namespace=")]
    if watched:
        (namespace,) = watched
        found = objects.get_namespaced_custom_object("kopf.dev", "v1", namespace, "kopfpeerings", release.fullname)
    else:
        found = objects.get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", release.fullname)
    status: dict[str, Any] = found.get("status") or {}
    return status


def test_operator_with_only_the_charts_cluster_wide_rbac_issues_publishes_and_revokes_a_token(
    release: Release, platform: Platform, operator: OperatorProcess, sa_kubeconfig: KubeconfigFactory,
    cluster: Cluster, fake_astra: FakeAstraThread, make_namespace: Any, kubectl: Any, tmp_path: Path,
) -> None:
    prove_rbac_suffices(release, make_namespace("chart-tenant"), platform=platform, operator=operator,
                        sa_kubeconfig=sa_kubeconfig, cluster=cluster, fake_astra=fake_astra, kubectl=kubectl,
                        log_dir=tmp_path)


def test_operator_restricted_to_a_namespace_works_with_roles_there_and_no_cluster_wide_secrets(
    helm: Any, k8s_api: k8s.ApiClient, crds: Path, platform: Platform, operator: OperatorProcess,
    sa_kubeconfig: KubeconfigFactory, cluster: Cluster, fake_astra: FakeAstraThread, make_namespace: Any,
    kubectl: Any, tmp_path: Path,
) -> None:
    tenant = make_namespace("chart-only")
    with installed(helm, k8s_api, f"watchNamespaces[0]={tenant}", *SHARED_ORGS) as restricted:
        assert not can_i(kubectl, restricted.subject, "list", "secrets", "--all-namespaces")
        assert not can_i(kubectl, restricted.subject, "get", "secrets", "-n", "default")
        assert can_i(kubectl, restricted.subject, "list", "secrets", "-n", tenant)
        assert can_i(kubectl, restricted.subject, "get", "secrets", "-n", restricted.namespace)  # root tokens
        prove_rbac_suffices(restricted, tenant, platform=platform, operator=operator, sa_kubeconfig=sa_kubeconfig,
                            cluster=cluster, fake_astra=fake_astra, kubectl=kubectl, log_dir=tmp_path)
