"""Whether a workload's rollout has finished, as `kubectl rollout status` judges
it: the controller has seen the latest spec, and every replica is updated and
available (no old ones left). Pure: the workload's JSON in, a verdict out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def rollout_complete(kind: str, workload: Mapping[str, Any]) -> bool:
    spec, status = workload.get("spec") or {}, workload.get("status") or {}
    if kind == "Rollout":  # Argo Rollouts reports its own verdict
        return status.get("phase") == "Healthy"
    generation = (workload.get("metadata") or {}).get("generation") or 0
    if (status.get("observedGeneration") or 0) < generation:
        return False  # the controller has not seen the restart yet
    if kind == "DaemonSet":
        desired = status.get("desiredNumberScheduled") or 0
        return (status.get("updatedNumberScheduled") or 0) >= desired and (
            status.get("numberAvailable") or 0) >= desired
    wanted = spec.get("replicas", 1)
    updated = status.get("updatedReplicas") or 0
    if kind == "StatefulSet":
        revision_done = not status.get("updateRevision") or status.get("currentRevision") == status.get(
            "updateRevision")
        return updated >= wanted and (status.get("readyReplicas") or 0) >= wanted and revision_done
    # Deployment
    return (updated >= wanted and (status.get("replicas") or 0) <= updated
            and (status.get("availableReplicas") or 0) >= updated)
