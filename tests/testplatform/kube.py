"""Kubernetes helpers for tests: kubeconfigs for ServiceAccounts through
TokenRequest, and waiting on namespace deletion."""

from __future__ import annotations

import time
from pathlib import Path

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from testplatform.controlplane import ControlPlane


def kubeconfig_for_token(path: Path, server: str, ca_file: Path, user: str, token: str,
                         namespace: str = "default") -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: controlplane\n  cluster:\n    server: {server}\n"
        f"    certificate-authority: {ca_file}\n"
        f"users:\n- name: {user}\n  user:\n    token: {token}\n"
        f"contexts:\n- name: {user}\n  context:\n    cluster: controlplane\n    user: {user}\n"
        f"    namespace: {namespace}\n"
        f"current-context: {user}\n"
    )
    path.chmod(0o600)
    return path


class KubeconfigFactory:
    """Call with (namespace, service_account) to get a kubeconfig for it."""

    def __init__(self, api: k8s.ApiClient, controlplane: ControlPlane, directory: Path) -> None:
        self._core = k8s.CoreV1Api(api)
        self._controlplane = controlplane
        self._directory = directory

    def token(self, namespace: str, name: str, audiences: list[str] | None = None,
              expiration_seconds: int = 3600) -> str:
        try:
            self._core.create_namespaced_service_account(
                namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name=name)))
        except ApiException as exc:
            if exc.status != 409:
                raise
        request = k8s.AuthenticationV1TokenRequest(
            spec=k8s.V1TokenRequestSpec(audiences=audiences or [], expiration_seconds=expiration_seconds))
        response = self._core.create_namespaced_service_account_token(name, namespace, request)
        status = response.status
        if status is None or not status.token:
            raise RuntimeError(f"TokenRequest for {namespace}/{name} returned no token")
        return str(status.token)

    def __call__(self, namespace: str, name: str) -> Path:
        return kubeconfig_for_token(
            self._directory / f"{namespace}.{name}.kubeconfig",
            self._controlplane.server, self._controlplane.ca_file,
            user=f"{namespace}-{name}", token=self.token(namespace, name), namespace=namespace,
        )


def wait_for_namespace_gone(api: k8s.ApiClient, name: str, timeout: float = 60) -> float:
    """Seconds until the namespace no longer exists; raises on timeout."""
    core = k8s.CoreV1Api(api)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            core.read_namespace(name)
        except ApiException as exc:
            if exc.status == 404:
                return time.monotonic() - started
            raise
        time.sleep(0.2)
    raise TimeoutError(f"namespace {name} still exists after {timeout}s")
