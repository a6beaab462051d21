"""What the ledger stores: token records, their credentials, uniqueness slots
and mint intents.

Stored as KV v2 data with camelCase keys (as `bao kv get` shows them) and
times as RFC 3339 UTC strings. Token and client secret are SecretStr: repr,
str and a default ``model_dump_json()`` print ``**********``; only
``to_storage()`` — the storage boundary — reveals them. A token record's
stored form (``audit_storage``) never holds them: they live in a
``TokenCredentials`` of their own, at a path an auditor's policy leaves out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, NamedTuple, Self, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    SerializationInfo,
    model_validator,
)
from pydantic.alias_generators import to_camel

from astra_token_operator.times import to_rfc3339

# 2: the token and client secret moved out of the record into its credentials (1 kept them inline).
SCHEMA_VERSION = 2
SECRET_KEYS = ("token", "clientSecret")  # what a record of schema 1 held inline
M = TypeVar("M", bound=BaseModel)
_REVEAL = "reveal_secrets"  # serialization context flag, set only by to_storage()


def _stored_time(value: datetime) -> str:
    return to_rfc3339(value, fraction=True)


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _serialize_secret(value: SecretStr, info: SerializationInfo) -> str | SecretStr:
    if isinstance(info.context, dict) and info.context.get(_REVEAL):
        return value.get_secret_value()
    return str(value) if info.mode == "json" else value


UtcTime = Annotated[
    AwareDatetime, AfterValidator(_to_utc), PlainSerializer(_stored_time, return_type=str, when_used="json")
]
StoredSecret = Annotated[SecretStr, PlainSerializer(_serialize_secret, when_used="always")]


class _Stored(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, extra="ignore", frozen=True
    )

    def to_storage(self) -> dict[str, Any]:
        """The KV v2 data: camelCase, JSON types, secrets revealed. Only the ledger calls this."""
        return self.model_dump(mode="json", by_alias=True, context={_REVEAL: True})

    @classmethod
    def from_storage(cls, data: dict[str, Any]) -> Self:
        """Parse stored data; fields added by later versions are ignored, missing optional ones defaulted."""
        return cls.model_validate(data)


class RecordState(StrEnum):
    ACTIVE = "active"
    SUPERSEDED = "superseded"  # replaced by a rotation; revoked at revoke_after
    REVOKED = "revoked"
    EXPIRED = "expired"
    DELETED_EXTERNALLY = "deleted-externally"  # gone from Astra without us
    ABANDONED = "abandoned"  # released by an admin without revoking


class RecordAction(StrEnum):
    """What a record version recorded (its ``lastAction``)."""

    MINTED = "minted"
    RECOVERED = "recovered"  # found in Astra by an intent's marker after a crash
    RENEWED = "renewed"
    RENEWED_MANUALLY = "renewed-manually"
    METADATA_UPDATED = "metadata-updated"
    RESTORED = "restored"  # the Secret was restored from the ledger
    SUPERSEDED = "superseded"
    REVOKED = "revoked"
    REVOKED_MANUALLY = "revoked-manually"
    EXPIRED = "expired"
    DELETED_EXTERNALLY = "deleted-externally"
    ABANDONED = "abandoned"
    RESTARTED = "restarted"  # the workloads named by the AstraToken were restarted for this token
    ROLLOUT_FINISHED = "rollout-finished"  # (superseded) the workloads holding it rolled out
    ROLLOUT_STUCK = "rollout-stuck"  # (superseded) their rollout did not finish in time


class Principal(_Stored):
    """Someone who caused a change: a Kubernetes user from admission, or the operator itself."""

    username: str
    uid: str = ""
    groups: list[str] = Field(default_factory=list)
    kind: Literal["user", "operator"] = "user"

    @classmethod
    def operator(cls, username: str = "astra-token-operator") -> Principal:
        return cls(username=username, kind="operator")


class OwnerRef(_Stored):
    """The Kubernetes object a token belongs to (an AstraToken)."""

    kind: str
    name: str
    uid: str
    namespace: str | None = None


class TokenCredentials(_Stored):
    """The secret material of one Astra token, written once when it is minted, apart from its
    record, so that reading a record's history never shows a token."""

    schema_version: int = SCHEMA_VERSION
    client_id: str
    org_id: str
    token: StoredSecret
    client_secret: StoredSecret


