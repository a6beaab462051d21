"""A real node beside the control plane: containerd (built from its Go module,
with Debian's runc) and the upstream kubelet, registered as 127.0.0.1.

Pods run with hostNetwork only: the CNI configuration names a plugin that does
not exist, so a pod that asks for a pod network fails to start instead of
getting one (these machines allow no traffic to private ranges).

Everything lives under one work directory and one cgroup, both named after
this process, and is torn down by `Node.stop()`: the kubelet, every container
and shim, containerd, every mount under the work directory, every cgroup.
What a killed test run leaves behind is swept by the next `start_node`."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client as k8s
from kubernetes.config import new_client_from_config

from testplatform.controlplane import ControlPlane
from testplatform.ociimage import write_oci_archive
from testplatform.paths import CACHE_DIR
from testplatform.processes import Child, free_port, wait_until

NODE_NAME = "127.0.0.1"
PAUSE_IMAGE = "localhost/astra-token-operator-pause:1"
TESTAPP_IMAGE = "localhost/astra-token-operator-testapp:1"
K8S_NAMESPACE = "k8s.io"  # containerd's namespace for the CRI's containers and images
# The kubelet re-syncs each pod this often; a Secret volume's files change at the pod's next
# sync after the Secret does (the kubelet's default is 1m, plus up to 1m of cache propagation).
SYNC_FREQUENCY = "3s"
CGROUP_PREFIX = "astra-node-"
OWNERS_DIR = CACHE_DIR / "nodes"  # <pid> -> the work directory of a running node, for the sweeper


def node_unsupported_reason() -> str | None:
    """Why this machine cannot run the node, or None. The README's set-up installs
    what is missing (hack/node-prerequisites.sh)."""
    if not os.path.isdir("/sys/fs/cgroup"):
        return "no /sys/fs/cgroup (the node needs Linux cgroups)"
    if os.geteuid() != 0:
        return "not root (the kubelet and containerd need root)"
    missing = [tool for tool in ("runc", "mount", "umount") if shutil.which(tool) is None]
    if missing:
        return f"missing {', '.join(missing)} (Debian packages: runc, mount)"
    return None


# --- cgroups ---------------------------------------------------------------------------------------

def _cgroup_mounts(everything: bool = False) -> list[tuple[Path, bool]]:
    """(mount point, is cgroup v2) of the hierarchies a cgroup is made in: the v1 controllers,
    or the v2 tree where there is no v1. everything: all of them (on a hybrid host runc also
    makes each container's cgroup in the v2 tree): where cgroups are emptied and removed."""
    found: list[tuple[Path, bool]] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fstype = right.split()[0] if right else ""
        if fstype in ("cgroup", "cgroup2"):
            found.append((Path(left.split()[4]), fstype == "cgroup2"))
    v1 = [(path, False) for path, v2 in found if not v2]
    if everything:
        return found
    if v1:  # a hybrid host: the kubelet and runc use the v1 controllers
        return v1
    return [(path, True) for path, v2 in found if v2]


def _make_cgroup(relative: str) -> None:
    for mount, v2 in _cgroup_mounts():
        path = mount / relative.strip("/")
        path.mkdir(parents=True, exist_ok=True)
        if v2:
            with contextlib.suppress(OSError):
                controllers = (path.parent / "cgroup.controllers").read_text().split()
                (path / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in controllers))
        elif (mount / "cpuset.cpus").exists():  # a new v1 cpuset has no CPUs until given its parent's
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not (path / name).read_text().strip():
                    (path / name).write_text((path.parent / name).read_text())


def _cgroup_pids(relative: str) -> set[int]:
    pids: set[int] = set()
    for mount, _ in _cgroup_mounts(everything=True):
        root = mount / relative.strip("/")
        if root.is_dir():
            for procs in root.rglob("cgroup.procs"):
                with contextlib.suppress(OSError):
                    pids.update(int(pid) for pid in procs.read_text().split())
    return pids


def _kill_cgroup(relative: str, timeout: float = 15) -> None:
    """SIGKILL every process in the cgroup tree (containers, shims) until it is empty."""
    deadline = time.monotonic() + timeout
    while pids := _cgroup_pids(relative):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {sorted(pids)} still in cgroup {relative} after {timeout:.0f}s")
        time.sleep(0.1)


def _remove_cgroup(relative: str) -> None:
    for mount, _ in _cgroup_mounts(everything=True):
        root = mount / relative.strip("/")
        if not root.is_dir():
            continue
        for path in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(FileNotFoundError):
                path.rmdir()
        with contextlib.suppress(FileNotFoundError):
            root.rmdir()


# --- mounts ----------------------------------------------------------------------------------------

def _mounts_under(directory: Path) -> list[str]:
    prefix = str(directory).rstrip("/") + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix.rstrip("/") or point.startswith(prefix):
            points.append(point)
    return points


