"""The description a mint sends to Astra: it names this cluster, the owner and the attempt, so a
token a crash left behind is found again by it (and only by it), and the sweep can prove which
cluster a token belongs to (policy/markers.py reads it back)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from astra_token_operator.policy.markers import MAX_DESCRIPTION, Marker, parse_marker
from astra_token_operator.reconcile.minting import TokenIdentity, make_marker
from astra_token_operator.records import OwnerRef

ORG_ID = "6f2d5b0e-1c3a-4b7e-9d2f-0a1b2c3d4e5f"
UID = "0b9c8d7e-6f5a-4b3c-2d1e-0f9a8b7c6d5e"  # Kubernetes uids are UUIDs
CLUSTER = "5d3c2b1a-0f9e-4d8c-b7a6-1e2f3a4b5c6d"  # a kube-system namespace's uid
NONCE = "0123456789ab"  # what secrets.token_hex(6) gives: 12 hex digits
LONGEST_CLUSTER = "c" * 40  # the cluster_id setting's limit


def marker_of(*, namespace: str = "team-a", name: str = "app", prefix: str | None = None,
              cluster: str = CLUSTER) -> Callable[[str], str]:
    identity = TokenIdentity(owner=OwnerRef(kind="AstraToken", namespace=namespace, name=name, uid=UID),
                             org_id=ORG_ID, role_name="reader", role_id="r-1", logical_name=name)
    return lambda nonce: make_marker(identity, prefix or "", nonce, cluster_id=cluster)


def test_the_marker_names_the_owner_the_cluster_and_the_attempt() -> None:
    assert marker_of()(NONCE) == f"astra-token-operator team-a/app cluster={CLUSTER} uid={UID} mint={NONCE}"


@pytest.mark.parametrize(("prefix", "start"), [
    (None, "astra-token-operator team-a/app "),
    ("", "astra-token-operator team-a/app "),
    ("k8s-prod ", "k8s-prod astra-token-operator team-a/app "),
    ("k8s-prod:", "k8s-prod:astra-token-operator team-a/app "),
])
def test_the_orgs_description_prefix_comes_first(prefix: str | None, start: str) -> None:
    assert marker_of(prefix=prefix)(NONCE).startswith(start)


def test_two_attempts_have_different_markers() -> None:
    marker = marker_of()
    assert marker("aaaaaaaaaaaa") != marker("bbbbbbbbbbbb")


def test_the_sweep_reads_back_the_cluster_the_owner_and_the_attempt() -> None:
    assert parse_marker(marker_of(prefix="k8s-prod ")(NONCE)) == Marker(CLUSTER, UID, NONCE)


LONG_NAMES = pytest.mark.parametrize(("prefix", "namespace", "name", "cluster"), [
    ("p" * 64, "n" * 63, "a" * 253, LONGEST_CLUSTER),  # every part at the longest allowed
    ("", "team-a", "a" * 253, CLUSTER),
    ("k8s-prod ", "team-a", "a" * 170, CLUSTER),
    ("cluster=x uid=y mint=ffffffffffff ", "team-a", "app", CLUSTER),  # a prefix that looks like a marker
], ids=["all-longest", "long-name", "prefix-and-170-char-name", "prefix-mimicking-a-marker"])


@LONG_NAMES
def test_a_marker_never_exceeds_the_description_limit(prefix: str, namespace: str, name: str, cluster: str) -> None:
    assert len(marker_of(prefix=prefix, namespace=namespace, name=name, cluster=cluster)(NONCE)) <= MAX_DESCRIPTION


@LONG_NAMES
def test_a_marker_keeps_its_prefix_cluster_owner_and_nonce_however_long_the_names(
        prefix: str, namespace: str, name: str, cluster: str) -> None:
    """Crash recovery finds a token by its exact marker and revokes what it finds, and the sweep
    revokes by the cluster it names: none of those may be the part cut to fit."""
    marker = marker_of(prefix=prefix, namespace=namespace, name=name, cluster=cluster)(NONCE)
    assert marker.startswith(prefix)
    assert parse_marker(marker) == Marker(cluster, UID, NONCE)
    assert marker_of(prefix=prefix, namespace=namespace, name=name, cluster=cluster)("ffffffffffff") != marker


@pytest.mark.parametrize(("description", "expected"), [
    # minted before cluster ids: ours perhaps, but nothing says which cluster's
    (f"astra-token-operator team-a/app mint={NONCE}", Marker(None, None, NONCE)),
    (f"k8s-prod astra-token-operator team-a/app mint={NONCE}", Marker(None, None, NONCE)),
    # someone else's
    ("", None),
    ("admin token of the fake", None),
    ("my laptop", None),
    (f"astra-token-operator team-a/app mint={NONCE} (copied by hand)", None),
    (f"astra-token-operator cluster={CLUSTER} uid={UID} mint=XYZ", None),  # not a nonce we make
])
def test_descriptions_without_a_current_marker(description: str, expected: Marker | None) -> None:
    assert parse_marker(description) == expected
