"""What the DevOps API returns, as typed, immutable models.

Parsing is tolerant (astra-devops-api.md §5): keys match in any case
(``ID``/``id``, ``Name``/``name``, ``clientId``/``clientid``), unknown fields
are ignored, a missing or null ``description``/``tokenExpiry`` is fine, and
``generatedOn`` may carry 3 or 9 fractional digits. Secrets are SecretStr, so
no repr or str of a model reveals them."""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_TIMESTAMP = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}(?::\d{2})?)"
    r"(?:\.(?P<fraction>\d+))?(?P<zone>[Zz]|[+-]\d{2}:?\d{2})?$"
)


def parse_timestamp(value: str) -> datetime:
    """An RFC 3339 instant as an aware UTC datetime. Fractions longer than
    microseconds are truncated; a missing zone means UTC."""
    match = _TIMESTAMP.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not an RFC 3339 timestamp")
    clock = match["time"] if match["time"].count(":") == 2 else match["time"] + ":00"
    fraction = (match["fraction"] or "0")[:6].ljust(6, "0")
    parsed = datetime.fromisoformat(f"{match['date']}T{clock}.{fraction}")
    zone = match["zone"]
    if zone is None or zone in ("Z", "z"):
        return parsed.replace(tzinfo=UTC)
    sign = 1 if zone[0] == "+" else -1
    digits = zone[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return parsed.replace(tzinfo=timezone(sign * offset)).astimezone(UTC)


def _lower_keys(data: Any) -> Any:
    if isinstance(data, dict):
        return {str(key).lower(): value for key, value in data.items()}
    return data


def _optional_timestamp(value: Any) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_timestamp(str(value))


class _AstraModel(BaseModel):
    """Keys arrive in any case: fold them to lower case before validation and
    let each field name its lower-case alias."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _fold_key_case(cls, data: Any) -> Any:
        return _lower_keys(data)


class RevokeOutcome(enum.Enum):
    REVOKED = "revoked"
    ALREADY_GONE = "already_gone"  # Astra answered 404: nothing left to revoke


class TokenInfo(_AstraModel):
    """One entry of the token list. Astra never lists secrets."""

    client_id: str = Field(alias="clientid")
    roles: tuple[str, ...] = ()
    generated_on: datetime = Field(alias="generatedon")
    description: str = ""
    token_expiry: datetime | None = Field(default=None, alias="tokenexpiry")

    @field_validator("generated_on", "token_expiry", mode="before")
    @classmethod
    def _read_timestamps(cls, value: Any) -> Any:
        return _optional_timestamp(value)

    @field_validator("description", mode="before")
    @classmethod
    def _null_description_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("roles", mode="before")
    @classmethod
    def _null_roles_are_empty(cls, value: Any) -> Any:
        return () if value is None else value


class CreatedToken(TokenInfo):
    """A freshly created token: a listed token's fields (``description`` and
    ``tokenExpiry`` echo what the client sent) plus ``secret`` and ``token``,
    which exist only in this answer: Astra never shows them again."""

    secret: SecretStr
    token: SecretStr
    org_id: str = Field(alias="orgid")


class RolePolicy(_AstraModel):
    description: str = ""
    resources: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    effect: str = ""

    @field_validator("description", "effect", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("resources", "actions", mode="before")
    @classmethod
    def _null_is_empty_list(cls, value: Any) -> Any:
        return () if value is None else value


class AstraRole(_AstraModel):
    id: str
    name: str
    policy: RolePolicy | None = None
    type: str | None = None


class AstraOrgInfo(_AstraModel):
    id: str
    name: str = ""

    @field_validator("name", mode="before")
    @classmethod
    def _null_name_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value
