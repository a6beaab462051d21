"""Session fixtures for the integration tests: the real platform (control
plane, OpenBao, kubectl, helm), started once, only when a test needs it, and
always torn down."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
from kubernetes import client as k8s
from kubernetes.config import new_client_from_config

from testplatform.gobuild import ensure_controlplane, ensure_helm, ensure_node_binaries, ensure_promtool
from testplatform.imagebuild import ensure_operator_image, image_build_unsupported_reason
from testplatform.kube import KubeconfigFactory, wait_for_namespace_gone
from testplatform.node import Node, node_unsupported_reason, start_node
from testplatform.paths import cache_lock
from testplatform.platform import Platform, start_platform
from testplatform.scheduling import NODE_GROUP, configure_node, make_scheduler, publish_groups

KubectlFn = Callable[..., "subprocess.CompletedProcess[str]"]


BUILD_SECONDS = pytest.StashKey[tuple[float, float]]()
NODE_BUILD_SECONDS = pytest.StashKey[tuple[float, float]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # One node per machine: every module with a test on the node runs on one worker, whole (its
    # module fixtures would be set up twice in one session if its other tests ran apart).
    with_node = {item.path for item in items if item.get_closest_marker("node")}
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)
        if item.path in with_node:
            item.add_marker(pytest.mark.xdist_group(NODE_GROUP))
    publish_groups(config, items)


# `-n N` (make test): testplatform/scheduling.py says how the suite is spread over the workers,
# whatever --dist says (the node tests must share one worker, the leak scan run last on each).

@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    return make_scheduler(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    configure_node(node.config, node)


KIND_REASON = (
    "make e2e-kind: pods on kind's node cannot reach the test OpenBao and fake Astra, which listen on "
    "this machine's loopback, and an AstraOrg accepts plain http (the fake's) on loopback only; the "
    "in-cluster tests run on the suite's own node (make test)")


def node_unavailable() -> str | None:
    """Why the node tests cannot run on this machine (None: they can). `make test` installs the
    missing Debian packages first when it runs as root (hack/node-prerequisites.sh)."""
    if os.environ.get("ASTRA_E2E_KUBECONFIG"):
        return KIND_REASON
    return node_unsupported_reason() or image_build_unsupported_reason()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the Go tools (and, for node tests, the node and the operator's image) before any
    test runs, so a cold build (minutes, on a fresh machine) is not counted against the first
    test's timeout; cached, this is instant."""
    # One build at a time: each xdist worker collects the whole suite and comes here, and the
    # ones after the first find what it built.
    if any("integration" in item.path.parts for item in session.items):
        with cache_lock("build"):
            _, controlplane_seconds = ensure_controlplane()
            _, helm_seconds = ensure_helm()
            ensure_promtool()  # the alerting rules' checks
        session.config.stash[BUILD_SECONDS] = (controlplane_seconds, helm_seconds)
    if any(item.get_closest_marker("node") for item in session.items) and node_unavailable() is None:
        with cache_lock("build"):
            _, node_seconds = ensure_node_binaries()
            _, _, image_seconds = ensure_operator_image()
        session.config.stash[NODE_BUILD_SECONDS] = (node_seconds, image_seconds)


@pytest.fixture(scope="session")
def platform(request: pytest.FixtureRequest) -> Iterator[Platform]:
    started = start_platform()
    built = request.config.stash.get(BUILD_SECONDS, None)
    if built is not None:  # built at collection time: report what that took
        started.timings.controlplane_build_seconds, started.timings.helm_build_seconds = built
    # Printed past pytest's output capture, at the start of the run, whatever the verbosity.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        print("\n" + "\n".join(started.timings.lines()), flush=True)
    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([*started.tool_dirs, old_path])
    try:
        yield started
    finally:
        os.environ["PATH"] = old_path
        started.stop()


# --- the node ----------------------------------------------------------------

def _print_past_capture(request: pytest.FixtureRequest, text: str) -> None:
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        print("\n" + text, flush=True)


