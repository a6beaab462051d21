"""The ledger's stored shapes: what lands in KV v2, what a person or a log sees, and where."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from astra_token_operator.records import (
    MintIntent,
    OwnerRef,
    Principal,
    RecordAction,
    RecordState,
    SlotClaim,
    TokenRecord,
)
from astra_token_operator.vault import LedgerPaths, VaultDataError, slot_key
from astra_token_operator.vault.paths import split_secret_path
from astra_token_operator.vault.stored import parse_stored

TOKEN = "AstraCS:client-1:0123456789abcdef0123456789abcdef"
CLIENT_SECRET = "client-secret-value-that-must-stay-hidden"
ISSUED = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def make_record(**changes: Any) -> TokenRecord:
    fields: dict[str, Any] = {
        "token": SecretStr(TOKEN),
        "client_secret": SecretStr(CLIENT_SECRET),
        "client_id": "client-1",
        "org_id": "org-1",
        "role_name": "reader",
        "role_id": "role-uuid",
        "logical_name": "billing",
        "metadata": {"team": "payments"},
        "generated_on": "2025-03-01T12:00:00Z",
        "ttl_seconds": 3600,
        "max_ttl_seconds": 86400,
        "issued_at": ISSUED,
        "lease_expires_at": ISSUED + timedelta(hours=1),
        "max_expires_at": ISSUED + timedelta(days=1),
        "created_by": Principal(username="alice", uid="u-alice", groups=["devs"]),
        "actor": Principal.operator(),
        "owner": OwnerRef(kind="AstraToken", namespace="team-a", name="billing", uid="owner-uid"),
        "secret_name": "billing",
    }
    fields.update(changes)
    return TokenRecord(**fields)


def test_record_survives_a_round_trip_through_storage() -> None:
    record = make_record(state=RecordState.SUPERSEDED, superseded_by="client-2",
                         revoke_after=ISSUED + timedelta(minutes=5), renewals=3)

    assert TokenRecord.from_storage(json.loads(json.dumps(record.to_storage()))) == record


def test_storage_uses_camel_case_keys_and_rfc3339_utc_times() -> None:
    stored = make_record().to_storage()

    assert stored["clientId"] == "client-1"
    assert stored["leaseId"] == "astra-tokens/org-1/client-1"
    assert stored["issuedAt"] == "2025-03-01T12:00:00Z"
    assert stored["leaseExpiresAt"] == "2025-03-01T13:00:00Z"
    assert stored["createdBy"] == {"username": "alice", "uid": "u-alice", "groups": ["devs"], "kind": "user"}
    assert stored["state"] == "active"
    assert stored["lastAction"] == "minted"


def test_storage_is_the_only_place_secrets_are_revealed() -> None:
    record = make_record()

    stored = record.to_storage()
    assert stored["token"] == TOKEN
    assert stored["clientSecret"] == CLIENT_SECRET
    shown_to_people = (repr(record), str(record), record.model_dump_json(),
                       json.dumps(record.model_dump(mode="json")))
    for shown in shown_to_people:
        assert TOKEN not in shown
        assert CLIENT_SECRET not in shown
        assert "**********" in shown


def test_times_in_other_zones_are_stored_in_utc() -> None:
    two_hours_east = timezone(timedelta(hours=2))
    record = make_record(issued_at=datetime(2025, 3, 1, 14, 0, tzinfo=two_hours_east))

    assert record.to_storage()["issuedAt"] == "2025-03-01T12:00:00Z"


def test_times_without_a_zone_are_refused() -> None:
    with pytest.raises(ValidationError):
        make_record(issued_at=datetime(2025, 3, 1, 12, 0))


def test_stored_record_missing_optional_fields_reads_with_defaults() -> None:
    minimal = {
        "token": TOKEN, "clientSecret": CLIENT_SECRET, "clientId": "c1", "orgId": "o1",
        "roleName": "reader", "logicalName": "billing", "ttlSeconds": 60, "maxTtlSeconds": 120,
        "issuedAt": "2025-03-01T12:00:00Z", "leaseExpiresAt": "2025-03-01T12:01:00Z",
        "maxExpiresAt": "2025-03-01T12:02:00Z",
        "someFieldFromALaterVersion": {"ignored": True},
    }

    record = TokenRecord.from_storage(minimal)

    assert record.state is RecordState.ACTIVE
    assert record.last_action is RecordAction.MINTED
    assert record.metadata == {}
    assert record.renewals == 0
    assert record.lease_id == "astra-tokens/o1/c1"
    assert record.created_by is None
    assert record.owner is None
    assert record.revoked_by is None
    assert record.token.get_secret_value() == TOKEN


def test_unreadable_stored_record_is_reported_without_its_values() -> None:
    broken = {"token": TOKEN, "clientSecret": CLIENT_SECRET, "orgId": "o1", "ttlSeconds": "not a number"}

    with pytest.raises(VaultDataError) as caught:
        parse_stored(TokenRecord, broken, operation="read", path="secret/astra-tokens/orgs/o1/tokens/c1")

    message = str(caught.value)
    assert "secret/astra-tokens/orgs/o1/tokens/c1" in message
    assert "clientId" in message
    assert "ttlSeconds" in message
    assert TOKEN not in message
    assert CLIENT_SECRET not in message
    assert caught.value.__context__ is None


def test_slot_claim_and_intent_round_trip() -> None:
    owner = OwnerRef(kind="AstraToken", namespace="team-a", name="billing", uid="owner-uid")
    claim = SlotClaim(client_id="c1", owner=owner, claimed_at=ISSUED)
    intent = MintIntent(intent_id="i-1", owner=owner, org_id="o1", role_id="r-uuid", role_name="reader",
                        logical_name="billing", marker="astra-tokens.io team-a/billing i-1",
                        created_at=ISSUED, token_expiry=ISSUED + timedelta(days=1))

    assert SlotClaim.from_storage(claim.to_storage()) == claim
    assert MintIntent.from_storage(intent.to_storage()) == intent
    assert intent.to_storage()["tokenExpiry"] == "2025-03-02T12:00:00Z"


def test_slot_key_is_the_sha256_of_org_role_and_logical_name() -> None:
    # The same value as: printf '%s' 'org-1:reader:billing' | sha256sum
    expected = "5f253a1444e5df60af24ca15ae2b3167a995c30c330a945a7b863de56dab69d9"
    assert slot_key("org-1", "reader", "billing") == expected
    assert slot_key("org-1", "reader", "billing") != slot_key("org-1", "writer", "billing")


def test_ledger_paths_follow_the_documented_layout() -> None:
    paths = LedgerPaths(mount="secret", prefix="/astra-tokens/")

    assert paths.record("org-1", "c1") == "astra-tokens/orgs/org-1/tokens/c1"
    assert paths.slot("org-1", "reader", "billing") == (
        "astra-tokens/orgs/org-1/slots/5f253a1444e5df60af24ca15ae2b3167a995c30c330a945a7b863de56dab69d9"
    )
    assert paths.intent("i-1") == "astra-tokens/intents/i-1"
    assert paths.display(paths.record("org-1", "c1")) == "secret/astra-tokens/orgs/org-1/tokens/c1"


@pytest.mark.parametrize("bad_id", ["", "..", ".", "a/b", "../../sys", "with space"])
def test_ids_that_could_escape_their_folder_are_refused(bad_id: str) -> None:
    with pytest.raises(ValueError, match="cannot be used in a Vault path"):
        LedgerPaths().record("org-1", bad_id)


@pytest.mark.parametrize(
    ("path", "mount_from_vault", "expected"),
    [
        ("secret/astra/root", "secret/", ("secret", "astra/root")),
        ("/kv/teams/a/root/", "kv/teams/", ("kv/teams", "a/root")),
        ("astra/root", None, ("secret", "astra/root")),  # under no mount we can see: the ledger's
        ("root", None, ("secret", "root")),
    ],
)
def test_root_token_paths_resolve_like_bao_kv_get(
    path: str, mount_from_vault: str | None, expected: tuple[str, str]
) -> None:
    assert split_secret_path(path, mount_from_vault, "secret") == expected


def test_root_token_path_naming_only_a_mount_is_refused() -> None:
    with pytest.raises(ValueError, match="no key"):
        split_secret_path("secret", "secret/", "secret")
