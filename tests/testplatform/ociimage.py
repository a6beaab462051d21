"""Single-layer OCI images written directly (no builder, no registry): a static
binary as the image's only file. The node's pause image and the test
application are built this way; the operator's image comes from its
Dockerfile (testplatform.imagebuild)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

# Fixed times and owners: the same binary gives the same image digest.
_EPOCH = 0


def _blob(data: bytes) -> tuple[str, bytes]:
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, _EPOCH
    tar.addfile(info, io.BytesIO(data))


def _layer(binary: Path, path_in_image: str) -> tuple[bytes, bytes]:
    """(uncompressed tar, gzip of it): the binary at path_in_image, mode 0755."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        parts = path_in_image.strip("/").split("/")
        for depth in range(1, len(parts)):
            info = tarfile.TarInfo("/".join(parts[:depth]))
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, _EPOCH
            tar.addfile(info)
        _add(tar, "/".join(parts), binary.read_bytes(), mode=0o755)
    plain = raw.getvalue()
    return plain, gzip.compress(plain, mtime=_EPOCH)


def write_oci_archive(target: Path, binary: Path, *, name: str, entrypoint: list[str],
                      path_in_image: str | None = None, user: str = "65532:65532") -> str:
    """Write an OCI image-layout tar holding one linux/amd64 image named `name`
    (a full reference, e.g. localhost/astra-testapp:dev); return its manifest digest."""
    path_in_image = path_in_image or f"/{binary.name}"
    plain, compressed = _layer(binary, path_in_image)
    layer_digest, layer = _blob(compressed)
    config: dict[str, Any] = {
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": entrypoint, "User": user, "Env": ["PATH=/"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(plain).hexdigest()]},
    }
    config_digest, config_blob = _blob(json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": len(config_blob)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest,
                    "size": len(layer)}],
    }
    manifest_digest, manifest_blob = _blob(json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": manifest["mediaType"], "digest": manifest_digest, "size": len(manifest_blob),
                       "platform": {"architecture": "amd64", "os": "linux"},
                       "annotations": {"io.containerd.image.name": name,
                                       "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]}}],
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, mode="w") as tar:
        _add(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        _add(tar, "index.json", json.dumps(index, sort_keys=True).encode())
        for digest, data in ((layer_digest, layer), (config_digest, config_blob), (manifest_digest, manifest_blob)):
            _add(tar, f"blobs/sha256/{digest.removeprefix('sha256:')}", data)
    return manifest_digest
