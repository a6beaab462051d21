"""AstraOrg: read the root token, verify it against /v2/currentOrg, publish
the result to the directory and report it in status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from astra_token_operator.astra import (
    AstraClientSettings,
    AstraError,
    AstraForbidden,
    AstraRetryableError,
    AstraUnauthorized,
)
from astra_token_operator.kube import KubeError
from astra_token_operator.lifecycle_log import debug_action
from astra_token_operator.models import AstraOrg
from astra_token_operator.policy.tenancy import matches_any
from astra_token_operator.reconcile.verified import OrgState
from astra_token_operator.services import Services
from astra_token_operator.surface import ORG_PLURAL, ROLE_PLURAL, OrgReason
from astra_token_operator.vault import VaultError, VaultNotFound


@dataclass(frozen=True)
class RootToken:
    value: SecretStr
    version: str  # changes when the token changes: a Secret's resourceVersion, or a digest


class OrgProblem(Exception):
    def __init__(self, reason: OrgReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def root_token_namespaces(services: Services) -> list[str]:
    return [services.config.operator_namespace, *services.config.root_token_namespaces]


async def read_root_token(services: Services, org: AstraOrg) -> RootToken:
    ref = org.spec.root_token_ref
    if ref.secret is not None:
        allowed = root_token_namespaces(services)
        if not matches_any(ref.secret.namespace, allowed):
            raise OrgProblem(OrgReason.ROOT_TOKEN_MISSING,
                             f"the root token Secret must live in the operator's namespace {allowed}, not in "
                             f"{ref.secret.namespace!r}: tenant namespaces never hold root tokens")
        try:
            secret = await services.kube.read_secret(ref.secret.namespace, ref.secret.name)
        except KubeError as exc:
            raise OrgProblem(OrgReason.ROOT_TOKEN_MISSING, f"cannot read the root token Secret: {exc}") from None
        where = f"Secret {ref.secret.namespace}/{ref.secret.name}"
        if secret is None:
            raise OrgProblem(OrgReason.ROOT_TOKEN_MISSING, f"{where} does not exist; create it with key "
                                                           f"{ref.secret.key!r} holding the org's AstraCS token")
        value = secret.data.get(ref.secret.key)
        if value is None or not value.get_secret_value().strip():
            raise OrgProblem(OrgReason.ROOT_TOKEN_MISSING, f"{where} has no key {ref.secret.key!r}")
        return RootToken(SecretStr(value.get_secret_value().strip()), secret.resource_version)
    assert ref.vault is not None
    try:
        value = await services.ledger.read_root_token(ref.vault.path, ref.vault.key)
    except VaultNotFound:
        raise OrgProblem(OrgReason.ROOT_TOKEN_MISSING,
                         f"Vault path {ref.vault.path!r} has no key {ref.vault.key!r}") from None
    except VaultError as exc:
        raise OrgProblem(OrgReason.VAULT_UNAVAILABLE, f"cannot read the root token from Vault: {exc}") from None
    return RootToken(value, "vault")


def client_settings(services: Services, org: AstraOrg) -> AstraClientSettings:
    config, limits = services.config, org.spec.rate_limit
    return AstraClientSettings(
        base_url=org.spec.api_base_url,
        connect_timeout_seconds=config.astra_connect_timeout_seconds,
        read_timeout_seconds=config.astra_read_timeout_seconds,
        deadline_seconds=config.astra_deadline_seconds,
        max_attempts=config.astra_max_attempts,
        requests_per_second=limits.requests_per_second or config.astra_requests_per_second,
        burst=limits.burst or config.astra_burst,
        concurrency=limits.concurrency or config.astra_concurrency,
    )


async def verify_org(services: Services, body: dict[str, Any]) -> OrgState:
    """Everything an AstraOrg's status says; never raises for an Astra or Vault problem."""
    org = AstraOrg.model_validate(body)
    name = org.metadata.name
    try:
        token = await read_root_token(services, org)
        settings = client_settings(services, org)
        client = services.astra.get(org.spec.org_id, token.value, settings)
        info = await client.current_org()
    except OrgProblem as problem:
        return OrgState(name, org.spec, False, problem.reason, problem.message)
    except AstraUnauthorized as exc:
        return OrgState(name, org.spec, False, OrgReason.UNAUTHORIZED,
                        f"Astra refused the root token ({exc}); put a valid Organization Administrator token "
                        "in the referenced Secret")
    except AstraForbidden as exc:
        return OrgState(name, org.spec, False, OrgReason.FORBIDDEN,
                        f"the root token lacks a permission ({exc}); it needs the Organization Administrator role")
    except AstraRetryableError as exc:
        return OrgState(name, org.spec, False, OrgReason.UNREACHABLE, f"Astra is unreachable: {exc}")
    except AstraError as exc:
        return OrgState(name, org.spec, False, OrgReason.UNREACHABLE, f"Astra answered unexpectedly: {exc}")
    except ValueError as exc:  # settings refused, e.g. plain http to a remote host
        return OrgState(name, org.spec, False, OrgReason.UNREACHABLE, str(exc))
    if info.id and info.id != org.spec.org_id:
        return OrgState(name, org.spec, False, OrgReason.FORBIDDEN,
                        f"the root token belongs to org {info.id}, not to spec.orgId {org.spec.org_id}")
    debug_action("verify-org", org=org.spec.org_id, name=name)
    return OrgState(name, org.spec, True, OrgReason.VERIFIED, f"verified as {info.name or info.id}",
                    root_token=token.value, client_settings=settings, org_name=info.name)


async def root_token_version(services: Services, body: dict[str, Any]) -> str | None:
    """A cheap look at whether the root token changed (one Secret GET); None when unknown."""
    org = AstraOrg.model_validate(body)
    ref = org.spec.root_token_ref
    if ref.secret is None:
        return None
    try:
        secret = await services.kube.read_secret(ref.secret.namespace, ref.secret.name)
    except KubeError:
        return None
    return "missing" if secret is None else secret.resource_version


async def list_orgs_and_roles(services: Services) -> None:
    """Before any token is looked at: which AstraOrgs and AstraRoles exist, so that one not
    verified yet (its daemon has not run) is never taken for one that does not exist."""
    orgs = await services.kube.list_objects(ORG_PLURAL)
    roles = await services.kube.list_objects(ROLE_PLURAL)
    services.directory.record_listing({str(o["metadata"]["name"]) for o in orgs},
                                      {str(r["metadata"]["name"]) for r in roles})
