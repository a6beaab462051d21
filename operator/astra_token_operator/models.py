"""Typed views of the three custom resources (crds/*.yaml is the source of truth).

The apiserver validates specs against the CRD schema and CEL rules before the
operator sees them, so spec models ignore unknown fields and only re-check what
the operator itself must be able to parse (durations). Everything here is pure:
no I/O, no clock of its own (``now`` is passed in).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

from astra_token_operator.durations import parse_duration, parse_percent
from astra_token_operator.times import to_rfc3339

# Labels the operator puts on each AstraToken, so `kubectl get astratokens -l ...`
# answers the plugin's lookups by (org, role, logical name) and by client id.
# Sidecar mode: pods opt in with this label (the webhook's objectSelector) ...
# ... and name the AstraRole they want with this annotation.

# Who created the AstraToken (JSON: username, uid, groups); stamped at admission only.
# Requests a user makes by annotating an AstraToken; the operator removes them when done.
# Put on a rollout target's pod template to restart its pods after a rotation.









def _check_duration(value: int | str) -> int | str:
    parse_duration(value)  # raises DurationError (a ValueError) with a readable message
    return value


def _check_duration_or_percent(value: int | str) -> int | str:
    if isinstance(value, str) and value.strip().endswith("%"):
        fraction = parse_percent(value)
        if fraction is None or not 0.0 < fraction < 1.0:
            raise ValueError(f"{value!r} is not a percentage from 1% to 99%")
        return value
    return _check_duration(value)


def _status_time(moment: datetime) -> str:
    return to_rfc3339(moment)  # to the second, as Kubernetes writes times


# Durations keep the form the user wrote (3600, "1h") so they round-trip unchanged.
Duration = Annotated[int | str, AfterValidator(_check_duration)]
DurationOrPercent = Annotated[int | str, AfterValidator(_check_duration_or_percent)]
Timestamp = Annotated[AwareDatetime, PlainSerializer(_status_time, return_type=str, when_used="json")]


class _Model(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields ignored because
    the apiserver, not this module, is the validator."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        extra="ignore",
        frozen=True,
    )


# ---------------------------------------------------------------- AstraOrg


class SecretKeyRef(_Model):
    namespace: str
    name: str
    key: str = "token"


class VaultKeyRef(_Model):
    path: str
    key: str = "token"


class RootTokenRef(_Model):
    """Exactly one of secret / vault is set (the CRD enforces it)."""

    secret: SecretKeyRef | None = None
    vault: VaultKeyRef | None = None


class LabelSelectorRequirement(_Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default_factory=list)


class LabelSelector(_Model):
    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)


class RoleSync(_Model):
    enabled: bool = False
    interval: Duration = "1h"
    ttl: Duration = "24h"
    max_ttl: Duration = "24h"
    prune: bool = False

    @property
    def interval_delta(self) -> timedelta:
        return parse_duration(self.interval)

    @property
    def ttl_delta(self) -> timedelta:
        return parse_duration(self.ttl)

    @property
    def max_ttl_delta(self) -> timedelta:
        return parse_duration(self.max_ttl)


class TokenDefaults(_Model):
    native_expiry: bool = True
    description_prefix: str | None = None


class RateLimit(_Model):
    """Unset fields fall back to the operator's settings."""

    requests_per_second: float | None = None
    burst: int | None = None
    concurrency: int | None = None


class Sweep(_Model):
    """The reconciliation of the ledger with Astra's own token list (reconcile/sweep.py)."""

    interval: Duration = "10m"

    @property
    def interval_delta(self) -> timedelta:
        return parse_duration(self.interval)


class AstraOrgSpec(_Model):
    org_id: str
    url: str = "https://api.astra.datastax.com"
    logical_name: str | None = None
    caller_mode: Literal["standard", "sidecar"] = "standard"
    root_token_ref: RootTokenRef
    allowed_namespaces: list[str]
    namespace_selector: LabelSelector | None = None
    role_sync: RoleSync = Field(default_factory=RoleSync)
    token_defaults: TokenDefaults = Field(default_factory=TokenDefaults)
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    sweep: Sweep = Field(default_factory=Sweep)

    @property
    def api_base_url(self) -> str:
        """The url without a trailing slash, ready for joining API paths."""
        return self.url.rstrip("/")


# ---------------------------------------------------------------- AstraRole


class AstraRoleSpec(_Model):
    org_ref: str
    role_name: str | None = None
    role_id: str | None = None
    astra_role_name: str | None = None
    ttl: Duration = "24h"
    max_ttl: Duration = "24h"
    allowed_namespaces: list[str] | None = None

    @property
    def ttl_delta(self) -> timedelta:
        return parse_duration(self.ttl)

    @property
    def max_ttl_delta(self) -> timedelta:
        return parse_duration(self.max_ttl)


# ---------------------------------------------------------------- AstraToken


class SecretShapeSpec(_Model):
    """spec.secret.template: a preset shape, and keys rendered from templates over it."""

    preset: Literal["default", "env", "properties", "dotenv"] = "default"
    data: dict[str, str] = Field(default_factory=dict)


class SecretTemplate(_Model):
    name: str | None = None
    type: str = "Opaque"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    template: SecretShapeSpec | None = None


class LabelSelectorSpec(_Model):
    match_labels: dict[str, str] = Field(default_factory=dict)


class RolloutRestartTarget(_Model):
    """A workload to restart after a rotation: by name, or every one of its kind whose labels match."""

    kind: Literal["Deployment", "StatefulSet", "DaemonSet", "Rollout"]
    name: str | None = None
    selector: LabelSelectorSpec | None = None