def _unmount_all(directory: Path) -> None:
    """Unmount everything under directory (secret tmpfs, rootfs overlays, shm...), deepest first;
    repeated because the kubelet bind-mounts its root directory onto itself."""
    for _ in range(5):
        points = _mounts_under(directory)
        if not points:
            return
        for point in sorted(points, key=lambda p: p.count("/"), reverse=True):
            if subprocess.run(["umount", point], capture_output=True, check=False).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    if points := _mounts_under(directory):
        raise RuntimeError(f"still mounted under {directory}: {points}")


# --- the node --------------------------------------------------------------------------------------

@dataclass
class Node:
    work_dir: Path
    binaries: Path
    socket: Path
    cgroup_root: str
    containerd: Child
    kubelet: Child | None
    ready_seconds: float = 0.0

    def ctr(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binaries / "ctr"), f"--address={self.socket}", f"--namespace={K8S_NAMESPACE}", *args],
            capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {result.stderr.strip()}")
        return result

    def import_image(self, archive: Path) -> None:
        """Load an OCI or docker image archive into the runtime, as a pull would (unpacked)."""
        self.ctr("images", "import", "--snapshotter=overlayfs", str(archive))

    def images(self) -> list[str]:
        return self.ctr("images", "ls", "-q").stdout.split()

    def running_containers(self) -> list[str]:
        """Ids of the runtime's tasks that still run (pod sandboxes included)."""
        listed = self.ctr("tasks", "ls").stdout.splitlines()[1:]
        return [line.split()[0] for line in listed if line.split()[-1:] == ["RUNNING"]]

    def stop(self) -> None:
        errors: list[str] = []
        if self.kubelet is not None:
            self.kubelet.stop()
        if self.containerd.alive():
            with contextlib.suppress(Exception):  # best effort: the cgroup kill below is what counts
                for task in self.ctr("tasks", "ls", "-q", timeout=10).stdout.split():
                    self.ctr("tasks", "kill", "--signal=SIGKILL", task, check=False, timeout=10)
        for step in (lambda: _kill_cgroup(self.cgroup_root), self.containerd.stop,
                     lambda: _unmount_all(self.work_dir), lambda: _remove_cgroup(self.cgroup_root)):
            try:
                step()
            except Exception as exc:  # keep tearing down the rest
                errors.append(str(exc))
        (OWNERS_DIR / str(os.getpid())).unlink(missing_ok=True)
        if errors:
            raise RuntimeError("node teardown: " + "; ".join(errors))


def sweep_leftovers() -> list[str]:
    """Tear down nodes whose test run died without stopping them (SIGKILL): their
    containers, mounts, cgroups and work directories. Returns what was swept."""
    swept = []
    for owner in OWNERS_DIR.glob("*") if OWNERS_DIR.is_dir() else []:
        pid = int(owner.name)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, 0)
            continue  # its test run is alive
        work_dir = Path(owner.read_text().strip())
        cgroup = f"/{CGROUP_PREFIX}{pid}"
        with contextlib.suppress(RuntimeError):
            _kill_cgroup(cgroup)
        _unmount_all(work_dir)
        _remove_cgroup(cgroup)
        shutil.rmtree(work_dir, ignore_errors=True)
        owner.unlink(missing_ok=True)
        swept.append(str(work_dir))
    return swept


def _containerd_config(work_dir: Path, socket: Path, cgroup_root: str) -> str:
    cni_conf = work_dir / "cni"
    cni_conf.mkdir(parents=True, exist_ok=True)
    # A network whose plugin does not exist: go-cni reports the network ready (pods with
    # hostNetwork never call it), and a pod without hostNetwork fails with a clear error.
    (cni_conf / "10-host-network-only.conflist").write_text(json.dumps(
        {"cniVersion": "1.0.0", "name": "host-network-only", "plugins": [{"type": "host-network-only"}]}))
    # Every registry is 127.0.0.1:1: a pod whose image was not imported fails at once
    # (connection refused) instead of reaching out for it.
    registries = work_dir / "registries" / "_default"
    registries.mkdir(parents=True, exist_ok=True)
    (registries / "hosts.toml").write_text('server = "http://127.0.0.1:1"\n')
    runc = shutil.which("runc")
    return f"""version = 3
root = '{work_dir}/containerd/root'
state = '{work_dir}/containerd/state'
imports = []
disabled_plugins = [
  'io.containerd.nri.v1.nri',
  'io.containerd.snapshotter.v1.blockfile',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.erofs',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing',
]

[grpc]
  address = '{socket}'
[ttrpc]
  address = '{socket}.ttrpc'

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = '{PAUSE_IMAGE}'
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = '{work_dir}/registries'
  [plugins.'io.containerd.cri.v1.runtime']
    # Nothing here may lower an oom_score_adj below its own (no CAP_SYS_RESOURCE in the
    # machine's bounding set): cap the sandbox's -998 and Guaranteed pods' -997 at ours.
    restrict_oom_score_adj = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = '{runc}'
          SystemdCgroup = false
          ShimCgroup = '{cgroup_root}/shims'
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['{work_dir}/cni-bin']
      conf_dir = '{cni_conf}'
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
"""


