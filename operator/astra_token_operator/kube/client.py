"""Kube: the operator's only door to the Kubernetes API for Secrets, custom
objects (and their status and metadata), rollout restarts, namespace reads
and access reviews.

The kubernetes client is synchronous (urllib3). Every call runs on a bounded
thread pool through ``loop.run_in_executor`` with a request timeout, so
neither a slow nor a hung apiserver blocks the event loop, and callers see
async methods only. Failures leave as KubeErrors (errors.py); retries follow
retry.py and wait on the event loop, not in a worker thread."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Self, TypeVar

import kubernetes.client
import kubernetes.config
import urllib3

from astra_token_operator import __version__
from astra_token_operator.calls import CallListener, CallRecord, Outcome, ignore_calls
from astra_token_operator.kube.access import AccessRequest, AccessVerdict
from astra_token_operator.kube.errors import KubeError, KubeNotFound, KubeUnavailable, translate
from astra_token_operator.kube.patches import (
    MERGE_PATCH,
    ROLLOUT_GROUP,
    ROLLOUT_PLURAL,
    ROLLOUT_VERSION,
    STRATEGIC_MERGE_PATCH,
    WORKLOAD_KINDS,
    WorkloadKind,
    metadata_patch,
    restart_patch,
    rollout_restart_patch,
    status_patch,
)
from astra_token_operator.kube.retry import RetryPolicy, with_retries
from astra_token_operator.kube.secrets import DesiredSecret, SecretSnapshot, SecretVersion
from astra_token_operator.surface import GROUP, VERSION

T = TypeVar("T")
M = TypeVar("M")
logger = logging.getLogger("astra_token_operator.kube")

DEFAULT_WORKERS = 16
DEFAULT_TIMEOUT_SECONDS = 15.0
LIST_PAGE_SIZE = 500  # objects per list request: bounds each answer, however many objects there are
USER_AGENT = f"astra-token-operator/{__version__}"
# A list answered as PartialObjectMetadataList: names and versions, never a Secret's data.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
PATCHABLE_PARTS = frozenset({"metadata", "spec"})  # status has its own call, on the subresource


def _transport_retries() -> urllib3.Retry:
    """urllib3's own retries, for clients this package builds: reconnect when no
    connection could be made (nothing was sent, so always safe), never resend a
    request that was sent. Every other retry is retry.py's decision."""
    return urllib3.Retry(total=None, connect=2, read=0, redirect=0, status=0, other=0, backoff_factor=0.1)



def _model(model: type[M], body: dict[str, Any]) -> M:
    """A client model from the API's JSON form (inside the worker, so a
    validation error is translated without its input)."""
    built: M | None = model.from_dict(body)  # type: ignore[attr-defined]
    assert built is not None
    return built


def _mapping(found: object) -> dict[str, Any]:
    if not isinstance(found, dict):
        raise TypeError(f"expected a JSON object, got {type(found).__name__}")
    return found


