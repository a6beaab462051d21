"""Go-built tools, cached outside the repo: the control plane (keyed by a hash
of its sources) and helm (keyed by its pinned version)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from testplatform.paths import CACHE_DIR, REPO_ROOT

CONTROLPLANE_SRC = REPO_ROOT / "tests" / "controlplane"
HELM_VERSION = "v3.21.4"


def _go_env() -> dict[str, str]:
    return {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}


def _require_go() -> str:
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("the Go toolchain is needed to build the test control plane and helm")
    return go


def controlplane_source_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted(CONTROLPLANE_SRC.iterdir()):
        if path.suffix == ".go" or path.name in ("go.mod", "go.sum"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def ensure_controlplane() -> tuple[Path, float]:
    """Return (binary, seconds spent building); 0 seconds when cached."""
    target = CACHE_DIR / f"controlplane-{controlplane_source_hash()}" / "controlplane"
    if target.exists():
        return target, 0.0
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    # A name of this process's own: two suites building at once on one machine never share a
    # half-written file, and the last atomic rename wins with an identical binary.
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    try:
        subprocess.run(
            [_require_go(), "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), "."],
            cwd=CONTROLPLANE_SRC, env=_go_env(), check=True,
        )
        os.replace(partial, target)  # atomic: a half-written binary is never mistaken for a cached one
    finally:
        partial.unlink(missing_ok=True)
    return target, time.monotonic() - started


def ensure_helm() -> tuple[Path, float]:
    target_dir = CACHE_DIR / f"helm-{HELM_VERSION}"
    target = target_dir / "helm"
    if target.exists():
        return target, 0.0
    started = time.monotonic()
    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target_dir, prefix="partial-") as scratch:
        subprocess.run(
            [
                _require_go(), "install", "-trimpath",
                f"-ldflags=-s -w -X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
                f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}",
            ],
            env={**_go_env(), "GOBIN": scratch}, check=True,
        )
        os.replace(Path(scratch) / "helm", target)  # atomic, as above
    return target, time.monotonic() - started


# Prometheus' Go module numbers its v3 releases v0.3xx.y (v0.316.0 is Prometheus 3.16.0).
PROMETHEUS_MODULE_VERSION = "v0.316.0"


def ensure_promtool() -> tuple[Path, float]:
    """promtool (checks and unit-tests the chart's alerting rules), built from the Prometheus
    Go module like helm: (binary, seconds spent building); 0 when cached."""
    target_dir = CACHE_DIR / f"promtool-{PROMETHEUS_MODULE_VERSION}"
    target = target_dir / "promtool"
    if target.exists():
        return target, 0.0
    started = time.monotonic()
    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target_dir, prefix="partial-") as scratch:
        subprocess.run(
            [
                _require_go(), "install", "-trimpath",
                f"-ldflags=-s -w -X github.com/prometheus/common/version.Version={PROMETHEUS_MODULE_VERSION}",
                f"github.com/prometheus/prometheus/cmd/promtool@{PROMETHEUS_MODULE_VERSION}",
            ],
            env={**_go_env(), "GOBIN": scratch}, check=True,
        )
        os.replace(Path(scratch) / "promtool", target)  # atomic, as above
    return target, time.monotonic() - started
