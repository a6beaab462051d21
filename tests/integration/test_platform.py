"""The test platform itself: a real control plane, OpenBao, kubectl and helm
behave as the rest of the suite relies on."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import hvac
import pytest
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from astra_token_operator.certs import make_serving_certificate
from testplatform.kube import KubeconfigFactory, wait_for_namespace_gone
from testplatform.platform import Platform
from testplatform.waiting import wait_for

GROUP = "platform-test.astra-tokens.io"

WIDGET_CRD = f"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{GROUP}
spec:
  group: {GROUP}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget}}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {{status: {{}}}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {{type: integer}}
          status:
            type: object
            properties:
              phase: {{type: string}}
"""


@pytest.fixture(scope="module")
def widget_crd(kubectl: Any) -> str:
    applied = kubectl("apply", "-f", "-", input=WIDGET_CRD)
    assert applied.returncode == 0, applied.stderr
    waited = kubectl("wait", "--for=condition=Established", f"crd/widgets.{GROUP}", "--timeout=30s")
    assert waited.returncode == 0, waited.stderr
    return "widgets"


def test_custom_object_is_created_watched_patched_and_status_patched(
    k8s_api: k8s.ApiClient, widget_crd: str, namespace: str
) -> None:
    objects = k8s.CustomObjectsApi(k8s_api)
    events: list[tuple[str, Any]] = []
    watcher = watch.Watch()
    # Watching from the list's resourceVersion replays every change made after
    # it, however late the watch connection is established.
    listing = objects.list_namespaced_custom_object(GROUP, "v1", namespace, widget_crd)
    start = listing["metadata"]["resourceVersion"]

    def collect() -> None:
        for event in watcher.stream(objects.list_namespaced_custom_object, GROUP, "v1", namespace,
                                    widget_crd, resource_version=start, timeout_seconds=30):
            events.append((event["type"], event["object"]))
            if len(events) >= 3:
                watcher.stop()

    listener = threading.Thread(target=collect, daemon=True)
    listener.start()
    objects.create_namespaced_custom_object(GROUP, "v1", namespace, widget_crd, {
        "apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 1},
    })
    objects.patch_namespaced_custom_object(GROUP, "v1", namespace, widget_crd, "w1", {"spec": {"size": 2}})
    objects.patch_namespaced_custom_object_status(GROUP, "v1", namespace, widget_crd, "w1",
                                                  {"status": {"phase": "Ready"}})
    listener.join(timeout=30)

    assert [kind for kind, _ in events] == ["ADDED", "MODIFIED", "MODIFIED"]
    assert events[1][1]["spec"]["size"] == 2
    final = objects.get_namespaced_custom_object(GROUP, "v1", namespace, widget_crd, "w1")
    assert final["status"] == {"phase": "Ready"}
    # /status writes cannot change spec, and spec writes cannot change status:
    objects.patch_namespaced_custom_object(GROUP, "v1", namespace, widget_crd, "w1",
                                           {"status": {"phase": "Hacked"}})
    assert objects.get_namespaced_custom_object(GROUP, "v1", namespace, widget_crd,
                                                "w1")["status"] == {"phase": "Ready"}