class TokenRecord(_Stored):
    schema_version: int = SCHEMA_VERSION
    # The secret material, in memory only: the ledger stores it as the record's TokenCredentials.
    # None when the record was read without them (or they are missing from the ledger).
    token: StoredSecret | None = None
    client_secret: StoredSecret | None = None
    client_id: str
    org_id: str
    role_name: str
    role_id: str = ""
    logical_name: str
    metadata: dict[str, str] = Field(default_factory=dict)
    generated_on: str | None = None  # as Astra reported it
    lease_id: str = ""  # filled in: astra-tokens/<orgId>/<clientId>
    ttl_seconds: int
    max_ttl_seconds: int
    issued_at: UtcTime
    lease_expires_at: UtcTime
    max_expires_at: UtcTime
    state: RecordState = RecordState.ACTIVE
    created_by: Principal | None = None
    revoked_at: UtcTime | None = None
    revoked_by: Principal | None = None
    reason: str | None = None
    last_action: RecordAction = RecordAction.MINTED
    actor: Principal | None = None
    renewals: int = 0
    last_renewed_at: UtcTime | None = None
    superseded_by: str | None = None  # client id of the token that replaced this one
    supersedes: str | None = None  # client id of the token this one replaced
    owner: OwnerRef | None = None
    secret_name: str | None = None
    revoke_after: UtcTime | None = None  # superseded tokens: revoke at this time
    # Minted as a replacement while the AstraToken names workloads to restart: the stamp to restart
    # them with (the new client id, or a rotation request's id shared by tokens rotated together),
    # until they were. Kept in the record so a crash between publishing and restarting still restarts.
    restart_for: str | None = None
    requested_by: Principal | None = None  # who asked for this token (a rotate request); None: the schedule
    restarted_at: UtcTime | None = None  # when its workloads were restarted for it
    restarts: int = 0  # workload restarts this AstraToken caused, over all its tokens so far
    # Superseded with workloads to restart: revoked only once their rollout finished (plus the grace
    # period), never later than its own max expiry; rollout_stuck once that took too long (told once).
    awaiting_rollout: bool = False
    rollout_stuck: bool = False

    @model_validator(mode="after")
    def _default_lease_id(self) -> TokenRecord:
        if not self.lease_id:
            object.__setattr__(self, "lease_id", lease_id_for(self.org_id, self.client_id))
        return self

    def audit_storage(self) -> dict[str, Any]:
        """The record as the ledger stores it: everything but the secret material."""
        data = self.model_dump(mode="json", by_alias=True, exclude={"token", "client_secret"})
        data["schemaVersion"] = SCHEMA_VERSION
        return data

    @property
    def credentials(self) -> TokenCredentials | None:
        """The token and client secret, when this record carries them."""
        if self.token is None or self.client_secret is None:
            return None
        return TokenCredentials(client_id=self.client_id, org_id=self.org_id, token=self.token,
                                client_secret=self.client_secret)

    def with_credentials(self, credentials: TokenCredentials) -> TokenRecord:
        return self.model_copy(update={"token": credentials.token, "client_secret": credentials.client_secret})

    # --- transitions: each returns the next version of the record ------------------------------

    def renewed(self, lease_expires_at: datetime, max_expires_at: datetime, *, at: datetime, actor: Principal,
                manual: bool = False, ttl_seconds: int | None = None) -> TokenRecord:
        return self.model_copy(update={
            "lease_expires_at": lease_expires_at, "max_expires_at": max_expires_at, "renewals": self.renewals + 1,
            "last_renewed_at": at, "actor": actor,
            "last_action": RecordAction.RENEWED_MANUALLY if manual else RecordAction.RENEWED,
            "ttl_seconds": self.ttl_seconds if ttl_seconds is None else ttl_seconds})

    def with_metadata(self, metadata: dict[str, str], *, actor: Principal) -> TokenRecord:
        return self.model_copy(update={"metadata": dict(metadata), "last_action": RecordAction.METADATA_UPDATED,
                                       "actor": actor})

    def restored(self, *, actor: Principal) -> TokenRecord:
        """The Secret was put back from this record (deleted or edited by someone)."""
        return self.model_copy(update={"last_action": RecordAction.RESTORED, "actor": actor})

    def restarted(self, *, at: datetime, workloads: int, actor: Principal) -> TokenRecord:
        return self.model_copy(update={"restart_for": None, "restarted_at": at, "restarts": self.restarts + workloads,
                                       "last_action": RecordAction.RESTARTED, "actor": actor})

    def superseded(self, *, by: str, revoke_after: datetime, actor: Principal,
                   awaiting_rollout: bool = False) -> TokenRecord:
        return self.model_copy(update={"state": RecordState.SUPERSEDED, "superseded_by": by,
                                       "revoke_after": revoke_after, "awaiting_rollout": awaiting_rollout,
                                       "last_action": RecordAction.SUPERSEDED, "actor": actor})

    def rollout_finished(self, *, revoke_after: datetime, actor: Principal) -> TokenRecord:
        """The workloads that held this (superseded) token have rolled out: revoke after the grace."""
        return self.model_copy(update={"awaiting_rollout": False, "revoke_after": revoke_after,
                                       "last_action": RecordAction.ROLLOUT_FINISHED, "actor": actor})

    def rollout_taking_too_long(self, *, actor: Principal) -> TokenRecord:
        return self.model_copy(update={"rollout_stuck": True, "last_action": RecordAction.ROLLOUT_STUCK,
                                       "actor": actor})

    def revoked(self, *, at: datetime, actor: Principal, reason: str, state: RecordState = RecordState.REVOKED,
                action: RecordAction = RecordAction.REVOKED) -> TokenRecord:
        """Revoked in Astra (or found gone there: ``state`` DELETED_EXTERNALLY), and why."""
        return self.model_copy(update={"state": state, "last_action": action, "actor": actor, "revoked_at": at,
                                       "revoked_by": actor, "reason": reason})

    def abandoned(self, *, actor: Principal, reason: str) -> TokenRecord:
        """Released without revoking: the token stays valid in Astra, and the ledger says who let it go."""
        return self.model_copy(update={"state": RecordState.ABANDONED, "last_action": RecordAction.ABANDONED,
                                       "actor": actor, "reason": reason})

    @property
    def live(self) -> bool:
        """Still valid in Astra as far as the ledger knows."""
        return self.state in (RecordState.ACTIVE, RecordState.SUPERSEDED)


