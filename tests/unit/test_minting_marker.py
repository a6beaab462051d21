"""The description a mint sends to Astra: it names the owner and the attempt,
so a token a crash left behind is found again by it, and only by it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from pydantic import SecretStr

from astra_token_operator.astra import AstraClient, AstraClientSettings
from astra_token_operator.models import AstraOrgSpec, AstraToken
from astra_token_operator.policy.leases import renewal_policy
from astra_token_operator.reconcile.context import TokenContext
from astra_token_operator.reconcile.minting import MAX_DESCRIPTION, make_marker
from astra_token_operator.reconcile.verified import OrgState, RoleState

ORG_ID = "6f2d5b0e-1c3a-4b7e-9d2f-0a1b2c3d4e5f"
NONCE = "0123456789ab"  # what secrets.token_hex(6) gives: 12 hex digits
ContextFactory = Callable[..., TokenContext]


@pytest.fixture
async def client() -> AsyncIterator[AstraClient]:
    made = AstraClient(ORG_ID, SecretStr("unit-test-root-token"), AstraClientSettings())
    yield made
    await made.aclose()


@pytest.fixture
def context(client: AstraClient) -> ContextFactory:
    def make(*, namespace: str = "team-a", name: str = "app", prefix: str | None = None) -> TokenContext:
        spec: dict[str, object] = {"orgId": ORG_ID, "rootTokenRef": {"vault": {"path": "astra/root"}},
                                   "allowedNamespaces": ["*"]}
        if prefix is not None:
            spec["tokenDefaults"] = {"descriptionPrefix": prefix}
        org = OrgState(name="acme", spec=AstraOrgSpec.model_validate(spec), ready=True, reason="Verified",
                       message="ok")
        role = RoleState(name="reader", org_ref="acme", role_name="reader", ready=True, reason="Verified",
                         message="ok", role_id="r-1")
        token = AstraToken.model_validate({
            "metadata": {"name": name, "namespace": namespace, "uid": "uid-1"},
            "spec": {"orgRef": "acme", "roleRef": "reader"},
        })
        policy = renewal_policy(role_ttl=timedelta(hours=1), role_max_ttl=timedelta(hours=24))
        return TokenContext(token=token, org=org, role=role, policy=policy, client=client)

    return make


def test_the_marker_names_the_owner_and_the_attempt(context: ContextFactory) -> None:
    assert make_marker(context(), NONCE) == f"astra-token-operator team-a/app mint={NONCE}"


@pytest.mark.parametrize(("prefix", "expected"), [
    (None, f"astra-token-operator team-a/app mint={NONCE}"),
    ("", f"astra-token-operator team-a/app mint={NONCE}"),
    ("k8s-prod ", f"k8s-prod astra-token-operator team-a/app mint={NONCE}"),
    ("k8s-prod:", f"k8s-prod:astra-token-operator team-a/app mint={NONCE}"),
])
def test_the_orgs_description_prefix_comes_first(context: ContextFactory, prefix: str | None,
                                                 expected: str) -> None:
    assert make_marker(context(prefix=prefix), NONCE) == expected


def test_two_attempts_have_different_markers(context: ContextFactory) -> None:
    ctx = context()
    assert make_marker(ctx, "aaaaaaaaaaaa") != make_marker(ctx, "bbbbbbbbbbbb")


LONG_NAMES = pytest.mark.parametrize(("prefix", "namespace", "name"), [
    ("p" * 64, "n" * 63, "a" * 253),  # every part at the longest the CRD and Kubernetes allow
    ("", "team-a", "a" * 253),
    ("k8s-prod ", "team-a", "a" * 170),
], ids=["all-longest", "long-name", "prefix-and-170-char-name"])


@LONG_NAMES
def test_a_marker_never_exceeds_the_description_limit(context: ContextFactory, prefix: str, namespace: str,
                                                      name: str) -> None:
    assert len(make_marker(context(prefix=prefix, namespace=namespace, name=name), NONCE)) <= MAX_DESCRIPTION


@LONG_NAMES
def test_a_marker_keeps_its_nonce_however_long_the_names(context: ContextFactory, prefix: str, namespace: str,
                                                         name: str) -> None:
    """Crash recovery finds a token by its exact marker and revokes what it finds:
    a marker cut before its nonce would match other attempts' tokens too."""
    marker = make_marker(context(prefix=prefix, namespace=namespace, name=name), NONCE)
    assert marker.endswith(f"mint={NONCE}")
    assert make_marker(context(prefix=prefix, namespace=namespace, name=name), "ffffffffffff") != marker