def test_deleting_an_owner_garbage_collects_its_child(k8s_api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(k8s_api)
    owner = core.create_namespaced_config_map(
        namespace, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="owner")))
    core.create_namespaced_secret(namespace, k8s.V1Secret(metadata=k8s.V1ObjectMeta(
        name="child",
        owner_references=[k8s.V1OwnerReference(api_version="v1", kind="ConfigMap", name="owner",
                                               uid=owner.metadata.uid)],
    )))
    core.delete_namespaced_config_map("owner", namespace)

    def child_gone() -> bool:
        try:
            core.read_namespaced_secret("child", namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(child_gone, timeout=30)


def test_deleting_a_namespace_completes(k8s_api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(k8s_api)
    name = f"doomed-{uuid.uuid4().hex[:6]}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    core.create_namespaced_config_map(name, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="content")))
    core.delete_namespace(name)
    assert wait_for_namespace_gone(k8s_api, name, timeout=60) < 60


def test_rbac_decides_for_a_service_account_token(
    k8s_api: k8s.ApiClient, kubectl: Any, sa_kubeconfig: KubeconfigFactory, namespace: str
) -> None:
    sa_config = sa_kubeconfig(namespace, "reader")
    as_reader = f"--as=system:serviceaccount:{namespace}:reader"

    can = kubectl("auth", "can-i", "list", "configmaps", "-n", namespace, as_reader)
    assert can.stdout.strip() == "no"
    refused = kubectl("get", "configmaps", "-n", namespace, kubeconfig_path=sa_config)
    assert refused.returncode != 0
    assert "forbidden" in refused.stderr.lower()

    rbac = k8s.RbacAuthorizationV1Api(k8s_api)
    rbac.create_namespaced_role(namespace, k8s.V1Role(
        metadata=k8s.V1ObjectMeta(name="cm-reader"),
        rules=[k8s.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["get", "list"])],
    ))
    rbac.create_namespaced_role_binding(namespace, k8s.V1RoleBinding(
        metadata=k8s.V1ObjectMeta(name="cm-reader"),
        role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="cm-reader"),
        subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=namespace)],
    ))

    can = kubectl("auth", "can-i", "list", "configmaps", "-n", namespace, as_reader)
    assert can.stdout.strip() == "yes"
    allowed = kubectl("get", "configmaps", "-n", namespace, kubeconfig_path=sa_config)
    assert allowed.returncode == 0, allowed.stderr
    assert "kube-root-ca.crt" in allowed.stdout  # published by the root-ca-cert-publisher controller


