"""The operator's only code that calls the Kubernetes client for Secrets,
custom-object status and metadata, rollout restarts and namespace reads.
Async to callers; the synchronous client runs on a bounded thread pool."""

from astra_token_operator.kube.access import AccessRequest, AccessVerdict
from astra_token_operator.kube.client import DEFAULT_TIMEOUT_SECONDS, DEFAULT_WORKERS, Kube
from astra_token_operator.kube.errors import (
    KubeAlreadyExists,
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeInvalid,
    KubeNotFound,
    KubeUnavailable,
)
from astra_token_operator.kube.patches import WORKLOAD_KINDS, WorkloadKind
from astra_token_operator.kube.retry import RetryPolicy
from astra_token_operator.kube.secrets import DesiredSecret, OwnerReference, SecretSnapshot, SecretVersion

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "DEFAULT_WORKERS",
    "WORKLOAD_KINDS",
    "AccessRequest",
    "AccessVerdict",
    "DesiredSecret",
    "Kube",
    "KubeAlreadyExists",
    "KubeConflict",
    "KubeError",
    "KubeForbidden",
    "KubeInvalid",
    "KubeNotFound",
    "KubeUnavailable",
    "OwnerReference",
    "RetryPolicy",
    "SecretSnapshot",
    "SecretVersion",
    "WorkloadKind",
]
