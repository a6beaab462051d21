"""Go-built tools, cached outside the repo: the control plane and kubelet, the
node's runtime (containerd, its runc shim, ctr, pause, the test app), each keyed
by a hash of its sources and build flags, and helm (keyed by its pinned version)."""

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
NODE_SRC = REPO_ROOT / "tests" / "node"
HELM_VERSION = "v3.21.4"
KUBERNETES_VERSION = "v1.36.3"
CONTAINERD_VERSION = "v2.4.2"
# What `kubectl get nodes` and `version` print, instead of "v0.0.0-master".
CONTROLPLANE_LDFLAGS = " ".join([
    "-s -w",
    *(f"-X {package}.{name}={value}"
      for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
      for name, value in (("gitVersion", KUBERNETES_VERSION), ("gitMajor", "1"), ("gitMinor", "36"))),
])
NODE_LDFLAGS = f"-s -w -X github.com/containerd/containerd/v2/version.Version={CONTAINERD_VERSION}"
NODE_PROGRAMS = ("containerd", "containerd-shim-runc-v2", "ctr", "pause", "testapp")


def _go_env() -> dict[str, str]:
    return {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}


def _require_go() -> str:
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("the Go toolchain is needed to build the test control plane and helm")
    return go


def source_hash(source: Path, *recipe: str) -> str:
    """A hash of a Go module's sources (every .go file, go.mod, go.sum) and of how it is built."""
    digest = hashlib.sha256("\0".join(recipe).encode() + b"\0")
    for path in sorted(source.rglob("*")):
        if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
            digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def controlplane_source_hash() -> str:
    return source_hash(CONTROLPLANE_SRC, CONTROLPLANE_LDFLAGS)


def ensure_controlplane() -> tuple[Path, float]:
    """Return (binary, seconds spent building); 0 seconds when cached. The same binary
    is the kubelet (`controlplane kubelet ...`)."""
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
            [_require_go(), "build", "-trimpath", f"-ldflags={CONTROLPLANE_LDFLAGS}", "-o", str(partial), "."],
            cwd=CONTROLPLANE_SRC, env=_go_env(), check=True,
        )
        os.replace(partial, target)  # atomic: a half-written binary is never mistaken for a cached one
    finally:
        partial.unlink(missing_ok=True)
    return target, time.monotonic() - started


def ensure_node_binaries() -> tuple[Path, float]:
    """Return (directory holding NODE_PROGRAMS, seconds spent building); 0 when cached."""
    target = CACHE_DIR / f"node-{source_hash(NODE_SRC, NODE_LDFLAGS)}"
    if all((target / name).exists() for name in NODE_PROGRAMS):
        return target, 0.0
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f"{target.name}.partial-") as scratch:
        subprocess.run(
            [_require_go(), "build", "-trimpath", f"-ldflags={NODE_LDFLAGS}", "-o", scratch + "/", "./cmd/..."],
            cwd=NODE_SRC, env=_go_env(), check=True,
        )
        try:
            os.rename(scratch, target)  # atomic, as above: a directory is complete or absent
        except OSError:
            if not all((target / name).exists() for name in NODE_PROGRAMS):
                raise
            # another suite renamed an identical build first
        else:
            os.mkdir(scratch)  # TemporaryDirectory removes it
    return target, time.monotonic() - started


def _go_install(target_dir: Path, binary: str, package: str, ldflags: str) -> tuple[Path, float]:
    """`go install package` into target_dir/binary, through a scratch GOBIN renamed into place
    (atomic: a half-written binary is never mistaken for a cached one): (binary, seconds spent
    building); 0 when cached."""
    target = target_dir / binary
    if target.exists():
        return target, 0.0
    started = time.monotonic()
    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target_dir, prefix="partial-") as scratch:
        subprocess.run([_require_go(), "install", "-trimpath", f"-ldflags={ldflags}", package],
                       env={**_go_env(), "GOBIN": scratch}, check=True)
        os.replace(Path(scratch) / binary, target)
    return target, time.monotonic() - started


def ensure_helm() -> tuple[Path, float]:
    return _go_install(CACHE_DIR / f"helm-{HELM_VERSION}", "helm", f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}",
                       f"-s -w -X helm.sh/helm/v3/internal/version.version={HELM_VERSION}")


# Prometheus' Go module numbers its v3 releases v0.3xx.y (v0.316.0 is Prometheus 3.16.0).
PROMETHEUS_MODULE_VERSION = "v0.316.0"


def ensure_promtool() -> tuple[Path, float]:
    """promtool (checks and unit-tests the chart's alerting rules), built from the Prometheus
    Go module like helm: (binary, seconds spent building); 0 when cached."""
    return _go_install(
        CACHE_DIR / f"promtool-{PROMETHEUS_MODULE_VERSION}", "promtool",
        f"github.com/prometheus/prometheus/cmd/promtool@{PROMETHEUS_MODULE_VERSION}",
        f"-s -w -X github.com/prometheus/common/version.Version={PROMETHEUS_MODULE_VERSION}")
