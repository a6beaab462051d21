"""A rollout is complete as `kubectl rollout status` says: the latest spec seen, every replica updated
and available, none of the old ones left."""

from __future__ import annotations

from typing import Any

import pytest

from astra_token_operator.policy.rollouts import rollout_complete


def workload(generation: int = 2, replicas: int = 3, **status: Any) -> dict[str, Any]:
    return {"metadata": {"generation": generation}, "spec": {"replicas": replicas}, "status": status}


@pytest.mark.parametrize(("kind", "body", "complete"), [
    ("Deployment", workload(observedGeneration=2, replicas=3, updatedReplicas=3, availableReplicas=3), True),
    ("Deployment", workload(observedGeneration=1, replicas=3, updatedReplicas=3, availableReplicas=3), False),
    ("Deployment", workload(observedGeneration=2, replicas=4, updatedReplicas=3, availableReplicas=3), False),
    ("Deployment", workload(observedGeneration=2, replicas=3, updatedReplicas=3, availableReplicas=2), False),
    ("Deployment", workload(observedGeneration=2, replicas=3, updatedReplicas=2, availableReplicas=3), False),
    ("StatefulSet", workload(observedGeneration=2, updatedReplicas=3, readyReplicas=3, currentRevision="b",
                             updateRevision="b"), True),
    ("StatefulSet", workload(observedGeneration=2, updatedReplicas=3, readyReplicas=3, currentRevision="a",
                             updateRevision="b"), False),
    ("DaemonSet", workload(observedGeneration=2, desiredNumberScheduled=2, updatedNumberScheduled=2,
                           numberAvailable=2), True),
    ("DaemonSet", workload(observedGeneration=2, desiredNumberScheduled=2, updatedNumberScheduled=1,
                           numberAvailable=2), False),
    ("Rollout", workload(phase="Healthy"), True),
    ("Rollout", workload(phase="Progressing"), False),
])
def test_a_rollout_is_complete_when_kubectl_rollout_status_would_say_so(kind: str, body: dict[str, Any],
                                                                        complete: bool) -> None:
    assert rollout_complete(kind, body) is complete
