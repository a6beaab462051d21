"""Where an org's root token may come from: a Secret in the operator's namespace
(or one it is told to trust), never a tenant's, whatever the AstraOrg says."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import InMemoryAstraPool, InMemoryKube, InMemoryLedger
from pydantic import SecretStr

from astra_token_operator.config import OperatorConfig
from astra_token_operator.kube import DesiredSecret, OwnerReference
from astra_token_operator.models import AstraOrg
from astra_token_operator.reconcile.orgs import OrgProblem, read_root_token
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.surface import OrgReason

ORG_ID = "6f2d5b0e-1c3a-4b7e-9d2f-0a1b2c3d4e5f"


def org_reading(namespace: str) -> AstraOrg:
    body: dict[str, Any] = {"metadata": {"name": "acme"}, "spec": {
        "orgId": ORG_ID, "allowedNamespaces": ["*"],
        "rootTokenRef": {"secret": {"namespace": namespace, "name": "root", "key": "token"}}}}
    return AstraOrg.model_validate(body)


async def test_a_root_token_secret_in_a_tenant_namespace_is_never_read() -> None:
    kube = InMemoryKube()
    # Planted by a tenant, in their namespace, under the name an AstraOrg points at.
    await kube.create_secret(DesiredSecret(namespace="team-a", name="root", data={"token": SecretStr("AstraCS:x")},
                                           labels={}, annotations={},
                                           owner=OwnerReference(api_version="v1", kind="X", name="x", uid="u")))
    deps = Deps(config=OperatorConfig(operator_namespace="astra-token-operator"), ledger=InMemoryLedger(),
                astra=InMemoryAstraPool(), kube=kube)
    reads = kube.reads["secret"]

    with pytest.raises(OrgProblem) as refused:
        await read_root_token(deps, org_reading("team-a"))

    assert refused.value.reason is OrgReason.ROOT_TOKEN_MISSING
    assert "tenant namespaces never hold root tokens" in refused.value.message
    assert kube.reads["secret"] == reads  # not even looked at


async def test_a_root_token_secret_in_the_operators_namespace_is_read() -> None:
    kube = InMemoryKube()
    await kube.create_secret(DesiredSecret(namespace="astra-token-operator", name="root",
                                           data={"token": SecretStr("AstraCS:root")}, labels={}, annotations={},
                                           owner=OwnerReference(api_version="v1", kind="X", name="x", uid="u")))
    deps = Deps(config=OperatorConfig(operator_namespace="astra-token-operator"), ledger=InMemoryLedger(),
                astra=InMemoryAstraPool(), kube=kube)
    found = await read_root_token(deps, org_reading("astra-token-operator"))
    assert found.value.get_secret_value() == "AstraCS:root"
