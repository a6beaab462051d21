"""Admission webhooks: the audit trail starts here (who creates, changes and
deletes AstraTokens) and one tenant is stopped from using another's org or role.

Kopf indexes keep the orgs and roles in memory from the watch streams, and the
token events keep which token holds which logical name (reconcile/holders.py),
so a review costs no API call (except a namespace's labels when an org selects
namespaces by label)."""

from __future__ import annotations

import contextlib
import functools
import inspect
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

import kopf

from astra_token_operator.kube import AccessRequest, KubeError
from astra_token_operator.models import AstraOrgSpec, AstraRoleSpec, AstraToken, effective_logical_name
from astra_token_operator.policy.admission_rules import (
    Holder,
    NamedOrg,
    NamedRole,
    abandon_problems,
    abandon_refusal,
    abandon_set,
    abandon_stamp,
    caller_mode_problems,
    cascade_requested,
    deletion_problems,
    finalizers_at_creation,
    labels_at_creation,
    org_problems,
    pod_token_problems,
    principal_json,
    request_changed,
    role_problems,
    token_create_problems,
    token_update_problems,
)
from astra_token_operator.policy.sidecar import (
    PodRequestProblem,
    creator_of,
    finished,
    injected_spec,
    read_request,
    request_problems,
    secret_name_for,
)
from astra_token_operator.policy.tenancy import namespace_verdict
from astra_token_operator.reconcile.dependents import tokens_using
from astra_token_operator.reconcile.finalize import remember_deleter
from astra_token_operator.reconcile.orgs import root_token_namespaces
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.records import Principal
from astra_token_operator.surface import (
    ABANDON_VERB,
    ANNOTATION_ABANDONED_BY,
    ANNOTATION_CREATED_BY,
    ANNOTATION_OWNED_BY_POD,
    ANNOTATION_REQUEST_ID,
    ANNOTATION_REQUESTED_BY,
    ANNOTATION_SIDECAR_SECRET,
    GROUP,
    LABEL_INJECT,
    LABEL_POD,
    ORG_PLURAL,
    ROLE_PLURAL,
    TOKEN_PLURAL,
    VERSION,
)

# Kopf passes each index as a keyword argument named after its id.
OrgIndex = Mapping[str, Iterable[dict[str, Any]]]
RoleIndex = Mapping[str, Iterable[dict[str, Any]]]
EMPTY: Mapping[Any, Any] = MappingProxyType({})
F = TypeVar("F", bound=Callable[..., Any])


@contextlib.contextmanager
def _verdict(memo: Any, webhook: str) -> Iterator[None]:
    """Tell the observer how a review ended: allowed, denied (a 4xx), or error (it could not decide)."""
    deps: Deps | None = memo.get("deps") if isinstance(memo, Mapping) else None
    try:
        yield
    except kopf.AdmissionError as exc:
        if deps is not None:
            deps.observer.admission(webhook, "denied" if (exc.code or 500) < 500 else "error")
        raise
    except Exception:
        if deps is not None:
            deps.observer.admission(webhook, "error")
        raise
    if deps is not None:
        deps.observer.admission(webhook, "allowed")


