"""Admission rules that need state the CRD schema cannot see: pure functions
from the object under review and what the operator knows, to the problems
found. Each problem is one sentence a kubectl user understands, saying what
is wrong and how to fix it. The schema (CEL) already refuses what it can."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from astra_token_operator.durations import DurationError, parse_duration
from astra_token_operator.models import (
    AstraOrgSpec,
    AstraRoleSpec,
    AstraToken,
    effective_role_name,
)
from astra_token_operator.policy import secret_template
from astra_token_operator.policy.secret_template import Preset, SecretShape
from astra_token_operator.policy.tenancy import matches_any, namespace_verdict
from astra_token_operator.surface import (
    ABANDON_VERB,
    ANNOTATION_ABANDON,
    ANNOTATION_ABANDONED_BY,
    ANNOTATION_CASCADE,
    ANNOTATION_CREATED_BY,
    ANNOTATION_OWNED_BY_POD,
    ANNOTATION_RENEW,
    ANNOTATION_REQUEST_ID,
    ANNOTATION_REQUESTED_BY,
    ANNOTATION_REVOKE,
    ANNOTATION_ROTATE,
    FINALIZER,
    GROUP,
    LABEL_LOGICAL_NAME,
    LABEL_ORG,
    LABEL_ORG_ID,
    LABEL_ROLE,
    REQUEST_ANNOTATIONS,
    TOKEN_PLURAL,
)

# A rotation id: "now", or one shared by tokens rotated together (it becomes their workloads' restart stamp).
ROTATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,63}$")


@dataclass(frozen=True)
class Holder:
    """An AstraToken holding an (org, role, logical name)."""

    namespace: str
    name: str
    uid: str
    deleting: bool = False


@dataclass(frozen=True)
class NamedOrg:
    name: str
    spec: AstraOrgSpec


@dataclass(frozen=True)
class NamedRole:
    name: str
    spec: AstraRoleSpec

    @property
    def role_name(self) -> str:
        return effective_role_name(self.spec, self.name)


def principal_json(userinfo: Mapping[str, Any]) -> str:
    """The created-by annotation: who the apiserver says made the request."""
    return json.dumps({
        "username": str(userinfo.get("username", "")),
        "uid": str(userinfo.get("uid", "")),
        "groups": [str(group) for group in userinfo.get("groups") or []],
    }, separators=(",", ":"), sort_keys=True)


def token_create_problems(
    token: AstraToken,
    *,
    org: NamedOrg | None,
    role: NamedRole | None,
    namespace_labels: Mapping[str, str] | None,
    holders: Iterable[Holder],
) -> list[str]:
    namespace = token.metadata.namespace or ""
    spec = token.spec
    if org is None:
        return [f"AstraOrg {spec.org_ref!r} does not exist; set spec.orgRef to an existing AstraOrg "
                "(kubectl get astraorgs)"]
    problems: list[str] = []
    if org.spec.caller_mode == "sidecar" and ANNOTATION_OWNED_BY_POD not in token.metadata.annotations:
        problems.append(f"AstraOrg {org.name!r} is in sidecar mode, which issues one token per pod and refuses "
                        "AstraTokens; annotate your pods instead (label astra-tokens.io/inject=true, annotation "
                        "astra-tokens.io/role)")
    if role is None:
        problems.append(f"AstraRole {spec.role_ref!r} does not exist; set spec.roleRef to an existing AstraRole "
                        "(kubectl get astraroles)")
        return problems
    if role.spec.org_ref != org.name:
        problems.append(f"AstraRole {role.name!r} belongs to AstraOrg {role.spec.org_ref!r}, not {org.name!r}; "
                        "use a role of the same org")
    verdict = namespace_verdict(
        namespace, namespace_labels, org_name=org.name, org_allowed=org.spec.allowed_namespaces,
        org_selector=org.spec.namespace_selector, role_name=role.name, role_allowed=role.spec.allowed_namespaces)
    if not verdict.allowed:
        problems.append(verdict.reason)
    problems.extend(ttl_problems(token, role))
    problems.extend(template_problems(token))
    logical = token.logical_name
    for holder in holders:
        if holder.uid == token.metadata.uid:
            continue
        if holder.deleting:
            problems.append(f"logical name {logical!r} for AstraRole {role.name!r} is still held by AstraToken "
                            f"{holder.namespace}/{holder.name}, which is being deleted; retry once it is gone")
        else:
            problems.append(f"logical name {logical!r} for AstraRole {role.name!r} in AstraOrg {org.name!r} is "
                            f"already used by AstraToken {holder.namespace}/{holder.name}; choose another "
                            "spec.logicalName")
        break
    return problems


def ttl_problems(token: AstraToken, role: NamedRole) -> list[str]:
    if token.spec.ttl is None:
        return []
    ttl, max_ttl = parse_duration(token.spec.ttl), role.spec.max_ttl_delta
    if ttl > max_ttl:
        return [f"spec.ttl {token.spec.ttl} is longer than AstraRole {role.name!r} maxTtl {role.spec.max_ttl}; "
                "lower spec.ttl or ask for a role with a longer maxTtl"]
    return []


def token_update_problems(old: AstraToken, new: AstraToken, *, role: NamedRole | None) -> list[str]:
    problems: list[str] = []
    old_creator = old.metadata.annotations.get(ANNOTATION_CREATED_BY)
    if new.metadata.annotations.get(ANNOTATION_CREATED_BY) != old_creator:
        problems.append(f"annotation {ANNOTATION_CREATED_BY} records who created this AstraToken and cannot be "
                        "changed or removed; leave it as it is")
    if role is not None and new.spec.ttl != old.spec.ttl:
        problems.extend(ttl_problems(new, role))
    if new.spec.secret.template != old.spec.secret.template or new.spec.metadata != old.spec.metadata:
        problems.extend(template_problems(new))
    problems.extend(request_problems(new.metadata.annotations))
    return problems


def template_problems(token: AstraToken) -> list[str]:
    """A Secret template that fails to render, names an unknown field or makes an invalid key (tried
    with sample values and the token's own metadata: nothing is minted for a template that cannot work)."""
    template = token.spec.secret.template
    if template is None:
        return []
    return secret_template.problems(SecretShape(preset=Preset(template.preset), data=dict(template.data)),
                                    token.spec.metadata)


def request_problems(annotations: Mapping[str, str]) -> list[str]:
    """The renew, revoke and rotate requests a user makes by annotating an AstraToken."""
    problems: list[str] = []
    increment = annotations.get(ANNOTATION_RENEW)
    if increment is not None:
        try:
            if parse_duration(increment).total_seconds() <= 0:
                raise DurationError("zero")
        except DurationError:
            problems.append(f"{ANNOTATION_RENEW}={increment!r} is not an increment; use a positive duration such "
                            "as 1h, 30m or 3600")
    revoke = annotations.get(ANNOTATION_REVOKE)
    if revoke is not None and revoke != "now":
        problems.append(f"{ANNOTATION_REVOKE}={revoke!r} is not understood; the only value is \"now\"")
    rotation = annotations.get(ANNOTATION_ROTATE)
    if rotation is not None and not ROTATION_ID.match(rotation):
        problems.append(f"{ANNOTATION_ROTATE}={rotation!r} is not a rotation id; use \"now\", or an id of letters, "
                        "digits, '.', '_', ':' or '-' (at most 63) shared by the tokens you rotate together")
    return problems


def abandon_set(old: Mapping[str, str], new: Mapping[str, str]) -> bool:
    """This request sets astra-tokens.io/abandon (adds it, or changes its value): the one change that
    needs the abandon permission. Removing it needs none (the token is then revoked as usual)."""
    value = new.get(ANNOTATION_ABANDON)
    return value is not None and value != old.get(ANNOTATION_ABANDON)


def abandon_problems(annotations: Mapping[str, str]) -> list[str]:
    value = annotations.get(ANNOTATION_ABANDON)
    if value is not None and value != "true":
        return [f"{ANNOTATION_ABANDON}={value!r} is not understood; the only value is \"true\" (remove the annotation "
                "to have the token revoked on deletion, as usual)"]
    return []


ABANDON_PERMISSION = f"verb {ABANDON_VERB!r} on {TOKEN_PLURAL}.{GROUP}"


def abandon_refusal(username: str, namespace: str, reason: str = "") -> str:
    """Why setting abandon was refused: the permission it takes, and how to get it."""
    why = f" ({reason})" if reason else ""
    return (f"setting {ANNOTATION_ABANDON} releases the token without revoking it in Astra, which needs the "
            f"permission to abandon AstraTokens ({ABANDON_PERMISSION}) in namespace {namespace!r}, and user "
            f"{username!r} does not have it{why}. Delete the AstraToken without the annotation to revoke its "
            "token, or ask a cluster administrator for that verb (docs/security.md, \"Abandoning a token\")")


def abandon_stamp(old: Mapping[str, str], new: Mapping[str, str], requester: str) -> str | None:
    """What astra-tokens.io/abandoned-by must hold after this request: who set abandon (JSON), kept
    while abandon stays, gone with it. Nobody can write it by hand."""
    if ANNOTATION_ABANDON not in new:
        return None
    if abandon_set(old, new):
        return requester
    return old.get(ANNOTATION_ABANDONED_BY)


def request_changed(old: Mapping[str, str], new: Mapping[str, str]) -> bool:
    """A renew, revoke or rotate request was added or changed by this update."""
    return any(new.get(key) is not None and new.get(key) != old.get(key) for key in REQUEST_ANNOTATIONS)


def org_problems(name: str, spec: AstraOrgSpec, *, others: Sequence[NamedOrg],
                 root_token_namespaces: Sequence[str]) -> list[str]:
    problems: list[str] = []
    secret = spec.root_token_ref.secret
    if secret is not None and not matches_any(secret.namespace, root_token_namespaces):
        problems.append(f"the root token Secret must live in the operator's namespace {list(root_token_namespaces)}, "
                        f"not in {secret.namespace!r}: tenant namespaces never hold root tokens; move the Secret")
    for other in others:
        if other.name == name:
            continue
        if other.spec.org_id == spec.org_id:
            problems.append(f"AstraOrg {other.name!r} already manages orgId {spec.org_id}; one AstraOrg per Astra "
                            "organization (edit that one instead)")
        if spec.logical_name and other.spec.logical_name == spec.logical_name:
            problems.append(f"logicalName {spec.logical_name!r} is already used by AstraOrg {other.name!r}; "
                            "choose another logicalName")
    return problems


def role_problems(name: str, spec: AstraRoleSpec, *, others: Sequence[NamedRole]) -> list[str]:
    role_name = effective_role_name(spec, name)
    for other in others:
        if other.name != name and other.spec.org_ref == spec.org_ref and other.role_name == role_name:
            return [f"roleName {role_name!r} is already used in AstraOrg {spec.org_ref!r} by AstraRole "
                    f"{other.name!r}; set spec.roleName to another name"]
    return []


def finalizers_at_creation(finalizers: Sequence[str]) -> list[str]:
    """The revoking finalizer, set as the AstraToken is created (the operator would add it with a
    write of its own, through both webhooks, a moment later)."""
    return [*finalizers, FINALIZER] if FINALIZER not in finalizers else list(finalizers)


def labels_at_creation(org_ref: str, logical_name: str, org: NamedOrg | None, role: NamedRole | None
                       ) -> dict[str, str]:
    """The lookup labels known when the AstraToken is created (its client id comes with its mint):
    whatever the client sent under these keys is replaced."""
    labels = {LABEL_ORG: org_ref, LABEL_LOGICAL_NAME: logical_name.lower()}
    if org is not None:
        labels[LABEL_ORG_ID] = org.spec.org_id
    if role is not None and role.spec.org_ref == org_ref:
        labels[LABEL_ROLE] = role.role_name
    # A value Kubernetes would refuse as a label is left for the operator to skip: never fail a create.
    return {key: value for key, value in labels.items() if _LABEL_VALUE.fullmatch(value)}


_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")


# What anyone allowed to annotate a pod's AstraToken may ask of it: a renewal or an (emergency) rotation.
_POD_TOKEN_REQUESTS = frozenset({ANNOTATION_RENEW, ANNOTATION_ROTATE, ANNOTATION_REQUESTED_BY,
                                 ANNOTATION_REQUEST_ID})


def pod_token_problems(token: AstraToken, operation: str, requester: str, operator: str,
                       changed: AstraToken | None = None) -> list[str]:
    """Sidecar mode's per-pod AstraTokens are the operator's own (a pod's token comes and goes with
    the pod): nobody else creates them, and an update by anyone else (``changed``, the token as
    updated) may only ask for a renewal or a rotation."""
    if ANNOTATION_OWNED_BY_POD not in token.metadata.annotations or (operator and requester == operator):
        return []
    if operation == "CREATE":
        return [f"AstraTokens annotated {ANNOTATION_OWNED_BY_POD} are made by the operator for pods in sidecar "
                "mode; label your pod astra-tokens.io/inject=true instead"]
    if changed is not None and _only_requests_changed(token, changed):
        return []
    return [f"AstraToken {token.metadata.name} belongs to a pod (sidecar mode): only the operator changes it, "
            f"others may only ask for a renewal ({ANNOTATION_RENEW}) or a rotation ({ANNOTATION_ROTATE}); "
            "change or delete the pod instead"]


def _only_requests_changed(old: AstraToken, new: AstraToken) -> bool:
    before, after = old.metadata.annotations, new.metadata.annotations
    touched = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    return touched <= _POD_TOKEN_REQUESTS and old.spec == new.spec and old.metadata.labels == new.metadata.labels


# --- deleting an AstraOrg or AstraRole, switching an org's callerMode --------------------------------

LISTED_USERS = 10  # names a message lists before it says "and N more"


def users_text(users: Sequence[Holder]) -> str:
    """"3 AstraTokens (team-a/app, team-a/db, team-b/app)": how many, and which."""
    names = sorted(f"{u.namespace}/{u.name}" for u in users)
    shown = ", ".join(names[:LISTED_USERS]) + (f" and {len(names) - LISTED_USERS} more" if len(names) > LISTED_USERS
                                               else "")
    return f"{len(names)} AstraToken{'s' if len(names) != 1 else ''} ({shown})"


def cascade_requested(annotations: Mapping[str, str]) -> bool:
    return annotations.get(ANNOTATION_CASCADE) == "true"


def deletion_problems(kind: str, name: str, users: Sequence[Holder], *, cascade: bool) -> list[str]:
    """Deleting an AstraOrg or AstraRole that AstraTokens use would strand their Astra tokens
    (nothing could revoke them): refused, unless the cascade annotation asks for those AstraTokens
    to be deleted (and their tokens revoked) first."""
    if not users or cascade:
        return []
    return [f"{kind} {name!r} is used by {users_text(users)}: deleting it would leave their Astra tokens valid "
            "with nothing to revoke them. Delete those AstraTokens first (each is revoked in Astra), or annotate "
            f"the {kind} {ANNOTATION_CASCADE}=true to have deleting it delete them, revoking every token first"]


def caller_mode_problems(name: str, old: AstraOrgSpec, new: AstraOrgSpec, users: Sequence[Holder]) -> list[str]:
    """callerMode may change only while no AstraToken uses the org: to sidecar it would freeze their
    renewals and rotations; back to standard it would revoke and replace them all at once."""
    if old.caller_mode == new.caller_mode or not users:
        return []
    return [f"callerMode cannot change from {old.caller_mode} to {new.caller_mode} while {users_text(users)} use "
            f"AstraOrg {name!r}: their tokens would stop being renewed (or all be replaced at once). Delete those "
            "AstraTokens first (each is revoked in Astra), then change callerMode"]


# --- which AstraToken updates reach the webhooks ----------------------------------------------------

# The AstraToken webhooks judge an UPDATE by its spec and annotations only (token_update_problems,
# abandon_problems, the request and abandon stamps): an update that changes neither (a label, a
# finalizer; the operator's own client-id label after each mint) would be answered with nothing to
# say. The apiserver skips them for these conditions (CEL, matchConditions), so no such write waits
# for the operator's event loop or costs it a review. A pod's own AstraToken (sidecar mode) is the
# exception: every update of it is judged (pod_token_problems), labels included, since its pod
# label is what keeps it from being deleted while the pod runs.
SPEC_OR_ANNOTATIONS_CHANGED = (
    "request.operation != 'UPDATE' || object.spec != oldObject.spec"
    " || (has(object.metadata.annotations) ? object.metadata.annotations : {})"
    " != (has(oldObject.metadata.annotations) ? oldObject.metadata.annotations : {})"
    f" || (has(oldObject.metadata.annotations) && '{ANNOTATION_OWNED_BY_POD}' in oldObject.metadata.annotations)")
TOKEN_REVIEWS = frozenset({"stamp-token", "validate-token"})  # the handler ids of those webhooks


def with_match_conditions(webhooks: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The webhooks of a configuration (named ``<handler id>.<configuration>``), with the AstraToken
    reviews limited to creations and to updates that change the spec or the annotations."""
    condition = {"name": "spec-or-annotations-changed", "expression": SPEC_OR_ANNOTATIONS_CHANGED}
    return [{**webhook, "matchConditions": [condition]} if str(webhook.get("name", "")).split(".")[0] in TOKEN_REVIEWS
            else dict(webhook) for webhook in webhooks]
