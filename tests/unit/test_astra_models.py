"""Tolerant reading of what the DevOps API returns (astra-devops-api.md §5)."""

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr, ValidationError

from astra_token_operator.astra import (
    AstraOrgInfo,
    AstraRole,
    CreatedToken,
    TokenInfo,
    parse_timestamp,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-09-21T17:48:15.260897295Z", datetime(2022, 9, 21, 17, 48, 15, 260897, tzinfo=UTC)),
        ("2021-02-22T17:09:58.668Z", datetime(2021, 2, 22, 17, 9, 58, 668000, tzinfo=UTC)),
        ("2026-08-19T14:30:00Z", datetime(2026, 8, 19, 14, 30, tzinfo=UTC)),
        ("2026-08-19T14:30:00", datetime(2026, 8, 19, 14, 30, tzinfo=UTC)),
        ("2026-08-19T16:30:00+02:00", datetime(2026, 8, 19, 14, 30, tzinfo=UTC)),
        ("2026-08-19T14:30:00.1z", datetime(2026, 8, 19, 14, 30, 0, 100000, tzinfo=UTC)),
        ("2026-08-19T14:30Z", datetime(2026, 8, 19, 14, 30, tzinfo=UTC)),
    ],
)
def test_timestamps_are_read_with_any_number_of_fraction_digits(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is not None


def test_an_unreadable_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_timestamp("yesterday")


def test_list_entry_of_the_2021_shape_reads_without_description_or_expiry() -> None:
    info = TokenInfo.model_validate(
        {"clientId": "zjCEYwRGWocLfQJHBNQxvorr", "roles": ["r1"], "generatedOn": "2021-02-22T17:09:58.668Z"}
    )
    assert info.client_id == "zjCEYwRGWocLfQJHBNQxvorr"
    assert info.description == ""
    assert info.token_expiry is None
    assert info.roles == ("r1",)


def test_list_entry_keys_match_in_any_case_and_unknown_fields_are_ignored() -> None:
    info = TokenInfo.model_validate(
        {
            "CLIENTID": "abc",
            "Roles": None,
            "GeneratedOn": "2021-02-22T17:09:58.668Z",
            "Description": None,
            "TokenExpiry": "",
            "somethingNew": {"nested": True},
        }
    )
    assert (info.client_id, info.roles, info.description, info.token_expiry) == ("abc", (), "", None)


def test_list_entry_with_expiry_reads_it_as_an_aware_datetime() -> None:
    info = TokenInfo.model_validate(
        {"clientId": "abc", "generatedOn": "2021-02-22T17:09:58.668Z", "tokenExpiry": "2026-08-19T14:30:00Z"}
    )
    assert info.token_expiry == datetime(2026, 8, 19, 14, 30, tzinfo=UTC)


def test_list_entry_without_client_id_is_refused() -> None:
    with pytest.raises(ValidationError):
        TokenInfo.model_validate({"generatedOn": "2021-02-22T17:09:58.668Z"})


def test_created_token_keeps_secrets_out_of_repr_and_str() -> None:
    created = CreatedToken.model_validate(
        {
            "clientId": "zjCEYwRGWocLfQJHBNQxvorr",
            "secret": "s" * 128,
            "orgId": "org",
            "roles": ["r"],
            "token": "AstraCS:zjCEYwRGWocLfQJHBNQxvorr:" + "a" * 64,
            "generatedOn": "2022-09-21T17:48:15.260897295Z",
        }
    )
    assert isinstance(created.secret, SecretStr)
    for text in (repr(created), str(created), created.model_dump_json()):
        assert "s" * 20 not in text
        assert "a" * 20 not in text
    assert created.token.get_secret_value().endswith("a" * 64)


@pytest.mark.parametrize(
    "document",
    [
        {"ID": "id-1", "Name": "RO User", "Policy": {"actions": ["db-cql"], "effect": "allow"},
         "Type": "default"},
        {"id": "id-1", "name": "RO User", "policy": {"Actions": ["db-cql"], "Effect": "allow"},
         "last_update_datetime": "x"},
    ],
)
def test_roles_read_with_capitalised_or_lowercase_keys(document: dict[str, object]) -> None:
    role = AstraRole.model_validate(document)
    assert (role.id, role.name) == ("id-1", "RO User")
    assert role.policy is not None
    assert role.policy.actions == ("db-cql",)
    assert role.policy.effect == "allow"


def test_role_without_policy_is_still_a_role() -> None:
    assert AstraRole.model_validate({"ID": "x", "Name": "y"}).policy is None


def test_current_org_reads_with_or_without_a_name() -> None:
    assert AstraOrgInfo.model_validate({"id": "o"}).name == ""
    assert AstraOrgInfo.model_validate({"ID": "o", "Name": "Acme"}).name == "Acme"
