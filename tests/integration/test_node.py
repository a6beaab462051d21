"""The test node itself: pods get no pod network (only the host's, where every
connection stays on the loopback), and nothing of a node outlives it: Ctrl-C
on `make platform` tears down its containers, mounts and cgroups, and what a
killed run leaves behind is swept by the next one."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from integration.conftest import wait_for
from testplatform.node import (
    CGROUP_PREFIX,
    TESTAPP_IMAGE,
    Node,
    _cgroup_pids,
    _mounts_under,
    sweep_leftovers,
)
from testplatform.paths import REPO_ROOT

pytestmark = pytest.mark.node


def pod(name: str, host_network: bool) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"hostNetwork": host_network, "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "app", "image": TESTAPP_IMAGE, "imagePullPolicy": "Never",
                                 "args": ["-astra-url=http://127.0.0.1:1", "-token-file=/nonexistent"]}]},
    })


def test_a_pod_without_host_network_gets_no_pod_network_and_says_why(
    node: Node, namespace: str, kubectl: Any, k8s_api: k8s.ApiClient,
) -> None:
    applied = kubectl("apply", "-n", namespace, "-f", "-", input=pod("bridged", host_network=False))
    assert applied.returncode == 0, applied.stderr
    core = k8s.CoreV1Api(k8s_api)

    def sandbox_failure() -> str:
        events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=bridged").items
        return " ".join(e.message or "" for e in events if e.reason == "FailedCreatePodSandBox")

    message = wait_for(sandbox_failure, timeout=30, what="the sandbox to fail")
    # No CNI plugin is installed (the configured one, host-network-only, does not exist).
    assert "failed to setup network for sandbox" in message
    assert "failed to find plugin" in message
    assert core.read_namespaced_pod("bridged", namespace).status.phase == "Pending"


# --- a node of its own, in `make platform` ------------------------------------------------------------

class PlatformProcess:
    """`python -m testplatform` (what `make platform` runs), read until it prints its exports."""

    def __init__(self, log: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "tests"), "PYTHONUNBUFFERED": "1"}
        self.log = log
        self.process = subprocess.Popen([sys.executable, "-m", "testplatform"], stdout=subprocess.PIPE, bufsize=0,
                                        stderr=log.open("wb"), env=env, start_new_session=True)
        self.exports: dict[str, str] = {}
        self.node_work_dir: Path | None = None
        try:
            self._read_until_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=60)

    def _read_until_ready(self) -> None:
        log = self.log
        deadline = time.monotonic() + 180
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            if not select.select([self.process.stdout], [], [], 1.0)[0]:
                assert self.process.poll() is None, log.read_text()
                continue
            line = self.process.stdout.readline().decode()
            assert line, f"make platform exited:\n{log.read_text()}"
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").strip().partition("=")
                self.exports[key] = value.strip("'")
            if line.startswith("# node: "):
                self.node_work_dir = Path(line.split("work directory ", 1)[1].split(",", 1)[0])
            if line.startswith("# Ctrl-C"):
                return
        raise TimeoutError(f"make platform not ready:\n{log.read_text()}")

    @property
    def cgroup(self) -> str:
        return f"/{CGROUP_PREFIX}{self.process.pid}"

    def kubectl(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, timeout=60,
                              env={**os.environ, "KUBECONFIG": self.exports["KUBECONFIG"]}, check=False)

    def run_a_pod(self) -> None:
        applied = self.kubectl("apply", "-f", "-", input=pod("left-running", host_network=True))
        assert applied.returncode == 0, applied.stderr
        waited = self.kubectl("wait", "pod/left-running", "--for=condition=Ready", "--timeout=60s")
        assert waited.returncode == 0, waited.stderr


def nothing_left(platform: PlatformProcess) -> list[str]:
    assert platform.node_work_dir is not None
    left = [f"process {pid}" for pid in _cgroup_pids(platform.cgroup)]
    left += [f"mount {point}" for point in _mounts_under(platform.node_work_dir)]
    left += [str(path) for path in Path("/sys/fs/cgroup").glob(f"*/{platform.cgroup.strip('/')}")]
    return left


@pytest.fixture
def platform_process(node: Node, tmp_path: Path) -> Iterator[PlatformProcess]:
    """Needs the suite's node only to be sure this machine can run one."""
    started = PlatformProcess(tmp_path / "platform.log")
    yield started
    started.stop()
    sweep_leftovers()
    # A killed platform leaves its control plane's and OpenBao's directory (its processes died
    # with it); the node's own directory is what the sweep removes.
    if started.node_work_dir is not None and started.node_work_dir.parent.name.startswith("astra-platform-"):
        shutil.rmtree(started.node_work_dir.parent, ignore_errors=True)


def test_ctrl_c_on_make_platform_removes_its_containers_mounts_and_cgroups(
    platform_process: PlatformProcess,
) -> None:
    platform_process.run_a_pod()
    assert _cgroup_pids(platform_process.cgroup)  # the pod's processes (and its shim) are there
    assert platform_process.node_work_dir is not None
    assert _mounts_under(platform_process.node_work_dir)

    os.killpg(platform_process.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    assert platform_process.process.wait(timeout=90) == 0

    assert nothing_left(platform_process) == []
    assert not platform_process.node_work_dir.exists()


def test_what_a_killed_run_leaves_behind_is_swept_by_the_next(platform_process: PlatformProcess) -> None:
    platform_process.run_a_pod()
    platform_process.process.kill()  # SIGKILL: no teardown at all
    platform_process.process.wait(timeout=10)
    # The kubelet and containerd die with it (PR_SET_PDEATHSIG); the containers do not.
    wait_for(lambda: _cgroup_pids(platform_process.cgroup), timeout=5, what="the orphaned containers")

    swept = sweep_leftovers()

    assert platform_process.node_work_dir is not None
    assert str(platform_process.node_work_dir) in swept
    assert nothing_left(platform_process) == []
