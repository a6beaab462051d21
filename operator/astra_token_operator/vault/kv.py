"""KV v2 over hvac with typed answers. Synchronous: the ledger runs these on
its worker threads through the session, which translates errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import hvac
import hvac.exceptions

from astra_token_operator.times import from_rfc3339


@dataclass(frozen=True)
class KvVersion:
    data: dict[str, Any]
    version: int
    created_time: datetime


@dataclass(frozen=True)
class KvVersionInfo:
    version: int
    created_time: datetime
    deleted: bool  # soft-deleted or destroyed: its data is gone


@dataclass(frozen=True)
class KvMetadata:
    current_version: int
    versions: list[KvVersionInfo]


def _missing_mount(exc: hvac.exceptions.InvalidPath) -> bool:
    """A 404 for a mount that does not exist must not read as 'no such key'."""
    return any("no handler for route" in str(e) for e in (exc.errors or []))


def write(client: hvac.Client, mount: str, key: str, data: dict[str, Any], cas: int | None = None) -> int:
    """Write a new version; with ``cas`` only if the current version is ``cas`` (0: key absent)."""
    response = client.secrets.kv.v2.create_or_update_secret(path=key, secret=data, cas=cas, mount_point=mount)
    return int(response["data"]["version"])


def try_write(client: hvac.Client, mount: str, key: str, data: dict[str, Any], cas: int) -> int | None:
    """A check-and-set write; None when it lost (the key was not at version ``cas``)."""
    try:
        return write(client, mount, key, data, cas=cas)
    except hvac.exceptions.InvalidRequest as exc:
        if any("check-and-set" in str(e) for e in (exc.errors or [])):
            return None
        raise


def read(client: hvac.Client, mount: str, key: str, version: int | None = None) -> KvVersion | None:
    """The latest (or given) version; None when absent, soft-deleted or destroyed."""
    try:
        response = client.secrets.kv.v2.read_secret_version(
            path=key, version=version, mount_point=mount, raise_on_deleted_version=False
        )
    except hvac.exceptions.InvalidPath as exc:
        if _missing_mount(exc):
            raise
        return None
    body = response.get("data") or {}
    data = body.get("data")
    if not isinstance(data, dict):
        return None
    meta = body["metadata"]
    return KvVersion(data=data, version=int(meta["version"]),
                     created_time=from_rfc3339(meta["created_time"]))


def metadata(client: hvac.Client, mount: str, key: str) -> KvMetadata | None:
    try:
        response = client.secrets.kv.v2.read_secret_metadata(path=key, mount_point=mount)
    except hvac.exceptions.InvalidPath as exc:
        if _missing_mount(exc):
            raise
        return None
    body = response["data"]
    versions = [
        KvVersionInfo(
            version=int(number),
            created_time=from_rfc3339(info["created_time"]),
            deleted=bool(info.get("deletion_time")) or bool(info.get("destroyed")),
        )
        for number, info in (body.get("versions") or {}).items()
    ]
    return KvMetadata(current_version=int(body["current_version"]),
                      versions=sorted(versions, key=lambda v: v.version))


def set_max_versions(client: hvac.Client, mount: str, key: str, max_versions: int) -> None:
    client.secrets.kv.v2.update_metadata(path=key, max_versions=max_versions, mount_point=mount)


def list_keys(client: hvac.Client, mount: str, key: str) -> list[str]:
    """Child names under a folder (folders end with '/'); [] when there are none."""
    try:
        response = client.secrets.kv.v2.list_secrets(path=key, mount_point=mount)
    except hvac.exceptions.InvalidPath as exc:
        if _missing_mount(exc):
            raise
        return []
    return sorted(str(k) for k in response["data"]["keys"])


def delete_all(client: hvac.Client, mount: str, key: str) -> None:
    """Delete the key's metadata and every version: the key no longer exists,
    so a later ``cas=0`` write can claim it (a soft delete would block that)."""
    client.secrets.kv.v2.delete_metadata_and_all_versions(path=key, mount_point=mount)


def mount_of(client: hvac.Client, path: str) -> tuple[str, str] | None:
    """(mount, kv version) OpenBao reports for a path, the look-up `bao kv get`
    does first; None when the path is under no mount this identity can see."""
    try:
        response = client.adapter.get(f"/v1/sys/internal/ui/mounts/{path.strip('/')}")
    except (hvac.exceptions.Forbidden, hvac.exceptions.InvalidPath, hvac.exceptions.InvalidRequest):
        return None
    data = response.get("data") or {}
    if not data.get("path"):
        return None
    options = data.get("options") or {}
    return str(data["path"]), str(options.get("version") or "1")
