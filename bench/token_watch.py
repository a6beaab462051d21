"""Watches the AstraTokens of one namespace in a background thread and notes
the wall time (monotonic) at which each one first showed Ready=True and at
which it disappeared: per-token latencies without polling the apiserver."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

GROUP, VERSION, PLURAL = "astra-tokens.io", "v1alpha1", "astratokens"
WATCH_SECONDS = 10  # each watch request ends this often, so stop() is noticed


def ready_condition(body: dict[str, Any]) -> dict[str, Any]:
    conditions = (body.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), {})


def is_ready(body: dict[str, Any]) -> bool:
    return ready_condition(body).get("status") == "True"


class TokenWatch:
    """Start with start(), read ready_at / gone_at, stop with stop()."""

    def __init__(self, api: k8s.ApiClient, namespace: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._objects = k8s.CustomObjectsApi(api)
        self._namespace = namespace
        self._clock = clock
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: watch.Watch | None = None
        self.ready_at: dict[str, float] = {}
        self.gone_at: dict[str, float] = {}
        self.present: dict[str, dict[str, Any]] = {}  # the latest body of each existing token
        self.error: BaseException | None = None
        self.synced = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"watch-{self._namespace}", daemon=True)
        self._thread.start()
        if not self.synced.wait(30):
            raise TimeoutError(f"the AstraToken watch in {self._namespace} did not start: {self.error}")

    def stop(self) -> None:
        self._stopping.set()
        if self._watch is not None:
            self._watch.stop()  # type: ignore[no-untyped-call]
        if self._thread is not None:
            self._thread.join(WATCH_SECONDS + 5)

    def wait(self, done: Callable[[], bool], timeout: float) -> bool:
        """Block until done() holds (checked on every change) or the timeout passes."""
        deadline = self._clock() + timeout
        with self._changed:
            while not done():
                left = deadline - self._clock()
                if left <= 0 or self.error is not None:
                    return done()
                self._changed.wait(min(left, 1.0))
        return True

    def count_ready(self, names: set[str]) -> int:
        with self._changed:
            return len(names & self.ready_at.keys())

    def count_gone(self, names: set[str]) -> int:
        with self._changed:
            return len(names & self.gone_at.keys())

    def _run(self) -> None:
        resource_version: str | None = None
        while not self._stopping.is_set():
            try:
                if resource_version is None:
                    resource_version = self._relist()
                resource_version = self._follow(resource_version)
            except ApiException as exc:
                if exc.status != 410:  # 410: too old, list again
                    self._fail(exc)
                    return
                resource_version = None
            except Exception as exc:  # reported to the waiting benchmark
                self._fail(exc)
                return

    def _fail(self, exc: BaseException) -> None:
        with self._changed:
            self.error = exc
            self._changed.notify_all()
        self.synced.set()

    def _relist(self) -> str:
        listed = cast(dict[str, Any],
                      self._objects.list_namespaced_custom_object(GROUP, VERSION, self._namespace, PLURAL))
        now = self._clock()
        seen = set()
        with self._changed:
            for body in listed.get("items", []):
                seen.add(body["metadata"]["name"])
                self._note(body, now)
            for name in set(self.present) - seen:
                self.present.pop(name)
                self.gone_at.setdefault(name, now)
            self._changed.notify_all()
        self.synced.set()
        return str(listed["metadata"]["resourceVersion"])

    def _follow(self, resource_version: str) -> str | None:
        """One watch request from resource_version; returns where to go on (None: list again)."""
        self._watch = watch.Watch()  # type: ignore[no-untyped-call]
        stream = self._watch.stream(  # type: ignore[no-untyped-call]
            self._objects.list_namespaced_custom_object, GROUP, VERSION, self._namespace, PLURAL,
            resource_version=resource_version, timeout_seconds=WATCH_SECONDS, allow_watch_bookmarks=True)
        for event in stream:
            kind, body = event["type"], event["object"]
            if kind == "ERROR":
                return None
            now = self._clock()
            resource_version = body["metadata"]["resourceVersion"]
            if kind == "BOOKMARK":
                continue
            with self._changed:
                if kind == "DELETED":
                    self.present.pop(body["metadata"]["name"], None)
                    self.gone_at.setdefault(body["metadata"]["name"], now)
                else:
                    self._note(body, now)
                self._changed.notify_all()
            if self._stopping.is_set():
                break
        return resource_version

    def _note(self, body: dict[str, Any], now: float) -> None:
        name = body["metadata"]["name"]
        self.present[name] = body
        if is_ready(body):
            self.ready_at.setdefault(name, now)