@pytest.fixture(scope="session")
def node(platform: Platform, request: pytest.FixtureRequest) -> Iterator[Node]:
    """The kubelet and containerd beside the control plane, started the first time a test
    needs pods to run, torn down (containers, mounts, cgroups) before the control plane."""
    reason = node_unavailable()
    if reason is not None:
        pytest.skip(f"this machine cannot run the node: {reason}")
    binaries, _ = ensure_node_binaries()
    kubelet, _ = ensure_controlplane()
    started = start_node(binaries, kubelet, platform.controlplane, platform.work_dir / "node")
    node_seconds, image_seconds = request.config.stash.get(NODE_BUILD_SECONDS, (0.0, 0.0))
    _print_past_capture(request, "\n".join([
        f"platform: node build {node_seconds:.1f} s, operator image build {image_seconds:.1f} s (0 when cached)",
        f"platform: node (containerd + kubelet) ready in {started.ready_seconds:.1f} s"]))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def operator_image(node: Node, request: pytest.FixtureRequest) -> str:
    """The operator's image, built from the Dockerfile and imported into the node: its reference."""
    archive, reference, _ = ensure_operator_image()
    started = time.monotonic()
    node.import_image(archive)
    _print_past_capture(request, f"platform: operator image imported in {time.monotonic() - started:.1f} s")
    return reference


# --- Kubernetes -------------------------------------------------------------

@pytest.fixture(scope="session")
def kubeconfig(platform: Platform) -> Path:
    return platform.controlplane.kubeconfig


@pytest.fixture(scope="session")
def k8s_api(kubeconfig: Path) -> Iterator[k8s.ApiClient]:
    api = new_client_from_config(config_file=str(kubeconfig))
    yield api
    api.close()


@pytest.fixture(scope="session")
def kubectl(platform: Platform, kubeconfig: Path) -> KubectlFn:
    """Run kubectl as the admin (or as another kubeconfig); never raises on a non-zero exit."""

    def run(*args: str, input: str | None = None, kubeconfig_path: Path | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(platform.kubectl), f"--kubeconfig={kubeconfig_path or kubeconfig}", *args],
            input=input, capture_output=True, text=True, timeout=timeout, check=False,
        )

    return run


@pytest.fixture(scope="session")
def sa_kubeconfig(platform: Platform, k8s_api: k8s.ApiClient, tmp_path_factory: pytest.TempPathFactory,
                  ) -> KubeconfigFactory:
    """sa_kubeconfig(namespace, name) -> a kubeconfig authenticating as that
    ServiceAccount with a TokenRequest token (created if missing)."""
    return KubeconfigFactory(k8s_api, platform.controlplane, tmp_path_factory.mktemp("sa-kubeconfigs"))


@pytest.fixture
def namespace(k8s_api: k8s.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower())[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:6]}"
    core = k8s.CoreV1Api(k8s_api)
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels={"test": "true"})))
    yield name
    core.delete_namespace(name)


@pytest.fixture
def make_namespace(k8s_api: k8s.ApiClient) -> Iterator[Callable[..., str]]:
    """make_namespace(prefix, labels=...) for tests that need several namespaces."""
    core = k8s.CoreV1Api(k8s_api)
    made: list[str] = []

    def make(prefix: str = "ns", labels: dict[str, str] | None = None) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels=labels)))
        made.append(name)
        return name

    yield make
    for name in made:
        core.delete_namespace(name)


# --- Vault (OpenBao) --------------------------------------------------------

@pytest.fixture(scope="session")
def openbao(platform: Platform) -> Any:
    return platform.openbao


@pytest.fixture(scope="session")
def hvac_client(platform: Platform) -> hvac.Client:
    return hvac.Client(url=platform.openbao.addr, token=platform.openbao.token, timeout=10)


@pytest.fixture(scope="session")
def vault_audit_log(platform: Platform) -> Path:
    return platform.openbao.audit_log


# --- Astra -------------------------------------------------------------------
# The fake Astra DevOps API server's session fixture (`fake_astra`) lives in
# tests/fake_astra_fixtures.py, beside the fake itself.

__all__ = ["wait_for_namespace_gone"]
