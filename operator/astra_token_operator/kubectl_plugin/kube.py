"""The plugin's only caller of the Kubernetes client: the caller's own kubeconfig,
context and identity (nothing of the operator's), objects as plain dicts as the
API returns them, and every API failure as one line in kubectl's words."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import load_incluster_config
from kubernetes.config.kube_config import KUBE_CONFIG_DEFAULT_LOCATION, KubeConfigLoader, KubeConfigMerger

from astra_token_operator.kubectl_plugin.errors import NotFound, PluginError, Refused
from astra_token_operator.surface import GROUP, VERSION

T = TypeVar("T")
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
WORKLOAD_KINDS = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}


class ApiError(PluginError):
    """The apiserver answered with an error; printed as kubectl prints it."""

    prefix = ""

    def __init__(self, message: str, status: int, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class ApiNotFound(ApiError, NotFound):
    pass


class ApiForbidden(ApiError, Refused):
    pass


@dataclass(frozen=True)
class KubeOptions:
    """How to reach the cluster and as whom: kubectl's own flags."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    as_user: str | None = None
    as_group: str | None = None
    as_uid: str | None = None
    request_timeout: float = 30.0


def _as_dict(value: object) -> dict[str, Any]:
    """The custom objects API answers with plain JSON objects, typed as object."""
    if not isinstance(value, dict):
        raise PluginError(f"unexpected answer from the Kubernetes API: {type(value).__name__}")
    return value


def api_error(exc: ApiException) -> ApiError:
    """kubectl's words: 'Error from server (Forbidden): secrets "x" is forbidden: User ...'."""
    reason, message = str(exc.reason or "Error"), ""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict):
        reason = str(body.get("reason") or reason)
        message = str(body.get("message") or "")
    text = f"Error from server ({reason}): {message or exc.reason or 'no message'}"
    status = int(exc.status or 0)
    if status == 404:
        return ApiNotFound(text, status, reason)
    if status == 403:
        return ApiForbidden(text, status, reason)
    return ApiError(text, status, reason)