class Kube:
    """Async access to the Kubernetes API. Build with ``Kube.from_environment()``
    (or around an existing ApiClient) and close with ``await kube.aclose()``.

    ``timeout_seconds`` bounds each HTTP request; ``retry`` says how often and
    how patiently a KubeUnavailable is tried again (see retry.py). Custom
    objects live in ``group``/``version`` (the operator's own by default).

    An ApiClient handed in is used as it is and not closed here. Its urllib3
    pool should hold ``workers`` connections (the default is 5 per CPU), and
    its own default retries resend GET/PUT/DELETE after a read error: harmless
    here (a PUT carries a resourceVersion, a DELETE's outcome is the same), but
    ``from_configuration``/``from_environment`` build a client that leaves
    every resend to retry.py."""

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        *,
        workers: int = DEFAULT_WORKERS,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy | None = None,
        group: str = GROUP,
        version: str = VERSION,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        listener: CallListener = ignore_calls,
    ) -> None:
        self.group = group
        self._listener = listener  # told of every finished call, on the event loop
        self.version = version
        self._api = api_client
        self._core = kubernetes.client.CoreV1Api(api_client)
        self._apps = kubernetes.client.AppsV1Api(api_client)
        self._objects = kubernetes.client.CustomObjectsApi(api_client)
        self._authorization = kubernetes.client.AuthorizationV1Api(api_client)
        self._executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="astra-kube")
        self._timeout = timeout_seconds
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._owns_client = False
        self._closed = False

    @classmethod
    def from_configuration(
        cls,
        configuration: kubernetes.client.Configuration,
        *,
        workers: int = DEFAULT_WORKERS,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy | None = None,
        group: str = GROUP,
        version: str = VERSION,
        listener: CallListener = ignore_calls,
    ) -> Kube:
        """A Kube with its own ApiClient (closed by ``aclose``): transport retries
        limited to reconnects, and one pooled connection per worker."""
        configuration.retries = _transport_retries()
        configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize or 0, workers)
        api = kubernetes.client.ApiClient(configuration)
        api.user_agent = USER_AGENT  # the apiserver's audit log names the operator, not the generated client
        kube = cls(api, workers=workers, timeout_seconds=timeout_seconds, retry=retry, group=group,
                   version=version, listener=listener)
        kube._owns_client = True
        return kube

    @classmethod
    def from_environment(
        cls,
        *,
        workers: int = DEFAULT_WORKERS,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy | None = None,
        kubeconfig: str | None = None,
        listener: CallListener = ignore_calls,
    ) -> Kube:
        """In a pod: its ServiceAccount. Elsewhere: ``kubeconfig``, else
        $KUBECONFIG (one path or several, ':'-separated), else ~/.kube/config."""
        configuration = kubernetes.client.Configuration()
        try:
            kubernetes.config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration)
        except kubernetes.config.ConfigException:
            # Looked up now: the kubernetes library reads $KUBECONFIG once, when first imported.
            config_file = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
            kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=config_file, client_configuration=configuration)
        return cls.from_configuration(configuration, workers=workers, timeout_seconds=timeout_seconds,
                                      retry=retry, listener=listener)

    async def aclose(self) -> None:
        """Stop taking calls. Calls in flight end within the request timeout;
        queued ones are dropped."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._owns_client:
            self._api.close()  # type: ignore[no-untyped-call]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- the one path every call takes -------------------------------------------------------

    def _guarded(
        self, fn: Callable[[], T], operation: str, kind: str, namespace: str | None, name: str | None,
        secrets: tuple[str, ...],
    ) -> T:
        """Run ``fn`` (on a worker thread); any failure leaves as a KubeError.
        Raised outside the ``except`` block so the client's exception, with
        the response body, is not chained onto it."""
        try:
            return fn()
        except Exception as exc:  # every failure, however it is spelled, becomes a KubeError
            error = translate(exc, operation=operation, kind=kind, namespace=namespace, name=name,
                              secrets=secrets)
        raise error

    async def _call(
        self,
        fn: Callable[[], T],
        *,
        operation: str,
        kind: str,
        namespace: str | None,
        name: str | None,
        idempotent: bool,
        secrets: Iterable[str] = (),
    ) -> T:
        scrubbed = tuple(secrets)
        guarded = functools.partial(self._guarded, fn, operation, kind, namespace, name, scrubbed)

        async def attempt() -> T:
            if self._closed:
                raise KubeUnavailable(f"{operation} {kind}: the Kubernetes client is closed",
                                      operation=operation, kind=kind, namespace=namespace, name=name,
                                      maybe_applied=False)
            return await asyncio.get_running_loop().run_in_executor(self._executor, guarded)

        async def sleep(seconds: float) -> None:
            # `name` is taken by LogRecord: the fields travel under "astra", as in lifecycle_log.
            logger.debug("kube retry action=%s kind=%s namespace=%s name=%s in %.2fs",
                         operation, kind, namespace, name, seconds,
                         extra={"astra": {"action": operation, "kind": kind, "namespace": namespace,
                                          "name": name}})
            await self._sleep(seconds)

        started = time.monotonic()
        try:
            result = await with_retries(attempt, idempotent=idempotent, policy=self._retry, sleep=sleep)
        except KubeError as exc:
            outcome: Outcome = "unavailable" if isinstance(exc, KubeUnavailable) else "refused"
            self._listener(CallRecord("kube", f"{operation} {kind}", outcome, time.monotonic() - started,
                                     status=exc.status))
            raise
        self._listener(CallRecord("kube", f"{operation} {kind}", "ok", time.monotonic() - started))
        return result

    def _json(self, obj: object) -> dict[str, Any]:
        """A client model as the API's JSON form (camelCase keys)."""
        serialized: dict[str, Any] = self._api.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
        return serialized

    # --- Secrets ------------------------------------------------------------------------------

    async def _read_secret_json(self, namespace: str, name: str) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            return self._json(self._core.read_namespaced_secret(name, namespace,
                                                                _request_timeout=self._timeout))

        return await self._call(read, operation="read", kind="Secret", namespace=namespace, name=name,
                                idempotent=True)

    async def read_secret(self, namespace: str, name: str) -> SecretSnapshot | None:
        """The Secret as it is now, or None if there is none."""
        try:
            found = await self._read_secret_json(namespace, name)
        except KubeNotFound:
            return None
        return SecretSnapshot.from_api(found)

    async def create_secret(self, desired: DesiredSecret) -> SecretSnapshot:
        """Create the Secret; KubeAlreadyExists if one of that name exists."""
        body = desired.to_api()

        def create() -> dict[str, Any]:
            secret = _model(kubernetes.client.V1Secret, body)
            return self._json(self._core.create_namespaced_secret(desired.namespace, secret,
                                                                  _request_timeout=self._timeout))

        created = await self._call(create, operation="create", kind="Secret", namespace=desired.namespace,
                                   name=desired.name, idempotent=False, secrets=desired.secret_values())
        return SecretSnapshot.from_api(created)

    async def update_secret(self, desired: DesiredSecret, *, current: SecretSnapshot) -> SecretSnapshot:
        """Replace the Secret's data with ``desired``'s and set our labels, annotations and owner
        reference (keeping those others added), as one patch over ``current`` (the Secret as last
        read or written; nothing is read first). KubeConflict if the Secret is no longer at
        ``current``'s resourceVersion; KubeNotFound if it is gone."""
        body = desired.patching(current)

        def patch() -> dict[str, Any]:
            return self._json(self._core.patch_namespaced_secret(
                desired.name, desired.namespace, body, _content_type=STRATEGIC_MERGE_PATCH,
                _request_timeout=self._timeout))

        patched = await self._call(patch, operation="update", kind="Secret", namespace=desired.namespace,
                                   name=desired.name, idempotent=False, secrets=desired.secret_values())
        return SecretSnapshot.from_api(patched)

    async def delete_secret(self, namespace: str, name: str, *, uid: str | None = None) -> bool:
        """Delete the Secret; with ``uid``, only that very object (KubeConflict if
        the Secret of that name is another one). False if it was already gone
        (which a retried delete may also report after its first attempt did it)."""
        def delete() -> None:
            precondition = {"preconditions": {"uid": uid}}
            options = _model(kubernetes.client.V1DeleteOptions, precondition) if uid else None
            self._core.delete_namespaced_secret(name, namespace, body=options, _request_timeout=self._timeout)

        try:
            await self._call(delete, operation="delete", kind="Secret", namespace=namespace, name=name,
                             idempotent=True)
        except KubeNotFound:
            return False
        return True

    async def list_secret_versions(self, label_selector: str, namespaces: Iterable[str] = ()
                                   ) -> list[SecretVersion]:
        """The name and resourceVersion of every Secret matching ``label_selector``, in ``namespaces``
        (cluster-wide when none are given), a page at a time. Read as metadata only: no Secret's
        data crosses the wire or enters this process."""
        core = self._core
        found: list[SecretVersion] = []
        scopes: list[str | None] = [*namespaces] or [None]
        for namespace in scopes:
            def page(options: dict[str, Any], where: str | None = namespace) -> dict[str, Any]:
                # Without preloading, the client returns the raw urllib3 response (its type says otherwise).
                options = {**options, "_preload_content": False, "_headers": {"Accept": METADATA_ONLY}}
                response: Any = (core.list_secret_for_all_namespaces(**options) if where is None
                                 else core.list_namespaced_secret(where, **options))
                answer = _mapping(json.loads(response.data))
                if answer.get("kind") != "PartialObjectMetadataList":
                    raise TypeError(f"the apiserver answered a {answer.get('kind')} to a metadata-only list")
                return answer

            async for item in self._paged(page, label_selector, kind="Secret", namespace=namespace):
                metadata = item.get("metadata") or {}
                found.append(SecretVersion(namespace=metadata.get("namespace", ""), name=metadata.get("name", ""),
                                           resource_version=metadata.get("resourceVersion", "")))
        return found

    async def _paged(self, fetch: Callable[[dict[str, Any]], dict[str, Any]], label_selector: str | None, *,
                     kind: str, namespace: str | None) -> AsyncIterator[dict[str, Any]]:
        """The items of a list, read ``LIST_PAGE_SIZE`` at a time: ``fetch`` gets the call's options
        (limit, selector, continue token, timeout). Each page is its own GET, retried on its own: a
        retry never re-reads the pages before it."""
        resume_at: str | None = None
        while True:
            options: dict[str, Any] = {"limit": LIST_PAGE_SIZE, "_request_timeout": self._timeout}
            if label_selector:
                options["label_selector"] = label_selector
            if resume_at:
                options["_continue"] = resume_at
            listed = await self._call(functools.partial(fetch, options), operation="list", kind=kind,
                                      namespace=namespace, name=None, idempotent=True)
            for item in listed.get("items") or []:
                yield _mapping(item)
            resume_at = (listed.get("metadata") or {}).get("continue") or None
            if resume_at is None:
                return

    # --- custom objects -----------------------------------------------------------------------

    async def get_object(self, plural: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The custom object (cluster-scoped when ``namespace`` is None), or None."""

        def get() -> dict[str, Any]:
            if namespace is None:
                found = self._objects.get_cluster_custom_object(
                    self.group, self.version, plural, name, _request_timeout=self._timeout)
            else:
                found = self._objects.get_namespaced_custom_object(
                    self.group, self.version, namespace, plural, name, _request_timeout=self._timeout)
            return _mapping(found)

        try:
            return await self._call(get, operation="get", kind=plural, namespace=namespace, name=name,
                                    idempotent=True)
        except KubeNotFound:
            return None

    async def list_objects(
        self, plural: str, label_selector: str | None = None, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """The custom objects of ``plural`` (cluster-wide when ``namespace`` is
        None) matching ``label_selector`` ("key=value,other"), read a page at a
        time. KubeNotFound if the resource type is not served."""
        group, version, objects = self.group, self.version, self._objects

        def page(options: dict[str, Any]) -> dict[str, Any]:
            if namespace is None:
                return _mapping(objects.list_cluster_custom_object(group, version, plural, **options))
            return _mapping(objects.list_namespaced_custom_object(group, version, namespace, plural, **options))

        return [item async for item in self._paged(page, label_selector, kind=plural, namespace=namespace)]

    async def create_object(
        self, plural: str, body: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """Create the custom object ``body`` (cluster-scoped when ``namespace`` is
        None) and return it as stored. KubeAlreadyExists if one of that name
        exists; KubeInvalid if the schema or an admission webhook refused it."""
        group, version, timeout = self.group, self.version, self._timeout
        objects = self._objects
        name = (body.get("metadata") or {}).get("name")

        def create() -> dict[str, Any]:
            if namespace is None:
                created = objects.create_cluster_custom_object(group, version, plural, body,
                                                               _request_timeout=timeout)
            else:
                created = objects.create_namespaced_custom_object(group, version, namespace, plural, body,
                                                                  _request_timeout=timeout)
            return _mapping(created)

        return await self._call(create, operation="create", kind=plural, namespace=namespace,
                                name=str(name) if name else None, idempotent=False)

    async def _patch_object(
        self, plural: str, name: str, namespace: str | None, body: dict[str, Any], *, status: bool,
        operation: str | None = None,
    ) -> dict[str, Any]:
        group, version, timeout = self.group, self.version, self._timeout
        objects = self._objects

        def patch() -> dict[str, Any]:
            if namespace is None and status:
                patched = objects.patch_cluster_custom_object_status(
                    group, version, plural, name, body, _content_type=MERGE_PATCH, _request_timeout=timeout)
            elif namespace is None:
                patched = objects.patch_cluster_custom_object(
                    group, version, plural, name, body, _content_type=MERGE_PATCH, _request_timeout=timeout)
            elif status:
                patched = objects.patch_namespaced_custom_object_status(
                    group, version, namespace, plural, name, body, _content_type=MERGE_PATCH,
                    _request_timeout=timeout)
            else:
                patched = objects.patch_namespaced_custom_object(
                    group, version, namespace, plural, name, body, _content_type=MERGE_PATCH,
                    _request_timeout=timeout)
            return _mapping(patched)

        operation = operation or ("patch status" if status else "patch metadata")
        return await self._call(patch, operation=operation, kind=plural, namespace=namespace, name=name,
                                idempotent=True)

    async def patch_object(
        self, plural: str, name: str, patch: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """Merge ``patch`` (RFC 7386: a None value removes a field) into the
        object's ``metadata`` and ``spec``, and return the object as stored.
        Status is refused here (``patch_status`` writes it). Retried like every
        merge patch of absolute values. KubeNotFound if the object is gone;
        KubeInvalid if the schema or an admission webhook refused the result."""
        others = sorted(set(patch) - PATCHABLE_PARTS)
        if others:
            raise ValueError(f"patch_object changes metadata and spec only, not {', '.join(others)}")
        return await self._patch_object(plural, name, namespace, patch, status=False, operation="patch")

    async def patch_status(
        self, plural: str, name: str, status: dict[str, Any], namespace: str | None = None
    ) -> None:
        """Merge ``status`` into the object's status subresource (a None value
        removes a field). KubeNotFound if the object is gone."""
        await self._patch_object(plural, name, namespace, status_patch(status), status=True)

    async def patch_metadata(
        self,
        plural: str,
        name: str,
        *,
        namespace: str | None = None,
        labels: Mapping[str, str | None] | None = None,
        annotations: Mapping[str, str | None] | None = None,
    ) -> None:
        """Set labels/annotations on the object; a None value removes the key.
        KubeNotFound if the object is gone."""
        body = metadata_patch(labels, annotations)
        if body is not None:
            await self._patch_object(plural, name, namespace, body, status=False)

    async def delete_object(
        self, plural: str, name: str, namespace: str | None = None, *, uid: str | None = None
    ) -> bool:
        """Delete the custom object; with ``uid``, only that very object
        (KubeConflict if the object of that name is another one). Dependents
        are garbage-collected in the background. False if it was already gone
        (which a retried delete may also report after its first attempt did it)."""
        group, version, timeout = self.group, self.version, self._timeout
        objects = self._objects

        def delete() -> None:
            precondition = {"preconditions": {"uid": uid}}
            options = _model(kubernetes.client.V1DeleteOptions, precondition) if uid else None
            if namespace is None:
                objects.delete_cluster_custom_object(group, version, plural, name, body=options,
                                                     _request_timeout=timeout)
            else:
                objects.delete_namespaced_custom_object(group, version, namespace, plural, name, body=options,
                                                        _request_timeout=timeout)

        try:
            await self._call(delete, operation="delete", kind=plural, namespace=namespace, name=name,
                             idempotent=True)
        except KubeNotFound:
            return False
        return True

    # --- workloads ----------------------------------------------------------------------------

    async def restart_rollout(
        self, namespace: str, kind: WorkloadKind, name: str, *, annotation: str, value: str,
        restart_at: str | None = None,
    ) -> bool:
        """Set ``annotation: value`` on the workload's pod template, so its
        controller replaces the pods (a value already there changes nothing); an
        Argo Rollout gets ``spec.restartAt = restart_at`` (RFC 3339) instead.
        False if the workload does not exist."""
        if kind not in WORKLOAD_KINDS:
            raise ValueError(f"cannot restart a {kind}; one of {', '.join(WORKLOAD_KINDS)}")
        timeout = self._timeout
        if kind == "Rollout":
            objects, body = self._objects, rollout_restart_patch(restart_at or value)

            def patch() -> None:
                objects.patch_namespaced_custom_object(ROLLOUT_GROUP, ROLLOUT_VERSION, namespace, ROLLOUT_PLURAL,
                                                       name, body, _content_type=MERGE_PATCH,
                                                       _request_timeout=timeout)
        else:
            body = restart_patch(annotation, value)
            method: Callable[..., object] = {
                "Deployment": self._apps.patch_namespaced_deployment,
                "StatefulSet": self._apps.patch_namespaced_stateful_set,
                "DaemonSet": self._apps.patch_namespaced_daemon_set,
            }[kind]

            def patch() -> None:
                method(name, namespace, body, _content_type=MERGE_PATCH, _request_timeout=timeout)

        try:
            await self._call(patch, operation="restart", kind=kind, namespace=namespace, name=name,
                             idempotent=True)
        except KubeNotFound:
            return False
        return True

    async def read_workload(self, namespace: str, kind: WorkloadKind, name: str) -> dict[str, Any] | None:
        """The workload as the API serves it (spec and status), or None if it does not exist."""
        def read() -> dict[str, Any]:
            if kind == "Rollout":
                return _mapping(self._objects.get_namespaced_custom_object(
                    ROLLOUT_GROUP, ROLLOUT_VERSION, namespace, ROLLOUT_PLURAL, name, _request_timeout=self._timeout))
            method: Callable[..., object] = {
                "Deployment": self._apps.read_namespaced_deployment,
                "StatefulSet": self._apps.read_namespaced_stateful_set,
                "DaemonSet": self._apps.read_namespaced_daemon_set,
            }[kind]
            return self._json(method(name, namespace, _request_timeout=self._timeout))

        try:
            return await self._call(read, operation="get", kind=kind, namespace=namespace, name=name,
                                    idempotent=True)
        except KubeNotFound:
            return None

    async def list_workloads(self, namespace: str, kind: WorkloadKind, match_labels: Mapping[str, str]) -> list[str]:
        """Names of the workloads of ``kind`` in ``namespace`` whose labels match."""
        selector = ",".join(f"{key}={value}" for key, value in sorted(match_labels.items()))

        def listed() -> list[str]:
            if kind == "Rollout":
                found = _mapping(self._objects.list_namespaced_custom_object(
                    ROLLOUT_GROUP, ROLLOUT_VERSION, namespace, ROLLOUT_PLURAL, label_selector=selector,
                    _request_timeout=self._timeout))
                return sorted(str(item["metadata"]["name"]) for item in found.get("items") or [])
            method: Callable[..., Any] = {
                "Deployment": self._apps.list_namespaced_deployment,
                "StatefulSet": self._apps.list_namespaced_stateful_set,
                "DaemonSet": self._apps.list_namespaced_daemon_set,
            }[kind]
            return sorted(item.metadata.name for item in method(namespace, label_selector=selector,
                                                                  _request_timeout=self._timeout).items)

        try:
            return await self._call(listed, operation="list", kind=kind, namespace=namespace, name=None,
                                    idempotent=True)
        except KubeNotFound:  # Argo Rollouts not installed: nothing matches
            return []

    async def whoami(self) -> str:
        """The username this client authenticates as (a SelfSubjectReview)."""
        api = kubernetes.client.AuthenticationV1Api(self._api)

        def review() -> str:
            found = api.create_self_subject_review(kubernetes.client.V1SelfSubjectReview(),
                                                   _request_timeout=self._timeout)
            user = found.status.user_info if found.status is not None else None
            return str(user.username) if user is not None else ""

        return await self._call(review, operation="create", kind="selfsubjectreviews", namespace=None, name=None,
                                idempotent=True)

    async def read_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        """One pod (read by name: the operator never lists or watches pods without its label selector)."""
        def read() -> dict[str, Any]:
            return self._json(self._core.read_namespaced_pod(name, namespace, _request_timeout=self._timeout))

        try:
            return await self._call(read, operation="get", kind="pods", namespace=namespace, name=name,
                                    idempotent=True)
        except KubeNotFound:
            return None

    # --- authorization ------------------------------------------------------------------------

    async def review_access(self, request: AccessRequest) -> AccessVerdict:
        """Ask the apiserver (a SubjectAccessReview) whether ``request.username`` may do
        ``request.verb``: what RBAC says, for verbs Kubernetes itself never checks too."""
        body = request.review()

        def review() -> dict[str, Any]:
            question = _model(kubernetes.client.V1SubjectAccessReview, body)
            answer = self._authorization.create_subject_access_review(question, _request_timeout=self._timeout)
            return self._json(answer)

        answer = await self._call(review, operation="create", kind="SubjectAccessReview", namespace=None,
                                  name=None, idempotent=True)
        status = answer.get("status") or {}
        return AccessVerdict(allowed=bool(status.get("allowed")) and not status.get("denied"),
                             reason=str(status.get("reason") or status.get("evaluationError") or ""))

    # --- namespaces ---------------------------------------------------------------------------

    async def namespace_uid(self, name: str) -> str | None:
        """The namespace's uid, or None if there is no such namespace."""

        def read() -> str:
            found = self._core.read_namespace(name, _request_timeout=self._timeout)
            return str(found.metadata.uid or "") if found.metadata else ""

        try:
            return await self._call(read, operation="read", kind="Namespace", namespace=None, name=name,
                                    idempotent=True) or None
        except KubeNotFound:
            return None

    async def namespace_labels(self, name: str) -> dict[str, str] | None:
        """The namespace's labels, or None if there is no such namespace."""

        def read() -> dict[str, str]:
            found = self._core.read_namespace(name, _request_timeout=self._timeout)
            return dict(found.metadata.labels or {}) if found.metadata else {}

        try:
            return await self._call(read, operation="read", kind="Namespace", namespace=None, name=name,
                                    idempotent=True)
        except KubeNotFound:
            return None
