"""The operator's image, built from the project's Dockerfile without a registry
or a daemon: buildah (Debian's package) on a base image made from Debian's
packages by mmdebstrap (Debian's python3), exported as an archive the node's
containerd imports.

Both are cached outside the repo: the base in buildah's storage under a name
keyed by its recipe, the operator's image as an archive keyed by a hash of
the Dockerfile, pyproject.toml, README.md and operator/."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from testplatform.paths import CACHE_DIR, REPO_ROOT

DEBIAN_SUITE = "bookworm"
# python3-venv: the Dockerfile's virtualenv; passwd: its groupadd/useradd.
BASE_PACKAGES = ("python3", "python3-venv", "passwd", "ca-certificates")
IMAGE_REPOSITORY = "localhost/astra-token-operator"
BUILDAH_ROOT = CACHE_DIR / "buildah"
IMAGES_DIR = CACHE_DIR / "images"
DOCKERFILE = REPO_ROOT / "Dockerfile"


def image_build_unsupported_reason() -> str | None:
    if os.geteuid() != 0:
        return "not root (buildah and mmdebstrap run as root here)"
    missing = [tool for tool in ("buildah", "mmdebstrap") if shutil.which(tool) is None]
    if missing:
        return f"missing {', '.join(missing)} (Debian packages of the same names)"
    return None


def _buildah(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    # Storage of our own (not /var/lib/containers), on overlayfs; runroot beside it.
    command = ["buildah", f"--root={BUILDAH_ROOT / 'storage'}", f"--runroot={BUILDAH_ROOT / 'run'}",
               "--storage-driver=overlay", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result  # type: ignore[no-any-return]


def _has_image(name: str) -> bool:
    listed = subprocess.run(
        ["buildah", f"--root={BUILDAH_ROOT / 'storage'}", f"--runroot={BUILDAH_ROOT / 'run'}",
         "--storage-driver=overlay", "images", "--quiet", name],
        capture_output=True, text=True, check=False)
    return listed.returncode == 0 and bool(listed.stdout.strip())


def base_image_name() -> str:
    recipe = f"mmdebstrap minbase {DEBIAN_SUITE} {' '.join(BASE_PACKAGES)}"
    return f"localhost/astra-token-operator-base:{DEBIAN_SUITE}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def ensure_base_image() -> tuple[str, float]:
    """A Debian image with Debian's python3, in buildah's storage: (name, seconds spent building)."""
    name = base_image_name()
    if _has_image(name):
        return name, 0.0
    started = time.monotonic()
    BUILDAH_ROOT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BUILDAH_ROOT, prefix="base-") as scratch:
        rootfs = Path(scratch) / "rootfs.tar"
        # From the machine's own Debian mirror (mmdebstrap reads its apt sources), minimal variant.
        subprocess.run(
            ["mmdebstrap", "--quiet", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
             "--aptopt=Acquire::Retries \"3\"", DEBIAN_SUITE, str(rootfs)],
            check=True, capture_output=True, text=True)
        container = _buildah("from", "scratch").stdout.strip()
        try:
            _buildah("add", container, str(rootfs), "/")
            _buildah("config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                     "--cmd", "python3", container)
            _buildah("commit", "--quiet", "--rm", container, name)
        except BaseException:
            subprocess.run(["buildah", f"--root={BUILDAH_ROOT / 'storage'}", f"--runroot={BUILDAH_ROOT / 'run'}",
                            "rm", container], capture_output=True, check=False)
            raise
    return name, time.monotonic() - started


def _pip_setup_mounts(scratch: Path) -> list[str]:
    """--volume options that give the Dockerfile's pip this machine's way to PyPI (its CA
    bundle, e.g. a TLS-intercepting egress proxy's, and its index) for the build's RUN steps
    only: nothing of it lands in the image."""
    lines = ["[global]"]
    mounts = []
    ca = os.environ.get("PIP_CERT") or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    if ca and Path(ca).is_file():
        mounts.append(f"--volume={ca}:/etc/astra-build-ca.crt:ro")
        lines.append("cert = /etc/astra-build-ca.crt")
    for setting in ("index-url", "extra-index-url", "timeout"):
        value = os.environ.get("PIP_" + setting.upper().replace("-", "_"))
        if value:
            lines.append(f"{setting} = {value}")
    if len(lines) == 1:
        return []
    conf = scratch / "pip.conf"
    conf.write_text("\n".join(lines) + "\n")
    return [*mounts, f"--volume={conf}:/etc/pip.conf:ro"]


def operator_source_hash(base: str) -> str:
    digest = hashlib.sha256(base.encode() + b"\0")
    files = [DOCKERFILE, REPO_ROOT / ".dockerignore", REPO_ROOT / "pyproject.toml", REPO_ROOT / "README.md",
             *sorted(p for p in (REPO_ROOT / "operator").rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts and ".egg-info" not in str(p))]
    for path in files:
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def ensure_operator_image() -> tuple[Path, str, float]:
    """(archive to import, image reference, seconds spent building; 0 when cached)."""
    base, base_seconds = ensure_base_image()
    tag = operator_source_hash(base)
    reference = f"{IMAGE_REPOSITORY}:{tag}"
    archive = IMAGES_DIR / f"operator-{tag}.tar"
    if archive.exists():
        return archive, reference, base_seconds
    started = time.monotonic()
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    # chroot isolation and the host's network: RUN steps need no runtime and no network
    # namespace (pip reaches PyPI as the machine does; no bridge is created).
    with tempfile.TemporaryDirectory(prefix="astra-image-build-") as scratch:
        _buildah("build", "--isolation=chroot", "--network=host", "--layers=false", "--format=oci",
                 *_pip_setup_mounts(Path(scratch)), f"--build-arg=BASE_IMAGE={base}", f"--tag={reference}",
                 f"--file={DOCKERFILE}", str(REPO_ROOT), timeout=1200)
    partial = archive.with_name(f"{archive.name}.partial-{os.getpid()}")
    try:
        _buildah("push", "--quiet", reference, f"docker-archive:{partial}:{reference}")
        os.replace(partial, archive)
    finally:
        partial.unlink(missing_ok=True)
    _buildah("rmi", reference)  # the archive is the cache; keep buildah's storage to the base
    return archive, reference, base_seconds + time.monotonic() - started
