"""The Secret we want and the Secret we found: the wire form, and the pure
comparison that decides whether a Secret must be restored."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import SecretStr

from astra_token_operator.kube import DesiredSecret, OwnerReference, SecretSnapshot

TOKEN = "AstraCS:unitTestToken:0123456789abcdef"
OWNER = OwnerReference(api_version="astra-tokens.io/v1alpha1", kind="AstraToken", name="app", uid="uid-1")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def want(**changes: Any) -> DesiredSecret:
    fields: dict[str, Any] = {
        "namespace": "team-a",
        "name": "app",
        "data": {"token": TOKEN, "clientId": "c1", "note": "naïve ✓\nsecond line"},
        "labels": {"astra-tokens.io/org": "acme", "astra-tokens.io/client-id": "c1"},
        "annotations": {"astra-tokens.io/lease-id": "astra-tokens/o/c1"},
        "owner": OWNER,
        **changes,
    }
    return DesiredSecret(**fields)


def found(**changes: Any) -> SecretSnapshot:
    """A snapshot that matches want() exactly, then changed."""
    desired = want()
    fields: dict[str, Any] = {
        "namespace": "team-a",
        "name": "app",
        "uid": "secret-uid",
        "resource_version": "42",
        "data": dict(desired.data),
        "labels": dict(desired.labels),
        "annotations": dict(desired.annotations),
        "owner_uids": ["uid-1"],
        **changes,
    }
    return SecretSnapshot(**fields)


# --- the wire form -------------------------------------------------------------------------------


def test_data_is_base64_of_utf8_text_once() -> None:
    encoded = want().encoded_data()
    assert encoded["token"] == b64(TOKEN)
    assert base64.b64decode(encoded["note"]).decode() == "naïve ✓\nsecond line"


def test_create_body_carries_owner_labels_annotations_and_type() -> None:
    body = want(type="astra-tokens.io/token").to_api()
    assert body["apiVersion"] == "v1"
    assert body["kind"] == "Secret"
    assert body["type"] == "astra-tokens.io/token"
    assert body["metadata"]["namespace"] == "team-a"
    assert body["metadata"]["name"] == "app"
    assert body["metadata"]["labels"]["astra-tokens.io/org"] == "acme"
    assert body["metadata"]["ownerReferences"] == [{
        "apiVersion": "astra-tokens.io/v1alpha1", "kind": "AstraToken", "name": "app", "uid": "uid-1",
        "controller": True, "blockOwnerDeletion": True,
    }]
    assert set(body["data"]) == {"token", "clientId", "note"}


def test_update_patch_replaces_data_sets_ours_and_leaves_what_others_added() -> None:
    current = SecretSnapshot.from_api({
        "metadata": {
            "name": "app", "namespace": "team-a", "uid": "secret-uid", "resourceVersion": "50",
            "labels": {"team": "payments", "astra-tokens.io/client-id": "old"},
            "annotations": {"reloader/match": "true"},
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "other", "uid": "other-uid"},
                {"apiVersion": "astra-tokens.io/v1alpha1", "kind": "AstraToken", "name": "app", "uid": "uid-1",
                 "controller": False},
            ],
        },
        "data": {"stale": b64("x"), "token": b64("old")},
    })
    body = want().patching(current)
    meta = body["metadata"]

    assert meta["resourceVersion"] == "50"  # as last seen: the apiserver refuses if it moved on
    # Only ours are named: a strategic merge patch leaves others' labels, annotations and owners.
    assert meta["labels"] == {"astra-tokens.io/client-id": "c1", "astra-tokens.io/org": "acme"}
    assert meta["annotations"] == {"astra-tokens.io/lease-id": "astra-tokens/o/c1"}
    assert [(ref["uid"], ref["controller"]) for ref in meta["ownerReferences"]] == [("uid-1", True)]
    # Data is replaced whole: the key that is not ours is removed, ours are set.
    assert body["data"] == {"stale": None, **want().encoded_data()}
    assert body["type"] == "Opaque"


def test_snapshot_decodes_the_api_form() -> None:
    snapshot = SecretSnapshot.from_api({
        "metadata": {"namespace": "team-a", "name": "app", "uid": "u", "resourceVersion": "7",
                     "labels": {"a": "1"}, "ownerReferences": [{"uid": "uid-1"}, {"uid": "uid-2"}]},
        "data": {"token": b64(TOKEN), "binary": base64.b64encode(b"\xff\xfe").decode()},
        "type": "Opaque",
    })
    assert snapshot.data["token"].get_secret_value() == TOKEN
    assert snapshot.data["binary"].get_secret_value() == "\ufffd\ufffd"  # not text: can only differ
    assert snapshot.owner_uids == ["uid-1", "uid-2"]
    assert snapshot.annotations == {}
    assert snapshot.labels == {"a": "1"}
    assert (snapshot.uid, snapshot.resource_version) == ("u", "7")


def test_snapshot_of_an_empty_secret_has_no_data() -> None:
    snapshot = SecretSnapshot.from_api({"metadata": {"namespace": "n", "name": "s", "uid": "u",
                                                     "resourceVersion": "1"}})
    assert snapshot.data == {}
    assert snapshot.type == "Opaque"


@pytest.mark.parametrize("model", [want(), found()], ids=["desired", "snapshot"])
def test_repr_and_str_never_show_a_value(model: object) -> None:
    for text in (repr(model), str(model)):
        assert TOKEN not in text
        assert b64(TOKEN) not in text
        assert "naïve" not in text
        assert "token" in text  # the key names stay visible


def test_plain_strings_become_secret_values() -> None:
    assert isinstance(want().data["token"], SecretStr)
    assert want().secret_values()[0] == TOKEN


# --- matches / drift -----------------------------------------------------------------------------


DRIFT_CASES: list[tuple[str, SecretSnapshot, list[str]]] = [
    ("identical", found(), []),
    ("a label others added", found(labels={**want().labels, "team": "payments"}), []),
    ("an annotation others added", found(annotations={**want().annotations, "x/y": "z"}), []),
    ("another owner besides ours", found(owner_uids=["gc-owner", "uid-1"]), []),
    ("token edited", found(data={**want().data, "token": SecretStr("AstraCS:forged")}),
     ["data key token differs"]),
    ("key removed", found(data={k: v for k, v in want().data.items() if k != "clientId"}),
     ["data key clientId missing"]),
    ("key added", found(data={**want().data, "extra": SecretStr("x")}), ["data key extra unexpected"]),
    ("data emptied", found(data={}),
     ["data key clientId missing", "data key note missing", "data key token missing"]),
    ("our label removed", found(labels={"astra-tokens.io/client-id": "c1"}),
     ["label astra-tokens.io/org missing"]),
    ("our label changed", found(labels={**want().labels, "astra-tokens.io/client-id": "c0"}),
     ["label astra-tokens.io/client-id differs"]),
    ("our annotation removed", found(annotations={}), ["annotation astra-tokens.io/lease-id missing"]),
    ("our annotation changed", found(annotations={"astra-tokens.io/lease-id": "other"}),
     ["annotation astra-tokens.io/lease-id differs"]),
    ("owner reference removed", found(owner_uids=[]), ["owner reference to AstraToken app missing"]),
    ("owned by an older AstraToken of the same name", found(owner_uids=["uid-0"]),
     ["owner reference to AstraToken app missing"]),
    ("type changed", found(type="kubernetes.io/tls"), ["type is kubernetes.io/tls, not Opaque"]),
    ("another Secret", found(name="other"), ["different Secret (team-a/other)"]),
    ("everything at once",
     found(data={"token": SecretStr("x")}, labels={}, annotations={}, owner_uids=[]),
     ["data key clientId missing", "data key note missing", "data key token differs",
      "label astra-tokens.io/client-id missing", "label astra-tokens.io/org missing",
      "annotation astra-tokens.io/lease-id missing", "owner reference to AstraToken app missing"]),
]


@pytest.mark.parametrize(("snapshot", "expected"), [(s, e) for _, s, e in DRIFT_CASES],
                         ids=[name for name, _, _ in DRIFT_CASES])
def test_drift_names_what_differs_and_matches_agrees(snapshot: SecretSnapshot, expected: list[str]) -> None:
    assert snapshot.drift(want()) == expected
    assert snapshot.matches(want()) is (expected == [])


def test_drift_never_names_a_value() -> None:
    forged = found(data={"token": SecretStr("AstraCS:forged"), "clientId": SecretStr("c1-forged")},
                   labels={"astra-tokens.io/org": "evil"})
    for line in forged.drift(want()):
        assert "AstraCS" not in line
        assert "forged" not in line
        assert "evil" not in line
        assert TOKEN not in line
