"""The AstraToken bodies Kopf keeps for the daemons lose their managedFields (memory: about half of
a token's body; bench/README.md "Where the memory goes")."""

from __future__ import annotations

import copy
from typing import Any, cast

import kopf

from astra_token_operator.handlers.tokens import drop_managed_fields

RAW: dict[str, Any] = {
    "apiVersion": "astra-tokens.io/v1alpha1",
    "kind": "AstraToken",
    "metadata": {
        "name": "orders", "namespace": "team-a", "uid": "uid-1", "resourceVersion": "42", "generation": 1,
        "labels": {"astra-tokens.io/org": "prod"},
        "annotations": {"astra-tokens.io/created-by": "{}"},
        "finalizers": ["astra-tokens.io/revoke"],
        "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {"f:orgRef": {}}}}],
    },
    "spec": {"orgRef": "prod", "roleRef": "reader"},
    "status": {"clientId": "abc", "nextActionAt": "2026-12-06T12:00:00Z"},
}


def test_the_body_kopf_keeps_loses_its_managed_fields_and_nothing_else() -> None:
    raw = copy.deepcopy(RAW)
    kept = kopf.Body(raw)  # Kopf's view of the dict the event carries (its daemons' live body)
    drop_managed_fields(cast(kopf.RawEvent, {"type": "MODIFIED", "object": raw}))
    assert "managedFields" not in kept.meta
    expected = copy.deepcopy(RAW)
    del expected["metadata"]["managedFields"]
    assert dict(kept) == expected


def test_an_event_without_metadata_is_left_alone() -> None:
    event = cast(kopf.RawEvent, {"type": "DELETED", "object": {"kind": "AstraToken"}})
    drop_managed_fields(event)
    assert event["object"] == {"kind": "AstraToken"}
