"""The Secret an AstraToken publishes, computed from its ledger record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from astra_token_operator.models import AstraToken
from astra_token_operator.policy.secret_template import PRESETS, Preset, SecretShape, compiled, render
from astra_token_operator.reconcile.secrets import desired_secret
from astra_token_operator.records import TokenRecord
from astra_token_operator.surface import (
    ANNOTATION_EXPIRES_AT,
    ANNOTATION_LEASE_ID,
    LABEL_CLIENT_ID,
    LABEL_LOGICAL_NAME,
    LABEL_MANAGED,
    LABEL_ORG,
    LABEL_ROLE,
)

SECRET_KEYS = tuple(PRESETS[Preset.DEFAULT])
T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)
ORG_ID = "6f2d5b0e-1c3a-4b7e-9d2f-0a1b2c3d4e5f"
CLIENT_ID = "AbCdEfGhIjKlMnOpQrStUvWx"
TOKEN_VALUE = "AstraCS:AbCdEfGhIjKlMnOpQrStUvWx:0123456789abcdef0123456789abcdef"
CLIENT_SECRET = "unit-test-client-secret-0123456789"


def record(**changes: Any) -> TokenRecord:
    fields: dict[str, Any] = {
        "token": SecretStr(TOKEN_VALUE), "client_secret": SecretStr(CLIENT_SECRET), "client_id": CLIENT_ID,
        "org_id": ORG_ID, "role_name": "reader", "logical_name": "billing", "ttl_seconds": 3600,
        "max_ttl_seconds": 86400, "issued_at": T0, "lease_expires_at": T0 + H + timedelta(microseconds=900),
        "max_expires_at": T0 + 24 * H,
        **changes,
    }
    return TokenRecord(**fields)


def astra_token(resource_name: str = "app", **secret: Any) -> AstraToken:
    return AstraToken.model_validate({
        "metadata": {"name": resource_name, "namespace": "team-a", "uid": "uid-1"},
        "spec": {"orgRef": "acme", "roleRef": "reader", "logicalName": "billing", "secret": secret},
    })


def test_the_secret_holds_the_five_documented_keys() -> None:
    secret = desired_secret(astra_token(), record(), org_name="acme")
    assert tuple(secret.data) == SECRET_KEYS == ("token", "clientId", "clientSecret", "orgId", "expiresAt")
    plain = {key: value.get_secret_value() for key, value in secret.data.items()}
    assert plain == {
        "token": TOKEN_VALUE,
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "orgId": ORG_ID,
        "expiresAt": "2030-01-01T13:00:00Z",  # the lease's end, whole seconds, never later than the lease
    }


def test_expires_at_follows_the_lease_not_the_max() -> None:
    secret = desired_secret(astra_token(), record(lease_expires_at=T0 + 5 * H), org_name="acme")
    assert secret.data["expiresAt"].get_secret_value() == "2030-01-01T17:00:00Z"


@pytest.mark.parametrize(("name", "secret", "expected"), [
    ("app", {}, "app"),
    ("app", {"name": "app-astra"}, "app-astra"),
])
def test_the_secret_is_named_by_spec_secret_name_or_the_tokens_name(name: str, secret: dict[str, Any],
                                                                    expected: str) -> None:
    desired = desired_secret(astra_token(name, **secret), record(), org_name="acme")
    assert (desired.namespace, desired.name) == ("team-a", expected)


def test_the_users_labels_and_annotations_are_kept_beside_ours() -> None:
    secret = desired_secret(astra_token(labels={"app": "billing"}, annotations={"team": "payments"}), record(),
                            org_name="acme")
    assert dict(secret.labels) == {
        "app": "billing",
        LABEL_MANAGED: "true",
        LABEL_ORG: "acme",
        LABEL_ROLE: "reader",
        LABEL_LOGICAL_NAME: "billing",
        LABEL_CLIENT_ID: CLIENT_ID,
    }
    assert dict(secret.annotations) == {"team": "payments", ANNOTATION_LEASE_ID: f"astra-tokens/{ORG_ID}/{CLIENT_ID}",
                                        ANNOTATION_EXPIRES_AT: dict(secret.data)["expiresAt"].get_secret_value()}


def test_our_labels_and_annotations_win_over_the_users() -> None:
    """A user cannot make the Secret lie about which token it holds."""
    forged_labels = {LABEL_MANAGED: "false", LABEL_ORG: "other", LABEL_ROLE: "admin", LABEL_LOGICAL_NAME: "x",
                     LABEL_CLIENT_ID: "forged"}
    secret = desired_secret(astra_token(labels=forged_labels, annotations={ANNOTATION_LEASE_ID: "forged"}),
                            record(), org_name="acme")
    assert secret.labels[LABEL_MANAGED] == "true"
    assert secret.labels[LABEL_ORG] == "acme"
    assert secret.labels[LABEL_ROLE] == "reader"
    assert secret.labels[LABEL_LOGICAL_NAME] == "billing"
    assert secret.labels[LABEL_CLIENT_ID] == CLIENT_ID
    assert secret.annotations[ANNOTATION_LEASE_ID] == f"astra-tokens/{ORG_ID}/{CLIENT_ID}"


def test_the_secret_is_owned_by_its_astra_token_so_deleting_it_collects_the_secret() -> None:
    owner = desired_secret(astra_token(), record(), org_name="acme").owner
    assert owner.to_api() == {"apiVersion": "astra-tokens.io/v1alpha1", "kind": "AstraToken", "name": "app",
                              "uid": "uid-1", "controller": True, "blockOwnerDeletion": True}


def test_the_secrets_repr_and_str_never_show_the_token_or_client_secret() -> None:
    secret = desired_secret(astra_token(), record(), org_name="acme")
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", repr(secret.data)):
        assert TOKEN_VALUE not in text
        assert CLIENT_SECRET not in text
        assert "AstraCS:" not in text


def test_a_template_is_compiled_once_and_renders_each_tokens_own_values() -> None:
    shape = SecretShape(preset=Preset.ENV, data={"team": "{{ metadata.team }}-{{ clientId }}"})
    fields = {"token": "t", "clientSecret": "s", "orgId": "o", "orgName": "n", "expiresAt": "e"}
    render(shape, {**fields, "clientId": "first", "metadata": {"team": "a"}})
    misses = compiled.cache_info().misses

    second = render(shape, {**fields, "clientId": "second", "metadata": {"team": "b"}})

    assert second["team"] == "b-second"
    assert second["ASTRA_DB_CLIENT_ID"] == "second"
    assert compiled.cache_info().misses == misses
