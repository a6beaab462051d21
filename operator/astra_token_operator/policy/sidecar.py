"""Sidecar caller mode, decided purely: what a labelled pod asks for (read from
its annotations), what the injection webhook adds to it (a Secret volume and
its mounts, maybe an environment variable), why a pod is refused, and the
AstraToken the operator makes for it.

A pod opts in with the label astra-tokens.io/inject: "true" and the annotation
astra-tokens.io/role: <AstraRole>. Optional annotations, with their defaults:

| annotation | default | meaning |
| --- | --- | --- |
| astra-tokens.io/mount-path | /var/run/secrets/astra-tokens.io | where the token's files appear |
| astra-tokens.io/containers | every container, init containers too | comma-separated names to mount into |
| astra-tokens.io/ttl | the role's ttl | the token's ttl, at most the role's maxTtl |
| astra-tokens.io/metadata.<key> | none | free-form token metadata, kept in the ledger |
| astra-tokens.io/env | "false" | "true": ASTRA_DB_APPLICATION_TOKEN in the environment too |

The environment variable is read once, when a container starts: it does not follow rotations (the
mounted file does).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from astra_token_operator.durations import DurationError, format_duration, parse_duration
from astra_token_operator.models import AstraRoleSpec
from astra_token_operator.surface import (
    ANNOTATION_CONTAINERS,
    ANNOTATION_CREATED_BY,
    ANNOTATION_ENV,
    ANNOTATION_METADATA_PREFIX,
    ANNOTATION_MOUNT_PATH,
    ANNOTATION_OWNED_BY_POD,
    ANNOTATION_ROLE,
    ANNOTATION_SIDECAR_SECRET,
    ANNOTATION_TTL,
    API_VERSION,
    LABEL_POD,
    LABEL_WORKLOAD,
    TOKEN_KIND,
)

DEFAULT_MOUNT_PATH = "/var/run/secrets/astra-tokens.io"
VOLUME_NAME = "astra-token"  # reserved: a pod that already has a volume of this name is refused
ENV_NAME = "ASTRA_DB_APPLICATION_TOKEN"  # the name Astra's SDKs read
_METADATA_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


class PodRequestProblem(ValueError):
    """An annotation the operator cannot read; the message says which and how to fix it."""


@dataclass(frozen=True)
class PodRequest:
    """What a labelled pod asks for."""

    role: str
    mount_path: str = DEFAULT_MOUNT_PATH
    containers: tuple[str, ...] | None = None  # None: all of them
    ttl: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    env: bool = False


def read_request(annotations: Mapping[str, str]) -> PodRequest:
    role = annotations.get(ANNOTATION_ROLE, "").strip()
    if not role:
        raise PodRequestProblem(f"the pod is labelled astra-tokens.io/inject=true but has no {ANNOTATION_ROLE} "
                                "annotation; name the AstraRole its token is for")
    mount_path = annotations.get(ANNOTATION_MOUNT_PATH, DEFAULT_MOUNT_PATH).strip()
    if not mount_path.startswith("/") or ":" in mount_path:
        raise PodRequestProblem(f"{ANNOTATION_MOUNT_PATH}={mount_path!r} is not an absolute path; use e.g. "
                                f"{DEFAULT_MOUNT_PATH}")
    containers = None
    if ANNOTATION_CONTAINERS in annotations:
        containers = tuple(c.strip() for c in annotations[ANNOTATION_CONTAINERS].split(",") if c.strip())
        if not containers:
            raise PodRequestProblem(f"{ANNOTATION_CONTAINERS} is empty; name at least one container, or remove it "
                                    "to mount into every container")
    ttl = annotations.get(ANNOTATION_TTL)
    if ttl is not None:
        try:
            if parse_duration(ttl).total_seconds() <= 0:
                raise DurationError("not positive")
        except DurationError:
            raise PodRequestProblem(f"{ANNOTATION_TTL}={ttl!r} is not a duration; use e.g. 1h, 30m or 3600") from None
    env_text = annotations.get(ANNOTATION_ENV, "false").strip().lower()
    if env_text not in ("true", "false"):
        raise PodRequestProblem(f"{ANNOTATION_ENV}={annotations[ANNOTATION_ENV]!r} is not understood; use \"true\" or "
                                "\"false\"")
    metadata: dict[str, str] = {}
    for key, value in annotations.items():
        if key.startswith(ANNOTATION_METADATA_PREFIX):
            name = key.removeprefix(ANNOTATION_METADATA_PREFIX)
            if not _METADATA_KEY.match(name):
                raise PodRequestProblem(f"annotation {key!r}: {name!r} is not a metadata key; use letters, digits, "
                                        "'-', '_' and '.'")
            metadata[name] = value
    return PodRequest(role=role, mount_path=mount_path, containers=containers, ttl=ttl, metadata=metadata,
                      env=env_text == "true")


def request_problems(pod: Mapping[str, Any], request: PodRequest, role: AstraRoleSpec | None, role_name: str,
                     org_sidecar: bool | None) -> list[str]:
    """Why the pod cannot have a token (the namespace's tenancy is checked apart)."""
    if role is None:
        return [f"AstraRole {request.role!r} does not exist; set {ANNOTATION_ROLE} to an existing AstraRole "
                "(kubectl get astraroles)"]
    problems: list[str] = []
    if org_sidecar is None:
        problems.append(f"AstraOrg {role.org_ref!r} of AstraRole {role_name!r} does not exist")
    elif not org_sidecar:
        problems.append(f"AstraRole {role_name!r} belongs to AstraOrg {role.org_ref!r}, which is in standard mode: "
                        "it issues tokens to AstraTokens, not to pods; use a role of an org with callerMode: sidecar")
    if request.ttl is not None and parse_duration(request.ttl) > role.max_ttl_delta:
        problems.append(f"{ANNOTATION_TTL}={request.ttl} is longer than AstraRole {role_name!r}'s maxTtl "
                        f"{format_duration(role.max_ttl_delta)}; lower it")
    spec = pod.get("spec") or {}
    if any(v.get("name") == VOLUME_NAME for v in spec.get("volumes") or []):
        problems.append(f"the pod already has a volume named {VOLUME_NAME!r}, which the operator reserves for the "
                        "token; rename that volume")
    names = {c.get("name") for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]}
    unknown = sorted(set(request.containers or ()) - names)
    if unknown:
        problems.append(f"{ANNOTATION_CONTAINERS} names {', '.join(unknown)}, which the pod does not have")
    return problems