class AstraTokenSpec(_Model):
    org_ref: str
    role_ref: str
    logical_name: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    ttl: Duration | None = None
    secret: SecretTemplate = Field(default_factory=SecretTemplate)
    renew_before: DurationOrPercent = "33%"
    rotation_grace_period: Duration = "5m"
    rollout_restart_targets: list[RolloutRestartTarget] = Field(default_factory=list)

    @property
    def ttl_delta(self) -> timedelta | None:
        """The token's own ttl, or None to use the role's."""
        return None if self.ttl is None else parse_duration(self.ttl)


# ---------------------------------------------------------------- conditions


class Condition(_Model):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    message: str = ""
    last_transition_time: Timestamp | None = None
    observed_generation: int | None = None

    @property
    def is_true(self) -> bool:
        return self.status == "True"


def find_condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def set_condition(conditions: Sequence[Condition], new: Condition, now: datetime) -> list[Condition]:
    """The conditions with `new` in place of the one of its type (appended if absent).

    lastTransitionTime moves only when the status changes, so it tells when the
    resource last became Ready or not, not when the operator last looked."""
    old = find_condition(conditions, new.type)
    unchanged = old is not None and old.status == new.status and old.last_transition_time is not None
    stamp = old.last_transition_time if unchanged and old is not None else now
    updated = new.model_copy(update={"last_transition_time": stamp})
    if old is None:
        return [*conditions, updated]
    return [updated if c.type == new.type else c for c in conditions]


# ---------------------------------------------------------------- statuses


class SweepStatus(_Model):
    """The last sweep: when it started, how long it took, and what it found and did. The counts
    of what it found are null when it could not see (the Swept condition says why)."""

    last_sweep_time: Timestamp | None = None
    duration_seconds: float | None = None
    managed: int | None = None  # listed tokens this cluster's ledger holds
    orphans_revoked: int | None = None
    deleted_externally: int | None = None
    stale_slots_freed: int | None = None
    foreign: int | None = None  # listed tokens whose description names another cluster
    unmanaged: int | None = None  # listed tokens nobody's marker claims (or the root token)


class AstraOrgStatus(_Model):
    conditions: list[Condition] = Field(default_factory=list)
    org_name: str | None = None
    active_tokens: int | None = None
    roles: int | None = None
    last_verified: Timestamp | None = None
    sweep: SweepStatus | None = None
    observed_generation: int | None = None


class AstraRoleStatus(_Model):
    conditions: list[Condition] = Field(default_factory=list)
    role_name: str | None = None
    role_id: str | None = None
    astra_role_name: str | None = None
    active_tokens: int | None = None
    observed_generation: int | None = None


class AstraTokenStatus(_Model):
    """Identity and lease of the current token; never the token or its secret."""

    conditions: list[Condition] = Field(default_factory=list)
    client_id: str | None = None
    org_id: str | None = None
    role_name: str | None = None
    logical_name: str | None = None
    generated_on: Timestamp | None = None
    lease_id: str | None = None
    lease_duration: int | None = None  # seconds
    lease_expires_at: Timestamp | None = None
    max_expires_at: Timestamp | None = None
    last_renewed_at: Timestamp | None = None
    renewals: int | None = None
    secret_name: str | None = None
    vault_path: str | None = None
    created_by: str | None = None
    next_action: str | None = None
    next_action_at: Timestamp | None = None
    restarts: int | None = None  # workload restarts this AstraToken caused
    last_restarted_at: Timestamp | None = None
    observed_generation: int | None = None


def status_patch(have: BaseModel | Mapping[str, Any], wanted: BaseModel) -> dict[str, Any]:
    """The merge patch of .status that turns ``have`` into ``wanted``: camelCase, RFC 3339 times,
    only the fields ``wanted`` sets that differ (a field set to None becomes null, which removes
    it). Empty when nothing differs, so a pass at rest writes nothing. ``have`` is a status model,
    or its JSON form (possibly overlaid with what this process last wrote)."""
    current = have.model_dump(mode="json", by_alias=True) if isinstance(have, BaseModel) else have
    want = wanted.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return {key: value for key, value in want.items() if current.get(key) != value}


# ---------------------------------------------------------------- whole resources


class ObjectMeta(_Model):
    """The few metadata fields the operator reads."""

    name: str
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    finalizers: list[str] = Field(default_factory=list)


class AstraOrg(_Model):
    metadata: ObjectMeta
    spec: AstraOrgSpec
    status: AstraOrgStatus = Field(default_factory=AstraOrgStatus)


class AstraRole(_Model):
    metadata: ObjectMeta
    spec: AstraRoleSpec
    status: AstraRoleStatus = Field(default_factory=AstraRoleStatus)

    @property
    def role_name(self) -> str:
        return effective_role_name(self.spec, self.metadata.name)


class AstraToken(_Model):
    metadata: ObjectMeta
    spec: AstraTokenSpec
    status: AstraTokenStatus = Field(default_factory=AstraTokenStatus)

    @property
    def logical_name(self) -> str:
        return effective_logical_name(self.spec, self.metadata.name)

    @property
    def secret_name(self) -> str:
        return effective_secret_name(self.spec, self.metadata.name)


# ---------------------------------------------------------------- defaults the operator applies


def effective_logical_name(spec: AstraTokenSpec, name: str) -> str:
    """spec.logicalName, else the resource's name; lower-cased as the plugin did."""
    return logical_name_of(spec.logical_name, name)


def logical_name_of(logical_name: str | None, name: str) -> str:
    """The same, from a raw spec's logicalName (a watch event's, not validated again)."""
    return (logical_name or name).lower()


def effective_role_name(spec: AstraRoleSpec, name: str) -> str:
    """spec.roleName, else the AstraRole's name; lower-cased as the plugin did."""
    return (spec.role_name or name).lower()


def effective_secret_name(spec: AstraTokenSpec, name: str) -> str:
    return spec.secret.name or name
