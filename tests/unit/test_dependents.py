"""The finalizer of an AstraOrg or AstraRole (reconcile/dependents.py) on
in-memory systems: it goes only once no AstraToken uses it; with the cascade
annotation it deletes them first; and it keeps the org verified meanwhile, so
their finalizers can still revoke, even after a restart."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FakeClock, InMemoryAstra, InMemoryAstraPool, InMemoryKube, InMemoryLedger, RecordedEvents
from pydantic import SecretStr

from astra_token_operator.config import OperatorConfig
from astra_token_operator.kube import DesiredSecret, OwnerReference
from astra_token_operator.reconcile.dependents import release_org, release_role, tokens_using
from astra_token_operator.reconcile.errors import PassBlocked
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.reconcile.runtime import Runtime

ORG_ID = "6f2d5b0e-1c3a-4b7e-9d2f-0a1b2c3d4e5f"
OPERATOR_NS = "astra-token-operator"


def org_body(**annotations: str) -> dict[str, Any]:
    return {"metadata": {"name": "acme", "uid": "org-uid", "annotations": annotations},
            "spec": {"orgId": ORG_ID, "allowedNamespaces": ["*"],
                     "rootTokenRef": {"secret": {"namespace": OPERATOR_NS, "name": "root", "key": "token"}}}}


def role_body(**annotations: str) -> dict[str, Any]:
    return {"metadata": {"name": "reader", "uid": "role-uid", "annotations": annotations},
            "spec": {"orgRef": "acme", "astraRoleName": "R/W User"}}


def token(name: str, namespace: str = "team-a", role: str = "reader", org: str = "acme",
          deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-{name}"}
    if deleting:
        meta["deletionTimestamp"] = "2030-01-01T12:00:00Z"
    return {"metadata": meta, "spec": {"orgRef": org, "roleRef": role}}


@pytest.fixture
async def deps() -> Deps:
    kube = InMemoryKube()
    await kube.create_secret(DesiredSecret(namespace=OPERATOR_NS, name="root", data={"token": SecretStr("AstraCS:r")},
                                           labels={}, annotations={},
                                           owner=OwnerReference(api_version="v1", kind="X", name="x", uid="u")))
    runtime = Runtime()
    runtime.verified.record_listing({"acme"}, {"reader"})  # a fresh process: listed, verified by nobody yet
    return Deps(config=OperatorConfig(operator_namespace=OPERATOR_NS), ledger=InMemoryLedger(),
                astra=InMemoryAstraPool(InMemoryAstra(ORG_ID, FakeClock())), kube=kube, runtime=runtime)


def add(deps: Deps, *tokens: dict[str, Any]) -> None:
    assert isinstance(deps.kube, InMemoryKube)
    for body in tokens:
        deps.kube.objects[("astratokens", body["metadata"]["namespace"], body["metadata"]["name"])] = body


async def test_an_org_without_tokens_is_released_and_forgotten(deps: Deps) -> None:
    add(deps, token("other", org="elsewhere", role="x"))
    await release_org(deps, org_body(), RecordedEvents())
    assert deps.runtime.verified.org("acme") is None


async def test_an_org_in_use_is_kept_verified_and_says_which_tokens_hold_it(deps: Deps) -> None:
    add(deps, token("app"), token("db", namespace="team-b"))
    events = RecordedEvents()
    with pytest.raises(PassBlocked) as kept:
        await release_org(deps, org_body(), events)
    assert "2 AstraTokens (team-a/app, team-b/db)" in kept.value.blocked.message
    assert "astra-tokens.io/cascade=true" in kept.value.blocked.message
    # After a restart its daemon never runs again: the finalizer verified it, so tokens can revoke.
    state = deps.runtime.verified.org("acme")
    assert state is not None
    assert state.ready
    assert state.root_token is not None
    assert events.reasons() == ["WaitingForTokens"]
    assert isinstance(deps.kube, InMemoryKube)
    assert deps.kube.writes["delete astratokens"] == 0  # nothing deleted without the annotation


async def test_a_cascade_deletes_the_tokens_and_the_org_goes_once_they_are_gone(deps: Deps) -> None:
    add(deps, token("app"), token("going", deleting=True))
    events = RecordedEvents()
    with pytest.raises(PassBlocked):
        await release_org(deps, org_body(**{"astra-tokens.io/cascade": "true"}), events)
    assert isinstance(deps.kube, InMemoryKube)
    assert deps.kube.writes["delete astratokens"] == 1  # the one not being deleted already
    assert events.reasons() == ["CascadeDeleting"]
    assert [t.name for t in await tokens_using(deps, org="acme")] == ["going"]  # its finalizer still runs
    del deps.kube.objects[("astratokens", "team-a", "going")]  # revoked and gone
    await release_org(deps, org_body(**{"astra-tokens.io/cascade": "true"}), events)
    assert deps.runtime.verified.org("acme") is None


async def test_a_role_waits_for_its_own_tokens_only(deps: Deps) -> None:
    add(deps, token("app", role="writer"))
    await release_role(deps, role_body(), RecordedEvents())  # nothing uses "reader"
    add(deps, token("reads"))
    with pytest.raises(PassBlocked) as kept:
        await release_role(deps, role_body(), RecordedEvents())
    assert "1 AstraToken (team-a/reads)" in kept.value.blocked.message
