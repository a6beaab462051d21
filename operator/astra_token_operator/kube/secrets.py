"""The Secret we want and the Secret we found, and the pure comparison between
them. No I/O here: the client turns these into API bodies and back.

Values are SecretStr from end to end, so no repr, str, log line or traceback
shows them; base64 (the wire form of ``data``) is applied and removed only in
this module."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class OwnerReference(BaseModel):
    """The object a Secret belongs to; deleting it garbage-collects the Secret."""

    model_config = ConfigDict(frozen=True)

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool = True
    block_owner_deletion: bool = True

    def to_api(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": self.controller,
            "blockOwnerDeletion": self.block_owner_deletion,
        }


class DesiredSecret(BaseModel):
    """What the operator wants a Secret to hold. ``data`` values are text;
    base64 is this package's business."""

    model_config = ConfigDict(frozen=True)

    namespace: str
    name: str
    data: Mapping[str, SecretStr]
    labels: Mapping[str, str] = Field(default_factory=dict)
    annotations: Mapping[str, str] = Field(default_factory=dict)
    owner: OwnerReference
    type: str = "Opaque"

    def encoded_data(self) -> dict[str, str]:
        """``data`` as the API stores it: base64 of the UTF-8 bytes."""
        return {key: _encode(value.get_secret_value()) for key, value in self.data.items()}

    def secret_values(self) -> tuple[str, ...]:
        """The plain values, for scrubbing error messages; never for display."""
        return tuple(value.get_secret_value() for value in self.data.values())

    def to_api(self) -> dict[str, Any]:
        """The body of a create."""
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": dict(self.labels),
                "annotations": dict(self.annotations),
                "ownerReferences": [self.owner.to_api()],
            },
            "type": self.type,
            "data": self.encoded_data(),
        }

    def patching(self, current: SecretSnapshot) -> dict[str, Any]:
        """The body of a strategic merge patch over ``current`` (the Secret as last read or written):
        no read before the write.

        ``data`` is replaced whole: the keys ``current`` holds that are not ours are removed. Our
        labels, annotations and owner reference (merged by uid) are set; those others added are
        kept, as is the rest of the metadata. ``current``'s resourceVersion goes with it: the
        apiserver refuses the write with 409 if the Secret changed since, so nothing others wrote
        after that read is undone."""
        data: dict[str, str | None] = {key: None for key in current.data if key not in self.data}
        data.update(self.encoded_data())
        return {
            "metadata": {
                "resourceVersion": current.resource_version,
                "labels": dict(self.labels),
                "annotations": dict(self.annotations),
                "ownerReferences": [self.owner.to_api()],
            },
            "type": self.type,  # immutable: a Secret of another type is refused, not silently kept
            "data": data,
        }


@dataclass(frozen=True)
class SecretVersion:
    """A Secret's name and resourceVersion, as a metadata-only list gives them."""

    namespace: str
    name: str
    resource_version: str


class SecretSnapshot(BaseModel):
    """A Secret as read from the apiserver, ``data`` decoded to text."""

    model_config = ConfigDict(frozen=True)

    namespace: str
    name: str
    uid: str
    resource_version: str
    data: dict[str, SecretStr] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    owner_uids: list[str] = Field(default_factory=list)
    type: str = "Opaque"

    @classmethod
    def from_api(cls, obj: Mapping[str, Any]) -> SecretSnapshot:
        """From the API's JSON form (camelCase keys, base64 ``data``)."""
        metadata = obj.get("metadata") or {}
        return cls(
            namespace=metadata.get("namespace", ""),
            name=metadata.get("name", ""),
            uid=metadata.get("uid", ""),
            resource_version=metadata.get("resourceVersion", ""),
            data={key: SecretStr(_decode(value)) for key, value in (obj.get("data") or {}).items()},
            labels=dict(metadata.get("labels") or {}),
            annotations=dict(metadata.get("annotations") or {}),
            owner_uids=[ref["uid"] for ref in metadata.get("ownerReferences") or [] if ref.get("uid")],
            type=obj.get("type") or "Opaque",
        )

    def drift(self, desired: DesiredSecret) -> list[str]:
        """What differs from ``desired``, by key name only (never a value).
        Labels and annotations others added are not drift; extra data keys are."""
        found: list[str] = []
        if (self.namespace, self.name) != (desired.namespace, desired.name):
            found.append(f"different Secret ({self.namespace}/{self.name})")
        if self.type != desired.type:
            found.append(f"type is {self.type}, not {desired.type}")
        for key in sorted(desired.data):
            if key not in self.data:
                found.append(f"data key {key} missing")
            elif not _same(self.data[key], desired.data[key]):
                found.append(f"data key {key} differs")
        found.extend(f"data key {key} unexpected" for key in sorted(set(self.data) - set(desired.data)))
        found.extend(_map_drift("label", self.labels, desired.labels))
        found.extend(_map_drift("annotation", self.annotations, desired.annotations))
        if desired.owner.uid not in self.owner_uids:
            found.append(f"owner reference to {desired.owner.kind} {desired.owner.name} missing")
        return found

    def matches(self, desired: DesiredSecret) -> bool:
        return not self.drift(desired)


def _map_drift(what: str, actual: Mapping[str, str], wanted: Mapping[str, str]) -> list[str]:
    found: list[str] = []
    for key in sorted(wanted):
        if key not in actual:
            found.append(f"{what} {key} missing")
        elif actual[key] != wanted[key]:
            found.append(f"{what} {key} differs")
    return found


def _same(a: SecretStr, b: SecretStr) -> bool:
    return hmac.compare_digest(a.get_secret_value().encode(), b.get_secret_value().encode())


def _encode(value: str) -> str:
    return base64.b64encode(value.encode()).decode("ascii")


def _decode(value: str) -> str:
    """Text of a base64 value. A value that is not UTF-8 (someone's binary
    key) decodes with replacement characters: it can only ever differ."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return ""
    return raw.decode("utf-8", errors="replace")
