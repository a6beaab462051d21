"""The Helm chart: it lints and renders what its values promise, installs on a
real control plane, and its RBAC is exactly enough: an operator authenticated
as the chart's ServiceAccount, with the chart's flags, issues and revokes a
token, and that ServiceAccount cannot do what the operator never does.

The RBAC proof runs the operator as the chart's pod on the test node (the image
built from the Dockerfile), so it holds the ServiceAccount's token and nothing else."""

from __future__ import annotations

import base64
import contextlib
import json
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from kubernetes import client as k8s

from astra_token_operator.fake_astra import FakeAstraThread
from astra_token_operator.surface import ANNOTATION_CREATED_BY
from integration.conftest import (
    GROUP,
    OPERATOR_NAMESPACE,
    VAULT_TOKEN_SECRET,
    VERSION,
    Cluster,
    release_pods_ready,
    root_token_secret,
    suite_operator_aside,
    wait_for,
    webhook_names,
)
from testplatform.operator import OperatorProcess
from testplatform.paths import REPO_ROOT
from testplatform.platform import Platform

CHART = REPO_ROOT / "helm" / "astra-token-operator"
DEPLOY = REPO_ROOT / "deploy"
Manifest = dict[str, Any]


# --- helm (the `helm` fixture is in integration/conftest.py) ----------------------------------------

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
        "ClusterKopfPeering", "ClusterRole", "ClusterRole", "ClusterRole", "ClusterRole", "ClusterRoleBinding",
        "Deployment", "MutatingWebhookConfiguration", "Secret", "Service", "ServiceAccount",
        "ValidatingWebhookConfiguration",
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

    # Delivery's timings reach the operator's settings (the pod release sets them short and relies on it).
    assert (env["ASTRA_OPERATOR_RESTART_WINDOW_SECONDS"], env["ASTRA_OPERATOR_ROLLOUT_TIMEOUT_SECONDS"],
            env["ASTRA_OPERATOR_ROLLOUT_POLL_SECONDS"]) == ("30", "1800", "5")

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

    # Abandoning: a ClusterRole with the one verb, aggregated into nothing and bound to no one.
    abandon = one(docs, "ClusterRole", f"{fullname}-abandon")
    assert abandon["rules"] == [{"apiGroups": ["astra-tokens.io"], "resources": ["astratokens"],
                                 "verbs": ["abandon"]}]
    assert not [key for key in abandon["metadata"]["labels"] if "aggregate" in key]
    assert [doc["roleRef"]["name"] for doc in docs if doc["kind"] == "ClusterRoleBinding"] == [fullname]
    assert not [doc for doc in docs if doc["kind"] == "ClusterRole" and "abandon" in str(doc.get("rules"))
                and doc["metadata"]["name"] != abandon["metadata"]["name"]]

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
def installed(helm: Any, k8s_api: k8s.ApiClient, *sets: str, values: Manifest | None = None,
              vault_token: str | None = None) -> Iterator[Release]:
    """The chart installed into a fresh namespace, uninstalled afterwards. With `values` (e.g.
    pod_values(): an operator that runs on the node) and the test OpenBao's token, which goes
    into the namespace's Secret VAULT_TOKEN_SECRET before the pod starts."""
    suffix = uuid.uuid4().hex[:6]
    release = Release(name=f"ato-{suffix}", namespace=f"ato-chart-{suffix}",
                      fullname=f"ato-{suffix}-astra-token-operator")
    core = k8s.CoreV1Api(k8s_api)
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=release.namespace)))
    if vault_token is not None:
        core.create_namespaced_secret(release.namespace, k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name=VAULT_TOKEN_SECRET), string_data={"token": vault_token}))
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as values_file:
        yaml.safe_dump(values or {}, values_file)
        values_file.flush()
        helm("install", release.name, str(CHART), "--namespace", release.namespace, "-f", values_file.name,
             "--set", "crds.enabled=false",  # the suite applied the CRDs itself
             *[arg for value in sets for arg in ("--set", value)])
    release.manifest = documents(helm("get", "manifest", release.name, "--namespace", release.namespace).stdout)
    try:
        yield release
    finally:
        helm("uninstall", release.name, "--namespace", release.namespace, "--wait", check=False)
        core.delete_namespace(release.namespace)


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
        ("patch", "secrets", "-n", "default"),  # a renewal writes its Secret as a patch over what it last saw
        ("patch", "astratokens.astra-tokens.io", "--subresource=status", "-n", "default"),
        ("patch", f"validatingwebhookconfigurations/{configuration}"),
        ("patch", f"clusterkopfpeerings.kopf.dev/{release.fullname}"),
        ("create", "subjectaccessreviews.authorization.k8s.io"),  # may this user abandon AstraTokens?
        ("delete", "astratokens.astra-tokens.io", "-n", "default"),  # an org or role deleted with cascade
        ("watch", "pods", "--all-namespaces"),  # sidecar mode: only ever with labelSelector inject=true
        ("create", "astratokens.astra-tokens.io", "-n", "default"),  # sidecar mode: a pod's own AstraToken
    ]
    must_not = [
        ("delete", "namespaces"),
        ("create", "clusterrolebindings"),
        ("create", "clusterroles"),
        ("create", "pods", "--subresource=exec", "-n", ns),
        ("delete", "pods", "-n", ns),  # a pod's end is seen, never caused
        ("patch", "pods", "-n", "default"),  # injection happens at admission, not by writing pods
        ("get", "configmaps", "-n", "kube-system"),
        ("update", "deployments", "-n", "default"),  # a rollout restart is a patch, nothing more
        ("update", "secrets", "-n", "default"),  # never a whole-object write
        ("create", "astraorgs.astra-tokens.io"),
        ("patch", "validatingwebhookconfigurations/someone-elses"),
        ("delete", f"validatingwebhookconfigurations/{configuration}"),
        ("patch", "clusterkopfpeerings.kopf.dev/someone-elses"),
        ("impersonate", "users"),
        ("create", "serviceaccounts", "--subresource=token", "-n", ns),
        ("create", "events.events.k8s.io", "-n", "default"),
        ("abandon", "astratokens.astra-tokens.io", "-n", "default"),
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
    assert not can_i(kubectl, "alice", "abandon", "astratokens.astra-tokens.io", "-n", team)  # never by default
    assert not can_i(kubectl, "alice", "create", "astratokens.astra-tokens.io", "-n", "default")
    assert not can_i(kubectl, "alice", "create", "astraorgs.astra-tokens.io")
    assert not can_i(kubectl, "alice", "create", "astraroles.astra-tokens.io")
    assert not can_i(kubectl, "alice", "patch", "astratokens.astra-tokens.io", "--subresource=status", "-n", team)
    assert not can_i(kubectl, "victor", "create", "astratokens.astra-tokens.io", "-n", team)


# --- the RBAC proof: the operator pod, as the chart's ServiceAccount ---------------------------------

def manifest(kind: str, name: str, spec: Manifest, namespace: str | None = None) -> str:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return json.dumps({"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": metadata, "spec": spec})


def prove_rbac_suffices(release: Release, tenant: str, *, cluster: Cluster, fake_astra: FakeAstraThread,
                        kubectl: Any, k8s_api: k8s.ApiClient) -> None:
    """The release's operator pod, with nothing but the chart's ServiceAccount, flags and
    settings (the suite's operator stepped aside): an org, a role and a token in `tenant` become
    Ready, the token's Secret is written, abandon is checked with the apiserver, and deleting the
    org with cascade deletes the token, revokes it and removes the Secret, with no request refused
    on the way."""
    core = k8s.CoreV1Api(k8s_api)
    (pod,) = wait_for(lambda: release_pods_ready(core, release.namespace, release.name), timeout=120, interval=1,
                      what="the operator pod Ready")
    assert pod.spec.service_account_name == release.service_account
    configuration = f"{release.fullname}.astra-tokens.io"
    # Its own webhooks, in the configuration the chart created (create, then patch by name).
    wait_for(lambda: f"validate-token.{configuration}" in webhook_names(kubectl, configuration), timeout=30,
             what="the operator's webhooks")
    org_id, suffix = str(uuid.uuid4()), uuid.uuid4().hex[:6]
    org, role, token = f"chart-org-{suffix}", f"chart-rw-{suffix}", "chart-app"
    cluster.must_apply(root_token_secret("chart-root-token", fake_astra.add_org(org_id), namespace=release.namespace))

    cluster.must_apply(manifest("AstraOrg", org, {
        "orgId": org_id, "url": fake_astra.url, "allowedNamespaces": [tenant],
        "rootTokenRef": {"secret": {"namespace": release.namespace, "name": "chart-root-token"}},
        "roleSync": {"enabled": True, "interval": "1h"}}))
    cluster.must_apply(manifest("AstraRole", role, {"orgRef": org, "astraRoleName": "R/W User", "ttl": "1h"}))
    cluster.must_apply(manifest("AstraToken", token, {"orgRef": org, "roleRef": role}, namespace=tenant))

    found = cluster.wait_ready("astratokens", token, tenant, timeout=60)
    cluster.wait_ready("astraroles", f"{org}-r-w-user", timeout=30)  # role import: create on astraroles
    data = wait_for(lambda: cluster.secret(token, tenant) and cluster.secret_data(token, tenant), timeout=10,
                    what="the token's Secret")
    assert data["clientId"] == found["status"]["clientId"]
    assert fake_astra.verify(data["token"]).valid
    assert ANNOTATION_CREATED_BY in found["metadata"]["annotations"]  # the mutating webhook ran
    assert pod.metadata.name in peering_status(cluster, release)  # peering ran: not --standalone

    # Setting abandon asks the apiserver (a SubjectAccessReview, the admin may); removing it
    # again has the token revoked as usual.
    for change in ("astra-tokens.io/abandon=true", "astra-tokens.io/abandon-"):
        annotated = kubectl("annotate", "astratoken", token, "-n", tenant, change)
        assert annotated.returncode == 0, annotated.stderr
    prove_sidecar_mode(release, tenant, suffix, cluster=cluster, fake_astra=fake_astra, core=core)

    # The org deleted with cascade: the operator deletes the token (whose finalizer revokes it
    # and deletes its Secret), and only then lets the org go.
    cascade = kubectl("annotate", "astraorg", org, "astra-tokens.io/cascade=true")
    assert cascade.returncode == 0, cascade.stderr
    cluster.delete("astraorgs", org)
    cluster.wait_gone("astratokens", token, tenant, timeout=30)
    assert not fake_astra.verify(data["token"]).valid
    wait_for(lambda: cluster.secret(token, tenant) is None, timeout=10, what="the Secret to be deleted")
    cluster.wait_gone("astraorgs", org, timeout=30)
    cluster.delete("astraroles", role)
    cluster.wait_gone("astraroles", role, timeout=30)

    # No refusal on any path it took, including Kopf's own (it logs them and carries on). The
    # apiserver words a refusal 'User "<subject>" cannot <verb> ...'; the subject alone appears
    # legitimately, as who deleted the token the cascade revoked.
    logs = kubectl("logs", "-n", release.namespace, pod.metadata.name)
    assert logs.returncode == 0, logs.stderr
    for refusal in (f'\\"{release.subject}\\" cannot', f'"{release.subject}" cannot',
                    "Not enough permissions", "Not enough RBAC permissions"):
        assert refusal not in logs.stdout, f"the operator was refused something ({refusal!r}):\n{logs.stdout[-3000:]}"


def prove_sidecar_mode(release: Release, tenant: str, suffix: str, *, cluster: Cluster,
                       fake_astra: FakeAstraThread, core: k8s.CoreV1Api) -> None:
    """Sidecar mode with the chart's RBAC: the labelled-pod watch, the injection webhook and the
    operator's own AstraToken for the pod; the pod's deletion revokes its token."""
    org_id, org, role = str(uuid.uuid4()), f"chart-side-{suffix}", f"chart-side-rw-{suffix}"
    cluster.must_apply(root_token_secret("chart-side-root-token", fake_astra.add_org(org_id),
                                         namespace=release.namespace))
    cluster.must_apply(manifest("AstraOrg", org, {
        "orgId": org_id, "url": fake_astra.url, "allowedNamespaces": [tenant], "callerMode": "sidecar",
        "rootTokenRef": {"secret": {"namespace": release.namespace, "name": "chart-side-root-token"}}}))
    cluster.must_apply(manifest("AstraRole", role, {"orgRef": org, "astraRoleName": "R/W User", "ttl": "1h"}))
    cluster.wait_ready("astraroles", role, timeout=30)
    wait_for(lambda: any(sa.metadata.name == "default" for sa in core.list_namespaced_service_account(tenant).items),
             timeout=30, what="the tenant's default ServiceAccount")
    pod = core.create_namespaced_pod(tenant, {
        "metadata": {"name": "chart-pod", "labels": {"astra-tokens.io/inject": "true"},
                     "annotations": {"astra-tokens.io/role": role}},
        # No scheduler serves this name: the pod stays Pending; its Secret is what is proven.
        "spec": {"schedulerName": "chart-unscheduled", "containers": [{"name": "app", "image": "example/app:1"}]}})
    name = pod.metadata.annotations["astra-tokens.io/secret"]
    cluster.wait_ready("astratokens", name, tenant, timeout=30)
    token = cluster.secret_data(name, tenant)["token"]
    assert fake_astra.verify(token).valid
    core.delete_namespaced_pod("chart-pod", tenant, grace_period_seconds=0)
    wait_for(lambda: not fake_astra.verify(token).valid, timeout=20, what="the pod's token revoked")
    cluster.wait_gone("astratokens", name, tenant, timeout=30)
    for plural, obj in (("astraroles", role), ("astraorgs", org)):
        cluster.delete(plural, obj)
        cluster.wait_gone(plural, obj, timeout=30)


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


@pytest.mark.node
def test_operator_pod_with_only_the_charts_cluster_wide_rbac_issues_publishes_and_revokes_a_token(
    helm: Any, k8s_api: k8s.ApiClient, crds: Path, platform: Platform, operator: OperatorProcess,
    pod_values: Any, cluster: Cluster, fake_astra: FakeAstraThread, make_namespace: Any, kubectl: Any,
) -> None:
    tenant = make_namespace("chart-tenant")
    with (suite_operator_aside(operator, kubectl),
          installed(helm, k8s_api, *SHARED_ORGS, values=pod_values(), vault_token=platform.openbao.token) as running):
        prove_rbac_suffices(running, tenant, cluster=cluster, fake_astra=fake_astra, kubectl=kubectl,
                            k8s_api=k8s_api)


@pytest.mark.node
def test_operator_pod_restricted_to_a_namespace_works_with_roles_there_and_no_cluster_wide_secrets(
    helm: Any, k8s_api: k8s.ApiClient, crds: Path, platform: Platform, operator: OperatorProcess,
    pod_values: Any, cluster: Cluster, fake_astra: FakeAstraThread, make_namespace: Any, kubectl: Any,
) -> None:
    tenant = make_namespace("chart-only")
    with (suite_operator_aside(operator, kubectl),
          installed(helm, k8s_api, f"watchNamespaces[0]={tenant}", *SHARED_ORGS, values=pod_values(),
                    vault_token=platform.openbao.token) as restricted):
        assert not can_i(kubectl, restricted.subject, "list", "secrets", "--all-namespaces")
        assert not can_i(kubectl, restricted.subject, "get", "secrets", "-n", "default")
        assert can_i(kubectl, restricted.subject, "list", "secrets", "-n", tenant)
        assert can_i(kubectl, restricted.subject, "get", "secrets", "-n", restricted.namespace)  # root tokens
        prove_rbac_suffices(restricted, tenant, cluster=cluster, fake_astra=fake_astra, kubectl=kubectl,
                            k8s_api=k8s_api)
