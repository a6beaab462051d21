"""Bodies of the JSON merge patches (RFC 7386) the client sends. Pure.

Each sets absolute values (or removes keys with null), so sending one twice
leaves the object as sending it once: that is what makes these writes safe to
retry after an ambiguous failure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

MERGE_PATCH = "application/merge-patch+json"
# Lists with a merge key (a Secret's ownerReferences, by uid) merge instead of being replaced.
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"

WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet", "Rollout"]
WORKLOAD_KINDS: tuple[WorkloadKind, ...] = ("Deployment", "StatefulSet", "DaemonSet", "Rollout")
# Argo Rollouts: a custom resource, restarted through its own spec.restartAt.
ROLLOUT_GROUP, ROLLOUT_VERSION, ROLLOUT_PLURAL = "argoproj.io", "v1alpha1", "rollouts"


def restart_patch(annotation: str, value: str) -> dict[str, Any]:
    """Stamp the pod template: a changed template makes the controller roll its pods
    (what ``kubectl rollout restart`` does with kubectl.kubernetes.io/restartedAt)."""
    return {"spec": {"template": {"metadata": {"annotations": {annotation: value}}}}}


def rollout_restart_patch(restart_at: str) -> dict[str, Any]:
    """An Argo Rollout restarts its pods when spec.restartAt (an RFC 3339 time) moves."""
    return {"spec": {"restartAt": restart_at}}


def metadata_patch(
    labels: Mapping[str, str | None] | None, annotations: Mapping[str, str | None] | None
) -> dict[str, Any] | None:
    """Set labels/annotations; a None value removes the key. None when there is nothing to send."""
    metadata: dict[str, Any] = {}
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"metadata": metadata} if metadata else None


def status_patch(status: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``status`` into the object's status (on the /status subresource)."""
    return {"status": dict(status)}