def _kubelet_config(work_dir: Path, socket: Path, cgroup_root: str, ca_file: Path, port: int,
                    healthz_port: int) -> str:
    return f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# These machines mount cgroup v1 (with an empty v2 tree beside it); kubelet 1.35+ refuses
# to start on v1 unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: {cgroup_root}
address: 127.0.0.1
port: {port}
healthzBindAddress: 127.0.0.1
healthzPort: {healthz_port}
readOnlyPort: 0
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {ca_file}}}
authorization: {{mode: Webhook}}
containerRuntimeEndpoint: unix://{socket}
imageServiceEndpoint: unix://{socket}
# Secret volumes follow their Secret within about syncFrequency (default 1m) + the watch's
# propagation (Watch: well under a second): 3 s instead of a minute keeps tests short.
syncFrequency: {SYNC_FREQUENCY}
configMapAndSecretChangeDetectionStrategy: Watch
# A test machine's disk may be nearly full: never evict or garbage-collect the test images.
evictionHard: {{memory.available: 100Mi, nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
failSwapOn: false
podLogsDir: {work_dir}/pod-logs
serializeImagePulls: false
shutdownGracePeriod: 0s
"""


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _node_schedulable(api: k8s.ApiClient) -> bool:
    try:
        node = k8s.CoreV1Api(api).read_node(NODE_NAME)
    except k8s.ApiException:
        return False
    ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
    return ready and not (node.spec.taints or [])


def start_node(binaries: Path, kubelet_binary: Path, controlplane: ControlPlane, work_dir: Path,
               timeout: float = 120) -> Node:
    """Start containerd, load the pause and test-app images, start the kubelet, and wait until
    the node is Ready and schedulable (the not-ready taint removed)."""
    reason = node_unsupported_reason()
    if reason is not None:
        raise RuntimeError(f"this machine cannot run the node: {reason}")
    sweep_leftovers()
    started = time.monotonic()
    work_dir.mkdir(parents=True, exist_ok=True)
    OWNERS_DIR.mkdir(parents=True, exist_ok=True)
    (OWNERS_DIR / str(os.getpid())).write_text(str(work_dir))
    cgroup_root = f"/{CGROUP_PREFIX}{os.getpid()}"
    _make_cgroup(cgroup_root)
    _make_cgroup(f"{cgroup_root}/shims")
    socket = work_dir / "containerd.sock"
    config = work_dir / "containerd.toml"
    config.write_text(_containerd_config(work_dir, socket, cgroup_root))
    env = {"PATH": os.pathsep.join([str(binaries), os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")])}
    containerd = Child("containerd", [str(binaries / "containerd"), f"--config={config}", "--log-level=warn"],
                       log_path=work_dir / "containerd.log", env=env, stdout=None)
    node = Node(work_dir=work_dir, binaries=binaries, socket=socket, cgroup_root=cgroup_root,
                containerd=containerd, kubelet=None)
    try:
        wait_until(lambda: node.ctr("version", check=False, timeout=5).returncode == 0, timeout=30,
                   what="containerd to answer", child=containerd)
        images = work_dir / "images"
        for binary, name in (("pause", PAUSE_IMAGE), ("testapp", TESTAPP_IMAGE)):
            write_oci_archive(images / f"{binary}.tar", binaries / binary, name=name, entrypoint=[f"/{binary}"])
            node.import_image(images / f"{binary}.tar")
        port, healthz_port = free_port(), free_port()
        kubelet_config = work_dir / "kubelet.yaml"
        kubelet_config.write_text(_kubelet_config(work_dir, socket, cgroup_root, controlplane.ca_file, port,
                                                  healthz_port))
        node.kubelet = Child(
            "kubelet",
            [str(kubelet_binary), "kubelet", f"--config={kubelet_config}",
             f"--kubeconfig={controlplane.kubeconfig}", f"--root-dir={work_dir / 'kubelet'}",
             f"--cert-dir={work_dir / 'kubelet-pki'}", f"--hostname-override={NODE_NAME}", "--v=0"],
            log_path=work_dir / "kubelet.log", env=env, stdout=None)
        wait_until(lambda: _healthy(f"http://127.0.0.1:{healthz_port}/healthz"), timeout=timeout,
                   what="the kubelet's healthz", child=node.kubelet)
        api = new_client_from_config(config_file=str(controlplane.kubeconfig))
        try:
            wait_until(lambda: _node_schedulable(api), timeout=timeout, interval=0.3,
                       what=f"node {NODE_NAME} Ready and untainted", child=node.kubelet)
        finally:
            api.close()
    except BaseException:
        node.stop()
        raise
    node.ready_seconds = time.monotonic() - started
    return node
