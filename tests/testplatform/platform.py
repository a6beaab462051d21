"""Everything the integration tests run against, started together and always
torn down together."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from testplatform.controlplane import ControlPlane, external_controlplane, start_controlplane
from testplatform.gobuild import ensure_controlplane, ensure_helm
from testplatform.openbao import OpenBao, start_openbao
from testplatform.paths import venv_tool


@dataclass
class Timings:
    controlplane_build_seconds: float = 0.0
    helm_build_seconds: float = 0.0
    controlplane_ready_seconds: float = 0.0
    openbao_ready_seconds: float = 0.0

    def lines(self) -> list[str]:
        return [
            f"platform: control-plane build {self.controlplane_build_seconds:.1f} s (0 when cached)",
            f"platform: helm build {self.helm_build_seconds:.1f} s (0 when cached)",
            f"platform: control plane ready in {self.controlplane_ready_seconds:.1f} s",
            f"platform: OpenBao ready in {self.openbao_ready_seconds:.1f} s",
        ]


@dataclass
class Platform:
    work_dir: Path
    controlplane: ControlPlane
    openbao: OpenBao
    kubectl: Path
    helm: Path
    timings: Timings
    _owned_dir: bool = field(default=True, repr=False)

    @property
    def tool_dirs(self) -> list[str]:
        return [str(self.kubectl.parent), str(self.helm.parent)]

    def env(self) -> dict[str, str]:
        """Environment for a shell or subprocess that should use this platform."""
        return {
            "KUBECONFIG": str(self.controlplane.kubeconfig),
            "VAULT_ADDR": self.openbao.addr,
            "VAULT_TOKEN": self.openbao.token,
            "BAO_ADDR": self.openbao.addr,
            "BAO_TOKEN": self.openbao.token,
            "PATH": os.pathsep.join([*self.tool_dirs, os.environ.get("PATH", "")]),
        }

    def stop(self) -> None:
        for part in (self.openbao, self.controlplane):
            try:
                part.stop()
            except Exception as exc:  # keep tearing down the rest
                print(f"platform: stopping {type(part).__name__} failed: {exc}")
        if self._owned_dir and not os.environ.get("ASTRA_KEEP_PLATFORM_DIR"):
            shutil.rmtree(self.work_dir, ignore_errors=True)


def start_platform(work_dir: Path | None = None) -> Platform:
    owned = work_dir is None
    work_dir = work_dir or Path(tempfile.mkdtemp(prefix="astra-platform-"))
    timings = Timings()
    helm, timings.helm_build_seconds = ensure_helm()
    external = os.environ.get("ASTRA_E2E_KUBECONFIG")
    if external:  # make e2e-kind: the same suite against a kind cluster
        controlplane = external_controlplane(Path(external), work_dir / "controlplane")
    else:
        binary, timings.controlplane_build_seconds = ensure_controlplane()
        controlplane = start_controlplane(binary, work_dir / "controlplane")
    timings.controlplane_ready_seconds = controlplane.ready_seconds
    try:
        openbao = start_openbao(work_dir / "openbao")
    except BaseException:
        controlplane.stop()
        raise
    timings.openbao_ready_seconds = openbao.ready_seconds
    return Platform(work_dir=work_dir, controlplane=controlplane, openbao=openbao,
                    kubectl=venv_tool("kubectl"), helm=helm, timings=timings, _owned_dir=owned)
