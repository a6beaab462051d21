"""The Kubernetes control plane of tests/controlplane (etcd + kube-apiserver +
kube-controller-manager in one process), started on loopback and free ports."""

from __future__ import annotations

import json
import select
import time
from dataclasses import dataclass
from pathlib import Path

from testplatform.processes import Child

READY_PREFIX = "CONTROLPLANE READY "


@dataclass
class ControlPlane:
    kubeconfig: Path
    server: str
    ca_file: Path
    admin_cert: Path
    admin_key: Path
    service_account_issuer: str
    child: Child
    ready_seconds: float

    def stop(self) -> None:
        self.child.stop()


def start_controlplane(binary: Path, work_dir: Path, timeout: float = 180.0) -> ControlPlane:
    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    child = Child(
        "controlplane",
        [str(binary), f"-data-dir={work_dir}", "-exit-on-stdin-close", f"-ready-timeout={int(timeout)}s"],
        log_path=work_dir / "controlplane.log",
    )
    assert child.process.stdout is not None
    deadline = started + timeout
    line = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([child.process.stdout], [], [], 1.0)
        if ready:
            line = child.process.stdout.readline()
            if line.decode().startswith(READY_PREFIX):
                break
            if not line and not child.alive():
                break
        elif not child.alive():
            break
    else:
        child.stop()
        raise TimeoutError(f"control plane not ready after {timeout:.0f}s:\n{child.log_tail()}")
    if not line.decode().startswith(READY_PREFIX):
        child.stop()
        raise RuntimeError(f"control plane exited before it was ready:\n{child.log_tail()}")
    info = json.loads(line.decode()[len(READY_PREFIX):])
    return ControlPlane(
        kubeconfig=Path(info["kubeconfig"]),
        server=info["server"],
        ca_file=Path(info["caFile"]),
        admin_cert=Path(info["adminCert"]),
        admin_key=Path(info["adminKey"]),
        service_account_issuer=info["serviceAccountIssuer"],
        child=child,
        ready_seconds=time.monotonic() - started,
    )