class Kube:
    """One cluster, as the caller: every method is one or a few API calls."""

    def __init__(self, options: KubeOptions) -> None:
        self.options = options
        configuration = client.Configuration()
        self.namespace = self._load(configuration)
        if options.namespace:
            self.namespace = options.namespace
        self.server = str(configuration.host)
        self.api = client.ApiClient(configuration)
        if options.as_user:
            self.api.set_default_header("Impersonate-User", options.as_user)  # type: ignore[no-untyped-call]
        if options.as_group:
            self.api.set_default_header("Impersonate-Group", options.as_group)  # type: ignore[no-untyped-call]
        if options.as_uid:
            self.api.set_default_header("Impersonate-Uid", options.as_uid)  # type: ignore[no-untyped-call]
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.admission = client.AdmissionregistrationV1Api(self.api)

    def _load(self, configuration: client.Configuration) -> str:
        """Fill ``configuration`` from the kubeconfig (or in-cluster); return the context's namespace."""
        path = self.options.kubeconfig or KUBE_CONFIG_DEFAULT_LOCATION
        in_cluster = not self.options.kubeconfig and not os.environ.get("KUBECONFIG") and \
            not Path(os.path.expanduser(path)).exists() and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        try:
            if in_cluster:
                load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
                return IN_CLUSTER_NAMESPACE.read_text().strip() if IN_CLUSTER_NAMESPACE.exists() else "default"
            merged = KubeConfigMerger(path)  # type: ignore[no-untyped-call]
            if merged.config is None:
                raise PluginError(f"no kubeconfig found at {path}; pass --kubeconfig or set KUBECONFIG")
            loader = KubeConfigLoader(  # type: ignore[no-untyped-call]
                config_dict=merged.config, active_context=self.options.context, config_base_path=None)
            loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
            context = loader.current_context or {}
            return str((context.get("context") or {}).get("namespace") or "default")
        except ConfigException as exc:
            raise PluginError(f"kubeconfig: {exc}") from None

    # --- plumbing ------------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except ApiException as exc:
            if exc.status == 0 or exc.status is None:
                raise PluginError(f"cannot reach the Kubernetes API server at {self.server}: {exc.reason}") from None
            raise api_error(exc) from None
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            raise PluginError(f"cannot reach the Kubernetes API server at {self.server}: {reason}") from None

    def _raw(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """A core API call's answer as the API's own JSON (camelCase), not the client's models."""
        def call() -> dict[str, Any]:
            response = fn(*args, _preload_content=False, _request_timeout=self.options.request_timeout, **kwargs)
            loaded: dict[str, Any] = json.loads(response.data or b"{}")
            return loaded
        return self._call(call)

    def _timeout(self) -> float:
        return self.options.request_timeout

    # --- the three custom resources --------------------------------------------------------------

    def list_objects(self, plural: str, *, namespace: str | None = None, selector: str | None = None
                     ) -> list[dict[str, Any]]:
        """Cluster-scoped kinds, or a namespaced kind in ``namespace`` (all namespaces when None)."""
        kwargs: dict[str, Any] = {"_request_timeout": self._timeout()}
        if selector:
            kwargs["label_selector"] = selector
        if namespace is None:
            listed = self._call(lambda: self.custom.list_cluster_custom_object(GROUP, VERSION, plural, **kwargs))
        else:
            listed = self._call(lambda: self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural,
                                                                                 **kwargs))
        items: list[dict[str, Any]] = list(_as_dict(listed).get("items") or [])
        return sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def get_object(self, plural: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        if namespace is None:
            found = self._call(lambda: self.custom.get_cluster_custom_object(
                GROUP, VERSION, plural, name, _request_timeout=self._timeout()))
        else:
            found = self._call(lambda: self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, _request_timeout=self._timeout()))
        return _as_dict(found)

    def annotate(self, plural: str, name: str, annotations: Mapping[str, str | None],
                 namespace: str | None = None) -> dict[str, Any]:
        """A merge patch of metadata.annotations (None removes one): admission sees who asked."""
        body = {"metadata": {"annotations": dict(annotations)}}
        if namespace is None:
            patched = self._call(lambda: self.custom.patch_cluster_custom_object(
                GROUP, VERSION, plural, name, body, _request_timeout=self._timeout()))
        else:
            patched = self._call(lambda: self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, body, _request_timeout=self._timeout()))
        return _as_dict(patched)

    def delete_object(self, plural: str, name: str, namespace: str) -> None:
        self._call(lambda: self.custom.delete_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, name, _request_timeout=self._timeout()))

    def dry_run_create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """A server-side dry run: passes authentication, RBAC and the admission webhooks, stores nothing."""
        return _as_dict(self._call(lambda: self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, body, dry_run="All", _request_timeout=self._timeout())))

    # --- core objects --------------------------------------------------------------------------

    def read_secret(self, namespace: str, name: str) -> dict[str, Any]:
        return self._raw(self.core.read_namespaced_secret, name, namespace)

    def events_for(self, namespace: str, uid: str) -> list[dict[str, Any]]:
        listed = self._raw(self.core.list_namespaced_event, namespace, field_selector=f"involvedObject.uid={uid}")
        return list(listed.get("items") or [])

    def get_workload(self, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
        read = {"Deployment": self.apps.read_namespaced_deployment,
                "StatefulSet": self.apps.read_namespaced_stateful_set,
                "DaemonSet": self.apps.read_namespaced_daemon_set}.get(kind)
        if read is None:
            return None
        try:
            return self._raw(read, name, namespace)
        except NotFound:
            return None

    def list_deployments(self, selector: str, namespace: str | None) -> list[dict[str, Any]]:
        if namespace is None:
            listed = self._raw(self.apps.list_deployment_for_all_namespaces, label_selector=selector)
        else:
            listed = self._raw(self.apps.list_namespaced_deployment, namespace, label_selector=selector)
        return list(listed.get("items") or [])

    def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return list(self._raw(self.core.list_namespaced_pod, namespace, label_selector=selector).get("items") or [])

    def webhook_configurations(self) -> list[tuple[str, dict[str, Any]]]:
        """(kind, object) of the admission webhook configurations named *.astra-tokens.io."""
        found: list[tuple[str, dict[str, Any]]] = []
        for kind, list_fn in (("mutating", self.admission.list_mutating_webhook_configuration),
                              ("validating", self.admission.list_validating_webhook_configuration)):
            for item in self._raw(list_fn).get("items") or []:
                if str(item["metadata"]["name"]).endswith(f".{GROUP}"):
                    found.append((kind, item))
        return found

    def kopf_peering(self, name: str) -> dict[str, Any] | None:
        """The ClusterKopfPeering the operator's replicas keep alive in; None if absent."""
        try:
            return _as_dict(self._call(lambda: self.custom.get_cluster_custom_object(
                "kopf.dev", "v1", "clusterkopfpeerings", name, _request_timeout=self._timeout())))
        except NotFound:
            return None

    def service_account_token(self, namespace: str, name: str, audiences: list[str] | None = None) -> str:
        """A short-lived token for a ServiceAccount (TokenRequest, with the caller's own RBAC):
        what a Kubernetes auth login to Vault sends. Never printed."""
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=audiences or [], expiration_seconds=600))
        created = self._call(lambda: self.core.create_namespaced_service_account_token(
            name, namespace, request, _request_timeout=self._timeout()))
        if created.status is None or not created.status.token:
            raise PluginError(f"the TokenRequest for ServiceAccount {namespace}/{name} returned no token")
        return str(created.status.token)