class _DenyLabelledObjects(BaseHTTPRequestHandler):
    """An admission webhook: refuses objects labelled deny=yes, allows the rest."""

    calls: list[str] = []  # noqa: RUF012 (class-level record shared with the test)

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        request = review["request"]
        labels = (request.get("object") or {}).get("metadata", {}).get("labels") or {}
        self.calls.append(request["name"])
        allowed = labels.get("deny") != "yes"
        response: dict[str, Any] = {"uid": request["uid"], "allowed": allowed}
        if not allowed:
            response["status"] = {
                "code": 403, "message": "objects labelled deny=yes are refused by the test webhook"}
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                           "response": response}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook_server(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    certificate = make_serving_certificate(["127.0.0.1"])
    _, cert, key = certificate.write(tmp_path)
    server = HTTPServer(("127.0.0.1", 0), _DenyLabelledObjects)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/validate", certificate.ca_pem
    server.shutdown()


def test_validating_webhook_on_loopback_rejects_with_a_message_the_kubectl_user_sees(
    k8s_api: k8s.ApiClient, kubectl: Any, namespace: str, webhook_server: tuple[str, bytes]
) -> None:
    url, ca_pem = webhook_server
    admission = k8s.AdmissionregistrationV1Api(k8s_api)
    name = f"deny-{namespace}.platform-test.astra-tokens.io"
    admission.create_validating_webhook_configuration(k8s.V1ValidatingWebhookConfiguration(
        metadata=k8s.V1ObjectMeta(name=name),
        webhooks=[k8s.V1ValidatingWebhook(
            name=name,
            client_config=k8s.AdmissionregistrationV1WebhookClientConfig(
                url=url, ca_bundle=base64.b64encode(ca_pem).decode()),
            rules=[k8s.V1RuleWithOperations(api_groups=[""], api_versions=["v1"], operations=["CREATE"],
                                            resources=["configmaps"])],
            namespace_selector=k8s.V1LabelSelector(
                match_labels={"kubernetes.io/metadata.name": namespace}),
            failure_policy="Fail", side_effects="None", admission_review_versions=["v1"],
            timeout_seconds=10,
        )],
    ))
    try:
        def webhook_denies() -> subprocess.CompletedProcess[str] | None:
            result = kubectl("apply", "-n", namespace, "-f", "-", input=(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n  labels: {deny: 'yes'}\n"))
            return result if result.returncode != 0 else None

        # The apiserver picks up new webhook configurations within a second or so.
        denied = wait_for(webhook_denies, timeout=20)
        assert "objects labelled deny=yes are refused by the test webhook" in denied.stderr
        accepted = kubectl("create", "configmap", "good", "-n", namespace)
        assert accepted.returncode == 0, accepted.stderr
        assert "good" in _DenyLabelledObjects.calls
    finally:
        admission.delete_validating_webhook_configuration(name)


def test_openbao_kv_write_is_readable_and_audited(hvac_client: hvac.Client, vault_audit_log: Path) -> None:
    path = f"platform-test/{uuid.uuid4().hex}"
    hvac_client.secrets.kv.v2.create_or_update_secret(path=path, secret={"answer": "forty-two"})
    read = hvac_client.secrets.kv.v2.read_secret_version(path=path, raise_on_deleted_version=True)
    assert read["data"]["data"] == {"answer": "forty-two"}

    def audited() -> bool:
        return any(
            entry.get("type") == "request" and entry["request"].get("path") == f"secret/data/{path}"
            and entry["request"].get("operation") in ("create", "update")
            for entry in map(json.loads, vault_audit_log.read_text().splitlines())
        )

    wait_for(audited, timeout=10)
    assert "forty-two" not in vault_audit_log.read_text()  # values are HMAC'd in the audit log


def test_kubectl_and_helm_run_and_helm_renders_a_chart(platform: Platform, tmp_path: Path) -> None:
    kubectl = subprocess.run(["kubectl", "version", "--client", "-o", "json"], capture_output=True, text=True,
                             check=True)
    assert json.loads(kubectl.stdout)["clientVersion"]["minor"] == "36"
    helm = subprocess.run(["helm", "version", "--short"], capture_output=True, text=True, check=True)
    assert helm.stdout.startswith("v3.21.4")

    chart = tmp_path / "hello"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: hello\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("greeting: hi\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n")
    rendered = subprocess.run(["helm", "template", "demo", str(chart), "--set", "greeting=hello"],
                              capture_output=True, text=True, check=True)
    assert "name: demo" in rendered.stdout
    assert 'greeting: "hello"' in rendered.stdout


def test_openbao_kubernetes_auth_logs_in_a_service_account_and_refuses_another(
    platform: Platform, k8s_api: k8s.ApiClient, hvac_client: hvac.Client,
    sa_kubeconfig: KubeconfigFactory, namespace: str,
) -> None:
    # OpenBao's TokenReview calls are made with a reviewer account allowed to review tokens.
    rbac = k8s.RbacAuthorizationV1Api(k8s_api)
    reviewer_jwt = sa_kubeconfig.token(namespace, "token-reviewer")
    rbac.create_cluster_role_binding(k8s.V1ClusterRoleBinding(
        metadata=k8s.V1ObjectMeta(name=f"{namespace}-token-reviewer"),
        role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole",
                               name="system:auth-delegator"),
        subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name="token-reviewer", namespace=namespace)],
    ))
    mount = f"k8s-{namespace}"
    try:
        hvac_client.sys.enable_auth_method("kubernetes", path=mount)
        hvac_client.auth.kubernetes.configure(
            kubernetes_host=platform.controlplane.server,
            kubernetes_ca_cert=platform.controlplane.ca_file.read_text(),
            token_reviewer_jwt=reviewer_jwt,
            mount_point=mount,
        )
        hvac_client.auth.kubernetes.create_role(
            "app", bound_service_account_names=["app"], bound_service_account_namespaces=[namespace],
            policies=["default"], mount_point=mount,
        )
        login = hvac.Client(url=platform.openbao.addr)
        granted = login.auth.kubernetes.login("app", sa_kubeconfig.token(namespace, "app"), mount_point=mount)
        assert granted["auth"]["metadata"]["service_account_name"] == "app"
        assert granted["auth"]["metadata"]["service_account_namespace"] == namespace

        with pytest.raises(hvac.exceptions.Forbidden, match="service account name not authorized"):
            login.auth.kubernetes.login("app", sa_kubeconfig.token(namespace, "intruder"), mount_point=mount)
        # A token the apiserver never issued is refused too:
        with pytest.raises(hvac.exceptions.VaultError):
            login.auth.kubernetes.login("app", "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl", mount_point=mount)
    finally:
        hvac_client.sys.disable_auth_method(mount)
        rbac.delete_cluster_role_binding(f"{namespace}-token-reviewer")