def secret_name_for(pod_name: str, generate_name: str, draw: str) -> str:
    """The pod's Secret (and AstraToken) name, fixed at admission so the mount can name it: the pod's
    name (or its generateName: such a pod has no name yet) and ``draw``, random per admission. Never
    the pod's name alone: a StatefulSet's pod comes back under the same name while the previous
    one's token may still be revoking."""
    base = (pod_name or generate_name).rstrip("-.")[:40].rstrip("-.") or "pod"
    return f"{base}-astra-{draw[:10]}"


def injected_spec(pod: Mapping[str, Any], request: PodRequest, secret_name: str) -> dict[str, Any]:
    """The pod spec's volumes and containers with the token added: a Secret volume (not optional, so
    the kubelet holds the containers until the token exists), its read-only mounts and, when asked,
    the environment variable. Only the lists that change are returned."""
    spec = pod.get("spec") or {}
    changed: dict[str, Any] = {
        "volumes": [*(spec.get("volumes") or []),
                    {"name": VOLUME_NAME, "secret": {"secretName": secret_name, "optional": False}}]}
    mount = {"name": VOLUME_NAME, "mountPath": request.mount_path, "readOnly": True}
    env = {"name": ENV_NAME, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "token"}}}
    for list_name in ("initContainers", "containers"):
        containers = spec.get(list_name)
        if not containers:
            continue
        updated = []
        for container in containers:
            container = dict(container)
            if request.containers is None or container.get("name") in request.containers:
                container["volumeMounts"] = [*(container.get("volumeMounts") or []), mount]
                if request.env:
                    container["env"] = [*(container.get("env") or []), env]
            updated.append(container)
        changed[list_name] = updated
    return changed


def token_for_pod(pod: Mapping[str, Any], request: PodRequest, *, org: str, created_by: str | None
                  ) -> dict[str, Any]:
    """The operator's own AstraToken for a pod: owned by the pod (garbage collection takes it should
    the operator miss the pod's end; the finalizer revokes), named like its Secret, labelled with
    the pod and its workload."""
    meta = pod.get("metadata") or {}
    owner = next(iter(meta.get("ownerReferences") or []), None)
    workload = f"{owner.get('kind')}/{owner.get('name')}" if owner else ""
    annotations = {ANNOTATION_OWNED_BY_POD: str(meta.get("uid"))}
    if created_by:
        annotations[ANNOTATION_CREATED_BY] = created_by
    labels = {LABEL_POD: str(meta.get("name"))}
    if owner:
        labels[LABEL_WORKLOAD] = _label_value(f"{owner.get('kind')}.{owner.get('name')}")
    spec: dict[str, Any] = {
        "orgRef": org, "roleRef": request.role, "logicalName": f"pod-{meta.get('uid')}",
        "metadata": {**request.metadata, "pod": str(meta.get("name")), "podUid": str(meta.get("uid")),
                     **({"workload": workload} if workload else {})},
        "secret": {"name": str((meta.get("annotations") or {}).get(ANNOTATION_SIDECAR_SECRET))},
    }
    if request.ttl is not None:
        spec["ttl"] = request.ttl
    return {"apiVersion": API_VERSION, "kind": TOKEN_KIND,
            "metadata": {"name": str((meta.get("annotations") or {}).get(ANNOTATION_SIDECAR_SECRET)),
                         "namespace": meta.get("namespace"), "labels": labels, "annotations": annotations,
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": meta.get("name"),
                                              "uid": meta.get("uid"), "blockOwnerDeletion": False}]},
            "spec": spec}


def finished(pod: Mapping[str, Any]) -> bool:
    """A pod that will never run again: its token is revoked at once (a finished Job pod can linger)."""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def creator_of(userinfo: Mapping[str, Any]) -> str:
    return json.dumps({"username": str(userinfo.get("username", "")), "uid": str(userinfo.get("uid", "")),
                       "groups": [str(g) for g in userinfo.get("groups") or []]}, separators=(",", ":"),
                      sort_keys=True)


def _label_value(text: str) -> str:
    cut = re.sub(r"[^A-Za-z0-9._-]", "-", text)[:63].strip("-._")
    return cut or "unknown"

