"""Sidecar mode: each labelled pod gets an AstraToken of its own, made by the
operator, owned by the pod (the pod's deletion garbage-collects it and its
finalizer revokes the token), deleted as soon as the pod has finished (a
finished Job pod can linger for days). The token pass then mints, renews and
rotates it like any other."""

from __future__ import annotations

from typing import Any

from astra_token_operator.kube import KubeAlreadyExists, KubeNotFound
from astra_token_operator.lifecycle_log import log_action, warn_action
from astra_token_operator.policy.sidecar import PodRequestProblem, finished, read_request, token_for_pod
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.surface import ANNOTATION_CREATED_BY, ANNOTATION_SIDECAR_SECRET, TOKEN_PLURAL


async def reconcile_pod(deps: Deps, pod: dict[str, Any], event: str | None) -> None:
    """One event of a labelled pod (``event`` None: seen in the start-up listing)."""
    meta = pod.get("metadata") or {}
    uid, namespace = str(meta.get("uid")), str(meta.get("namespace"))
    annotations = meta.get("annotations") or {}
    token_name = annotations.get(ANNOTATION_SIDECAR_SECRET)
    where = {"namespace": namespace, "name": meta.get("name")}
    if event == "DELETED" or token_name is None:  # gone: garbage collection takes its token
        deps.runtime.pods_with_tokens.discard(uid)
        return
    if finished(pod):
        if await deps.kube.delete_object(TOKEN_PLURAL, token_name, namespace):
            log_action("pod-finished", message=f"AstraToken {token_name} deleted: its token is revoked", **where)
        deps.runtime.pods_with_tokens.discard(uid)
        return
    if uid in deps.runtime.pods_with_tokens:
        return
    try:
        request = read_request(annotations)
    except PodRequestProblem as problem:  # refused at admission; an older pod may still have it
        warn_action("pod-token", message=str(problem), **where)
        return
    role = deps.runtime.verified.role(request.role)
    if role is None:
        return  # not verified yet: the pod is seen again (its status moves, or the next listing)
    body = token_for_pod(pod, request, org=role.org_ref, created_by=annotations.get(ANNOTATION_CREATED_BY))
    try:
        await deps.kube.create_object(TOKEN_PLURAL, body, namespace)
        log_action("pod-token", message=f"AstraToken {token_name} made for the pod", **where)
    except KubeAlreadyExists:
        pass
    except KubeNotFound:  # the namespace is going away
        return
    deps.runtime.pods_with_tokens.add(uid)