class SlotClaim(_Stored):
    """Who holds the (org, role, logical name) slot. The names are stored too,
    because the slot's key is a hash a person cannot read."""

    client_id: str
    owner: OwnerRef
    claimed_at: UtcTime
    org_id: str | None = None
    role_name: str | None = None
    logical_name: str | None = None


class MintIntent(_Stored):
    """A mint in flight: written before Astra is asked, deleted once recorded."""

    intent_id: str
    owner: OwnerRef
    org_id: str
    role_id: str
    role_name: str
    logical_name: str
    marker: str  # the description sent to Astra; finds the token after a crash
    created_at: UtcTime
    token_expiry: UtcTime | None = None


def lease_id_for(org_id: str, client_id: str) -> str:
    return f"astra-tokens/{org_id}/{client_id}"


class VersionedRecord(NamedTuple):
    record: TokenRecord
    version: int  # the KV version to pass as expected_version for the next write


class RecordVersion(NamedTuple):
    """One entry of a record's history: each KV version is one recorded change."""

    version: int
    created_time: datetime
    record: TokenRecord


class VersionedSlot(NamedTuple):
    claim: SlotClaim
    version: int


class SlotStatus(StrEnum):
    CLAIMED = "claimed"  # this call took the slot (or moved it to a new client id)
    ALREADY_OURS = "already_ours"  # the same owner (uid) held it already: claiming is idempotent
    HELD_BY = "held_by"  # someone else holds it; ``holder`` says who


@dataclass(frozen=True)
class SlotOutcome:
    status: SlotStatus
    holder: SlotClaim  # the claim stored in the slot after the call
    version: int

    @property
    def ours(self) -> bool:
        return self.status is not SlotStatus.HELD_BY
