"""Sidecar mode: each labelled pod gets an AstraToken of its own, made by the
operator and owned by the pod, deleted (its finalizer revokes the token) as soon
as the pod is gone or has finished. The token pass mints, renews and rotates it
like any other."""

from __future__ import annotations

from typing import Any

from astra_token_operator.kube import KubeAlreadyExists, KubeNotFound
from astra_token_operator.lifecycle_log import log_action, warn_action
from astra_token_operator.policy.sidecar import PodRequestProblem, finished, read_request, token_for_pod
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.surface import ANNOTATION_CREATED_BY, ANNOTATION_SIDECAR_SECRET, ROLE_PLURAL, TOKEN_PLURAL


async def reconcile_pod(deps: Deps, pod: dict[str, Any], event: str | None) -> None:
    """One event of a labelled pod (``event`` None: seen in the start-up listing)."""
    meta = pod.get("metadata") or {}
    uid, namespace = str(meta.get("uid")), str(meta.get("namespace"))
    annotations = meta.get("annotations") or {}
    token_name = annotations.get(ANNOTATION_SIDECAR_SECRET)
    where = {"namespace": namespace, "name": meta.get("name")}
    if token_name is None:
        return
    # Gone, or finished (a finished Job pod can linger for days): its token goes now. Garbage
    # collection would take a gone pod's AstraToken too, but only once it has noticed.
    if event == "DELETED" or finished(pod):
        if await deps.kube.delete_object(TOKEN_PLURAL, token_name, namespace):
            why = "gone" if event == "DELETED" else "finished"
            log_action("pod-ended", message=f"pod {why}: AstraToken {token_name} deleted, its token revoked", **where)
        deps.runtime.pods_with_tokens.discard(uid)
        return
    if uid in deps.runtime.pods_with_tokens:
        return
    try:
        request = read_request(annotations)
    except PodRequestProblem as problem:  # refused at admission; an older pod may still have it
        warn_action("pod-token", message=str(problem), **where)
        return
    org = await _org_of_role(deps, request.role)
    if org is None:  # admitted, then its AstraRole was deleted: the pod waits for its Secret
        warn_action("pod-token", message=f"AstraRole {request.role!r} does not exist; no token for the pod", **where)
        return
    body = token_for_pod(pod, request, org=org, created_by=annotations.get(ANNOTATION_CREATED_BY))
    try:
        await deps.kube.create_object(TOKEN_PLURAL, body, namespace)
        log_action("pod-token", message=f"AstraToken {token_name} made for the pod", **where)
    except KubeAlreadyExists:
        pass
    except KubeNotFound:  # the namespace is going away
        return
    deps.runtime.pods_with_tokens.add(uid)


async def _org_of_role(deps: Deps, role_name: str) -> str | None:
    """The role's orgRef: as verified, else as written (the token pass waits for verification; the
    pod's token need not)."""
    verified = deps.runtime.verified.role(role_name)
    if verified is not None:
        return verified.org_ref
    role = await deps.kube.get_object(ROLE_PLURAL, role_name)
    org = ((role or {}).get("spec") or {}).get("orgRef")
    return str(org) if org else None
