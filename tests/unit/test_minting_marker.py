"""The description a mint sends to Astra: it names the owner and the attempt,
so a token a crash left behind is found again by it, and only by it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from astra_token_operator.reconcile.minting import MAX_DESCRIPTION, TokenIdentity, make_marker
from astra_token_operator.records import OwnerRef

ORG_ID = "6f2d5b0e-1c3a-4b7e-9d2f-0a1b2c3d4e5f"
NONCE = "0123456789ab"  # what secrets.token_hex(6) gives: 12 hex digits
ContextFactory = Callable[..., Callable[[str], str]]


def marker_of(*, namespace: str = "team-a", name: str = "app", prefix: str | None = None) -> Callable[[str], str]:
    identity = TokenIdentity(owner=OwnerRef(kind="AstraToken", namespace=namespace, name=name, uid="uid-1"),
                             org_id=ORG_ID, role_name="reader", role_id="r-1", logical_name=name)
    return lambda nonce: make_marker(identity, prefix or "", nonce)


@pytest.fixture
def context() -> ContextFactory:
    return marker_of


def test_the_marker_names_the_owner_and_the_attempt(context: ContextFactory) -> None:
    assert context()(NONCE) == f"astra-token-operator team-a/app mint={NONCE}"


@pytest.mark.parametrize(("prefix", "expected"), [
    (None, f"astra-token-operator team-a/app mint={NONCE}"),
    ("", f"astra-token-operator team-a/app mint={NONCE}"),
    ("k8s-prod ", f"k8s-prod astra-token-operator team-a/app mint={NONCE}"),
    ("k8s-prod:", f"k8s-prod:astra-token-operator team-a/app mint={NONCE}"),
])
def test_the_orgs_description_prefix_comes_first(context: ContextFactory, prefix: str | None,
                                                 expected: str) -> None:
    assert context(prefix=prefix)(NONCE) == expected


def test_two_attempts_have_different_markers(context: ContextFactory) -> None:
    marker = context()
    assert marker("aaaaaaaaaaaa") != marker("bbbbbbbbbbbb")


LONG_NAMES = pytest.mark.parametrize(("prefix", "namespace", "name"), [
    ("p" * 64, "n" * 63, "a" * 253),  # every part at the longest the CRD and Kubernetes allow
    ("", "team-a", "a" * 253),
    ("k8s-prod ", "team-a", "a" * 170),
], ids=["all-longest", "long-name", "prefix-and-170-char-name"])


@LONG_NAMES
def test_a_marker_never_exceeds_the_description_limit(context: ContextFactory, prefix: str, namespace: str,
                                                      name: str) -> None:
    assert len(context(prefix=prefix, namespace=namespace, name=name)(NONCE)) <= MAX_DESCRIPTION


@LONG_NAMES
def test_a_marker_keeps_its_nonce_however_long_the_names(context: ContextFactory, prefix: str, namespace: str,
                                                         name: str) -> None:
    """Crash recovery finds a token by its exact marker and revokes what it finds:
    a marker cut before its nonce would match other attempts' tokens too."""
    marker = context(prefix=prefix, namespace=namespace, name=name)(NONCE)
    assert marker.endswith(f"mint={NONCE}")
    assert context(prefix=prefix, namespace=namespace, name=name)("ffffffffffff") != marker