def counted(webhook: str) -> Callable[[F], F]:
    """Count each review's verdict (Kopf hands every handler its memo among the keyword arguments)."""
    def wrap(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with _verdict(kwargs.get("memo"), webhook):
                    return await fn(*args, **kwargs)
            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with _verdict(kwargs.get("memo"), webhook):
                return fn(*args, **kwargs)
        return run  # type: ignore[return-value]
    return wrap


# --- what the reviews need to know, kept current by the watch streams ---------------------------

@kopf.index(GROUP, VERSION, ORG_PLURAL, id="admission_orgs")
def index_orgs(name: str, spec: kopf.Spec, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: dict(spec)}


@kopf.index(GROUP, VERSION, ROLE_PLURAL, id="admission_roles")
def index_roles(name: str, spec: kopf.Spec, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: dict(spec)}


def _one(index: OrgIndex | RoleIndex, name: str) -> dict[str, Any] | None:
    store = index.get(name)
    return next(iter(store), None) if store else None


def _org(index: OrgIndex, name: str) -> NamedOrg | None:
    spec = _one(index, name)
    return NamedOrg(name, AstraOrgSpec.model_validate(spec)) if spec is not None else None


def _role(index: RoleIndex, name: str) -> NamedRole | None:
    spec = _one(index, name)
    return NamedRole(name, AstraRoleSpec.model_validate(spec)) if spec is not None else None


# An object applied a moment ago (kubectl apply -f examples/) may not have reached the
# index yet: before refusing "does not exist", ask the apiserver.

async def _fetch_org(deps: Deps, name: str) -> NamedOrg | None:
    found = await _fetch(deps, ORG_PLURAL, name)
    return NamedOrg(name, AstraOrgSpec.model_validate(found["spec"])) if found else None


async def _fetch_role(deps: Deps, name: str) -> NamedRole | None:
    found = await _fetch(deps, ROLE_PLURAL, name)
    return NamedRole(name, AstraRoleSpec.model_validate(found["spec"])) if found else None


async def _fetch(deps: Deps, plural: str, name: str) -> dict[str, Any] | None:
    try:
        return await deps.kube.get_object(plural, name)
    except KubeError as exc:
        raise kopf.AdmissionError(f"cannot look up {plural} {name!r} ({exc}); retry", code=503) from None


def _deny(problems: list[str]) -> None:
    if problems:
        # One sentence per problem; the apiserver shows this text to the kubectl user as is.
        raise kopf.AdmissionError(" ".join(problems), code=400)


def _token(body: kopf.Body | dict[str, Any]) -> AstraToken:
    return AstraToken.model_validate(dict(body))


# --- AstraToken ----------------------------------------------------------------------------------

@kopf.on.mutate(GROUP, VERSION, TOKEN_PLURAL, id="stamp-token", operations={"CREATE", "UPDATE"},
                persistent=True)
@counted("stamp-token")
def stamp_token(body: kopf.Body, userinfo: kopf.UserInfo, patch: kopf.Patch, memo: kopf.Memo, operation: str = "",
                old: Any = None, admission_orgs: OrgIndex = EMPTY, admission_roles: RoleIndex = EMPTY,
                **_: Any) -> None:
    """created-by on CREATE (whatever the client sent is replaced), with the finalizer and the
    lookup labels known already, so the operator need not write them itself; requested-by when a
    renew or revoke request is made, and abandoned-by when abandon is set, so the ledger can say
    who asked."""
    metadata = patch.setdefault("metadata", {})
    annotations = metadata.setdefault("annotations", {})
    new_annotations = dict(body.get("metadata", {}).get("annotations") or {})
    old_annotations = dict(((old or {}).get("metadata") or {}).get("annotations") or {})
    stamp = abandon_stamp(old_annotations if operation == "UPDATE" else {}, new_annotations,
                          principal_json(userinfo))
    if new_annotations.get(ANNOTATION_ABANDONED_BY) != stamp:
        annotations[ANNOTATION_ABANDONED_BY] = stamp  # who set abandon; None removes a forged one
    if operation == "CREATE":
        raw_annotations = dict((body.get("metadata") or {}).get("annotations") or {})
        if not (_from_operator(memo, userinfo) and ANNOTATION_OWNED_BY_POD in raw_annotations
                and ANNOTATION_CREATED_BY in raw_annotations):
            # (A pod's token made by the operator keeps the pod's creator, stamped on the pod.)
            annotations[ANNOTATION_CREATED_BY] = principal_json(userinfo)
        # The body is not validated yet (the schema runs after mutation): read it leniently, and
        # leave what it lacks to the schema's own messages.
        raw_meta, spec = dict(body.get("metadata") or {}), dict(body.get("spec") or {})
        metadata["finalizers"] = finalizers_at_creation([str(f) for f in raw_meta.get("finalizers") or []])
        org_ref, role_ref = spec.get("orgRef"), spec.get("roleRef")
        if isinstance(org_ref, str) and isinstance(role_ref, str):
            logical = spec.get("logicalName") if isinstance(spec.get("logicalName"), str) else None
            labels = labels_at_creation(org_ref, logical or str(raw_meta.get("name") or ""),
                                        _org(admission_orgs, org_ref),
                                        _role(admission_roles, role_ref))
            metadata["labels"] = {**dict(raw_meta.get("labels") or {}), **labels}
        return
    if request_changed(old_annotations, new_annotations):
        annotations[ANNOTATION_REQUESTED_BY] = str(userinfo.get("username", ""))
        annotations[ANNOTATION_REQUEST_ID] = secrets.token_hex(8)
        return
    for key in (ANNOTATION_REQUESTED_BY, ANNOTATION_REQUEST_ID):
        if key in new_annotations and new_annotations[key] != old_annotations.get(key):
            # Not forgeable: only a request sets it (removing it, as the operator does when done, is fine).
            annotations[key] = old_annotations.get(key)


@kopf.on.validate(GROUP, VERSION, TOKEN_PLURAL, id="validate-token", operations={"CREATE", "UPDATE"},
                  persistent=True)
@counted("validate-token")
async def validate_token(body: kopf.Body, memo: kopf.Memo, userinfo: kopf.UserInfo, operation: str = "",
                         old: Any = None, admission_orgs: OrgIndex = EMPTY, admission_roles: RoleIndex = EMPTY,
                         **_: Any) -> None:
    token = _token(body)
    deps: Deps = memo.deps
    requester = str(userinfo.get("username", ""))
    if operation == "UPDATE" and old:
        _deny(pod_token_problems(_token(old), operation, requester, deps.runtime.identity, changed=token))
    else:
        _deny(pod_token_problems(token, operation, requester, deps.runtime.identity))
    role = _role(admission_roles, token.spec.role_ref) or await _fetch_role(deps, token.spec.role_ref)
    old_annotations = _token(old).metadata.annotations if operation == "UPDATE" and old else {}
    _deny(abandon_problems(token.metadata.annotations))
    if abandon_set(old_annotations, token.metadata.annotations):
        await _may_abandon(deps, userinfo, token.metadata.namespace or "", token.metadata.name)
    if operation == "UPDATE" and old:
        _deny(token_update_problems(_token(old), token, role=role))
        return
    org = _org(admission_orgs, token.spec.org_ref) or await _fetch_org(deps, token.spec.org_ref)
    labels = None
    if org is not None and org.spec.namespace_selector is not None:
        try:
            labels = await deps.kube.namespace_labels(token.metadata.namespace or "")
        except KubeError as exc:
            raise kopf.AdmissionError(f"cannot read the namespace's labels to check AstraOrg "
                                      f"{org.name!r} namespaceSelector ({exc}); retry", code=503) from None
    logical = effective_logical_name(token.spec, token.metadata.name)
    holders = deps.runtime.holders.holding((token.spec.org_ref, token.spec.role_ref, logical))
    _deny(token_create_problems(token, org=org, role=role, namespace_labels=labels, holders=holders))


@kopf.on.validate(GROUP, VERSION, TOKEN_PLURAL, id="keep-pod-token", operations={"DELETE"}, persistent=True,
                  labels={LABEL_POD: kopf.PRESENT})
@counted("keep-pod-token")
async def keep_pod_token(userinfo: kopf.UserInfo, memo: kopf.Memo, body: kopf.Body, old: Any = None,
                         **_: Any) -> None:
    """A pod's AstraToken goes with its pod: while the pod runs, only the operator deletes it (garbage
    collection and namespace deletion come once the pod is gone or going)."""
    deps: Deps = memo.deps
    deleted = dict(old or body)
    if _from_operator(memo, userinfo):
        return
    meta = deleted.get("metadata") or {}
    pod_name = (meta.get("labels") or {}).get(LABEL_POD, "")
    try:
        pod = await deps.kube.read_pod(str(meta.get("namespace")), pod_name)
    except KubeError as exc:
        raise kopf.AdmissionError(f"cannot look up pod {pod_name!r} ({exc}); retry", code=503) from None
    if pod is not None and not (pod.get("metadata") or {}).get("deletionTimestamp") and not finished(pod):
        _deny([f"AstraToken {meta.get('name')} is pod {pod_name}'s token (sidecar mode): it is revoked when the "
               "pod ends; delete the pod instead"])


def _from_operator(memo: kopf.Memo, userinfo: kopf.UserInfo) -> bool:
    identity = memo.deps.runtime.identity
    return bool(identity) and userinfo.get("username") == identity


async def _may_abandon(deps: Deps, userinfo: kopf.UserInfo, namespace: str, name: str) -> None:
    """Abandoning is a permission of its own (the verb "abandon" on astratokens), which RBAC grants
    and the apiserver never checks itself: ask it with a SubjectAccessReview."""
    username = str(userinfo.get("username", ""))
    extra: Mapping[str, Iterable[str]] = userinfo.get("extra") or {}  # type: ignore[assignment]
    request = AccessRequest(
        username=username, uid=str(userinfo.get("uid", "")), groups=[str(g) for g in userinfo.get("groups") or []],
        extra={str(key): [str(v) for v in values] for key, values in extra.items()},
        verb=ABANDON_VERB, group=GROUP, resource=TOKEN_PLURAL, namespace=namespace, name=name or None)
    try:
        verdict = await deps.kube.review_access(request)
    except KubeError as exc:
        raise kopf.AdmissionError(f"cannot check the permission to abandon AstraTokens ({exc}); retry",
                                  code=503) from None
    if not verdict.allowed:
        raise kopf.AdmissionError(abandon_refusal(username, namespace, verdict.reason), code=403)


@kopf.on.validate(GROUP, VERSION, TOKEN_PLURAL, id="record-deleter", operations={"DELETE"}, persistent=True,
                  ignore_failures=True)
@counted("record-deleter")
async def record_deleter(body: kopf.Body, userinfo: kopf.UserInfo, dryrun: bool, memo: kopf.Memo,
                         old: Any = None, **_: Any) -> None:
    """Remember who deleted the AstraToken: the finalizer writes it into the ledger
    as revokedBy. Never blocks a deletion (an unrevoked token would be worse)."""
    if dryrun:
        return
    deleted = old or body
    uid = str((deleted.get("metadata") or {}).get("uid") or "")
    if not uid:
        return
    who = Principal(username=str(userinfo.get("username", "")), uid=str(userinfo.get("uid", "")),
                    groups=[str(g) for g in userinfo.get("groups") or []])
    await remember_deleter(memo.deps, uid, who)


# --- pods in sidecar mode -------------------------------------------------------------------------

@kopf.on.mutate("v1", "pods", id="inject-pod", operations={"CREATE"}, persistent=True,
                labels={LABEL_INJECT: "true"})
@counted("inject-pod")
async def inject_pod(body: kopf.Body, userinfo: kopf.UserInfo, patch: kopf.Patch, memo: kopf.Memo,
                     admission_orgs: OrgIndex = EMPTY, admission_roles: RoleIndex = EMPTY, **_: Any) -> None:
    """A pod labelled astra-tokens.io/inject=true asks for a token of its own: check what it asks
    (policy/sidecar.py), name its Secret, mount it. The objectSelector sends only labelled pods here."""
    deps: Deps = memo.deps
    pod = dict(body)
    meta = pod.get("metadata") or {}
    namespace = str(meta.get("namespace") or "")
    try:
        request = read_request(meta.get("annotations") or {})
    except PodRequestProblem as problem:
        raise kopf.AdmissionError(str(problem), code=400) from None
    role = _role(admission_roles, request.role) or await _fetch_role(deps, request.role)
    org = None
    if role is not None:
        org = _org(admission_orgs, role.spec.org_ref) or await _fetch_org(deps, role.spec.org_ref)
    problems = request_problems(pod, request, role.spec if role else None, request.role,
                                None if org is None else org.spec.caller_mode == "sidecar")
    if org is not None and role is not None:
        labels = None
        if org.spec.namespace_selector is not None:
            try:
                labels = await deps.kube.namespace_labels(namespace)
            except KubeError as exc:
                raise kopf.AdmissionError(f"cannot read the namespace's labels ({exc}); retry", code=503) from None
        verdict = namespace_verdict(namespace, labels, org_name=org.name, org_allowed=org.spec.allowed_namespaces,
                                    org_selector=org.spec.namespace_selector, role_name=role.name,
                                    role_allowed=role.spec.allowed_namespaces)
        if not verdict.allowed:
            problems.append(verdict.reason)
    _deny(problems)
    secret = secret_name_for(str(meta.get("name") or ""), str(meta.get("generateName") or ""), secrets.token_hex(5))
    patch.setdefault("metadata", {}).setdefault("annotations", {}).update(
        {ANNOTATION_SIDECAR_SECRET: secret, ANNOTATION_CREATED_BY: creator_of(userinfo)})
    patch.setdefault("spec", {}).update(injected_spec(pod, request, secret))


@kopf.on.validate("v1", "pods", id="record-pod-deleter", operations={"DELETE"}, persistent=True,
                  ignore_failures=True, labels={LABEL_INJECT: "true"})
@counted("record-pod-deleter")
async def record_pod_deleter(body: kopf.Body, userinfo: kopf.UserInfo, dryrun: bool, memo: kopf.Memo,
                             old: Any = None, **_: Any) -> None:
    """Remember who deleted a pod with a token: its AstraToken goes by garbage collection, and the
    finalizer writes the pod's deleter into the ledger as revokedBy. Never blocks a deletion."""
    uid = str(((old or body).get("metadata") or {}).get("uid") or "")
    if uid and not dryrun:
        who = Principal(username=str(userinfo.get("username", "")), uid=str(userinfo.get("uid", "")),
                        groups=[str(g) for g in userinfo.get("groups") or []])
        await remember_deleter(memo.deps, uid, who)


# --- AstraOrg and AstraRole ----------------------------------------------------------------------

@kopf.on.validate(GROUP, VERSION, ORG_PLURAL, id="validate-org", operations={"CREATE", "UPDATE"},
                  persistent=True)
@counted("validate-org")
async def validate_org(name: str, spec: kopf.Spec, memo: kopf.Memo, operation: str = "", old: Any = None,
                       admission_orgs: OrgIndex = EMPTY, **_: Any) -> None:
    others = [org for other in admission_orgs if (org := _org(admission_orgs, other)) is not None]
    new_spec = AstraOrgSpec.model_validate(dict(spec))
    _deny(org_problems(name, new_spec, others=others, root_token_namespaces=root_token_namespaces(memo.deps)))
    if operation == "UPDATE" and old:
        old_spec = AstraOrgSpec.model_validate(dict(old.get("spec") or {}))
        if old_spec.caller_mode != new_spec.caller_mode:
            _deny(caller_mode_problems(name, old_spec, new_spec, await _users(memo.deps, org=name)))


@kopf.on.validate(GROUP, VERSION, ROLE_PLURAL, id="validate-role", operations={"CREATE", "UPDATE"},
                  persistent=True)
@counted("validate-role")
def validate_role(name: str, spec: kopf.Spec, admission_roles: RoleIndex = EMPTY, **_: Any) -> None:
    others = [role for other in admission_roles if (role := _role(admission_roles, other)) is not None]
    _deny(role_problems(name, AstraRoleSpec.model_validate(dict(spec)), others=others))


# --- deleting an AstraOrg or AstraRole: never while AstraTokens use it ---------------------------------

async def _users(deps: Deps, *, org: str | None = None, role: str | None = None) -> list[Holder]:
    try:
        return await tokens_using(deps, org=org, role=role)
    except KubeError as exc:
        raise kopf.AdmissionError(f"cannot list the AstraTokens that use it ({exc}); retry", code=503) from None


def _deleted(body: kopf.Body, old: Any) -> tuple[str, dict[str, str]]:
    metadata = dict((old or body).get("metadata") or {})
    return str(metadata.get("name") or ""), {str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()}


@kopf.on.validate(GROUP, VERSION, ORG_PLURAL, id="guard-org-deletion", operations={"DELETE"}, persistent=True)
@counted("guard-org-deletion")
async def guard_org_deletion(body: kopf.Body, memo: kopf.Memo, old: Any = None, **_: Any) -> None:
    """Refused while AstraTokens use the org, naming how many and which, unless it asks for a cascade."""
    name, annotations = _deleted(body, old)
    _deny(deletion_problems("AstraOrg", name, await _users(memo.deps, org=name),
                            cascade=cascade_requested(annotations)))


@kopf.on.validate(GROUP, VERSION, ROLE_PLURAL, id="guard-role-deletion", operations={"DELETE"}, persistent=True)
@counted("guard-role-deletion")
async def guard_role_deletion(body: kopf.Body, memo: kopf.Memo, old: Any = None, **_: Any) -> None:
    name, annotations = _deleted(body, old)
    _deny(deletion_problems("AstraRole", name, await _users(memo.deps, role=name),
                            cascade=cascade_requested(annotations)))
