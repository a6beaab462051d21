"""Everything a token's reconciliation needs to know, resolved once per pass
from the AstraToken and the directory; a missing piece becomes Blocked."""

from __future__ import annotations

import json
from dataclasses import dataclass

from astra_token_operator.astra import AstraClient
from astra_token_operator.models import AstraToken
from astra_token_operator.policy.leases import LeaseError, RenewalPolicy, renewal_policy
from astra_token_operator.policy.tenancy import namespace_verdict
from astra_token_operator.reconcile.errors import Blocked
from astra_token_operator.reconcile.verified import OrgState, Presence, RoleState
from astra_token_operator.records import OwnerRef, Principal
from astra_token_operator.services import Services
from astra_token_operator.surface import (
    ANNOTATION_CREATED_BY,
    ANNOTATION_OWNED_BY_POD,
    OrgReason,
    RoleReason,
    TokenReason,
)


@dataclass(frozen=True)
class TokenContext:
    token: AstraToken
    org: OrgState
    role: RoleState
    policy: RenewalPolicy
    client: AstraClient

    @property
    def namespace(self) -> str:
        assert self.token.metadata.namespace is not None
        return self.token.metadata.namespace

    @property
    def name(self) -> str:
        return self.token.metadata.name

    @property
    def uid(self) -> str:
        assert self.token.metadata.uid is not None
        return self.token.metadata.uid

    @property
    def logical_name(self) -> str:
        return self.token.logical_name

    @property
    def owner(self) -> OwnerRef:
        return OwnerRef(kind="AstraToken", namespace=self.namespace, name=self.name, uid=self.uid)

    @property
    def log_fields(self) -> dict[str, str]:
        return {"org": self.org.org_id, "role": self.role.role_name, "logical_name": self.logical_name,
                "namespace": self.namespace, "name": self.name}


def created_by(token: AstraToken) -> Principal | None:
    """Who created the AstraToken, as the admission webhook stamped it."""
    raw = token.metadata.annotations.get(ANNOTATION_CREATED_BY)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return Principal(username=str(data.get("username", "")), uid=str(data.get("uid", "")),
                         groups=[str(g) for g in data.get("groups", [])])
    except (ValueError, AttributeError, TypeError):
        return None


async def resolve_context(services: Services, token: AstraToken) -> TokenContext:
    spec = token.spec
    org = services.directory.org(spec.org_ref)
    if org is None:
        if services.directory.org_presence(spec.org_ref) is Presence.PENDING:
            # Just started, or the org was just created: its first verification is under way and
            # wakes this token. Nothing to report meanwhile.
            raise Blocked(TokenReason.ORG_NOT_READY, f"AstraOrg {spec.org_ref!r} is not verified yet",
                          retry_after=30, quiet=True)
        raise Blocked(TokenReason.ORG_NOT_READY, f"AstraOrg {spec.org_ref!r} does not exist; create it or "
                                                 "fix spec.orgRef", retry_after=30, warning=False)
    if not org.ready or org.root_token is None or org.client_settings is None:
        raise Blocked(TokenReason.ORG_NOT_READY, f"AstraOrg {spec.org_ref!r} is not Ready: {org.message}",
                      retry_after=30, warning=org.reason not in (OrgReason.VERIFIED, ""))
    if org.spec.caller_mode == "sidecar" and ANNOTATION_OWNED_BY_POD not in token.metadata.annotations:
        raise Blocked(TokenReason.CALLER_MODE_MISMATCH,
                      f"AstraOrg {spec.org_ref!r} is in sidecar mode: it issues a token per pod; label the pod "
                      "astra-tokens.io/inject=true instead of creating an AstraToken", retry_after=600)
    role = services.directory.role(spec.role_ref)
    if role is None and services.directory.role_presence(spec.role_ref) is Presence.PENDING:
        raise Blocked(TokenReason.ROLE_NOT_READY, f"AstraRole {spec.role_ref!r} is not verified yet",
                      retry_after=30, quiet=True)
    if role is None or not role.ready:
        why = "does not exist" if role is None else f"is not Ready: {role.message}"
        # Waiting on a role that is still being verified is normal right after `kubectl apply`.
        raise Blocked(TokenReason.ROLE_NOT_READY, f"AstraRole {spec.role_ref!r} {why}", retry_after=30,
                      warning=role is not None and role.reason != RoleReason.ORG_NOT_READY)
    if role.org_ref != spec.org_ref:
        raise Blocked(TokenReason.ROLE_NOT_READY, f"AstraRole {spec.role_ref!r} belongs to AstraOrg "
                                                  f"{role.org_ref!r}, not {spec.org_ref!r}", retry_after=600)
    namespace = token.metadata.namespace or ""
    labels = await services.kube.namespace_labels(namespace) if org.spec.namespace_selector else None
    verdict = namespace_verdict(
        namespace, labels, org_name=org.name, org_allowed=org.spec.allowed_namespaces,
        org_selector=org.spec.namespace_selector, role_name=role.name, role_allowed=role.allowed_namespaces)
    if not verdict.allowed:
        raise Blocked(TokenReason.NAMESPACE_NOT_ALLOWED, verdict.reason, retry_after=300)
    try:
        policy = renewal_policy(role_ttl=role.ttl, role_max_ttl=role.max_ttl, token_ttl=spec.ttl,
                                renew_before=spec.renew_before,
                                rotation_grace_period=spec.rotation_grace_period)
    except (LeaseError, ValueError) as exc:
        raise Blocked(TokenReason.INVALID_SPEC, str(exc), retry_after=600) from None
    client = services.astra.get(org.org_id, org.root_token, org.client_settings)
    return TokenContext(token=token, org=org, role=role, policy=policy, client=client)
