"""The Kubernetes control plane of tests/controlplane (etcd + kube-apiserver +
kube-controller-manager in one process), started on loopback and free ports."""

from __future__ import annotations

import base64
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
    audit_log: Path | None  # Secret requests, as the apiserver audits them (None for external clusters)
    child: Child | None  # None: a cluster someone else runs (make e2e-kind)
    ready_seconds: float

    def stop(self) -> None:
        if self.child is not None:
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
        audit_log=Path(info["auditLog"]),
        child=child,
        ready_seconds=time.monotonic() - started,
    )


def external_controlplane(kubeconfig: Path, work_dir: Path) -> ControlPlane:
    """A cluster that is already running (kind): read its address and CA from the kubeconfig."""
    import yaml

    config = yaml.safe_load(kubeconfig.read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
    cluster = next(c for c in config["clusters"] if c["name"] == context["cluster"])["cluster"]
    work_dir.mkdir(parents=True, exist_ok=True)
    ca_file = Path(cluster.get("certificate-authority", work_dir / "ca.crt"))
    if "certificate-authority-data" in cluster:
        ca_file.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    return ControlPlane(
        kubeconfig=kubeconfig, server=cluster["server"], ca_file=ca_file,
        admin_cert=Path(), admin_key=Path(),
        service_account_issuer="https://kubernetes.default.svc.cluster.local",
        audit_log=None, child=None, ready_seconds=0.0,
    )
