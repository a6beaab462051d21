"""What the reconcile layer needs of the outside systems, as small Protocols.

The real clients (astra.AstraClient and AstraClients, vault.Ledger, kube.Kube)
satisfy them; unit tests pass in-memory implementations, so reconciliation is
tested without servers. ``Deps`` bundles them with the settings, the clock, a
random source and the runtime registry: everything a pass is handed, nothing
it looks up."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import SecretStr

from astra_token_operator.astra import (
    AstraClientSettings,
    AstraOrgInfo,
    AstraRole,
    CreatedToken,
    RevokeOutcome,
    TokenInfo,
)
from astra_token_operator.config import OperatorConfig
from astra_token_operator.kube import AccessRequest, AccessVerdict, DesiredSecret, SecretSnapshot, SecretVersion
from astra_token_operator.kube.patches import WorkloadKind
from astra_token_operator.reconcile.observer import IGNORE, Observer
from astra_token_operator.reconcile.runtime import Runtime
from astra_token_operator.records import (
    MintIntent,
    OrphanRevocation,
    Principal,
    SlotClaim,
    SlotOutcome,
    TokenRecord,
    VersionedRecord,
    VersionedSlot,
)
from astra_token_operator.vault import LayoutMigration


class AstraPort(Protocol):
    """One org's DevOps API, with that org's root token."""

    async def create_token(self, *, role_ids: Sequence[str], description: str,
                           token_expiry: datetime | None = None, first: bool = False) -> CreatedToken: ...

    async def list_tokens(self) -> list[TokenInfo]: ...

    async def revoke_token(self, client_id: str) -> RevokeOutcome: ...

    async def list_roles(self) -> list[AstraRole]: ...

    async def current_org(self) -> AstraOrgInfo: ...


class AstraPool(Protocol):
    def get(self, org_id: str, root_token: SecretStr, settings: AstraClientSettings | None = None) -> AstraPort: ...

    async def discard(self, org_id: str) -> None: ...

    async def check_credentials(self, org_id: str, token: SecretStr,
                                settings: AstraClientSettings | None = None) -> bool: ...


class LedgerPort(Protocol):
    def record_display_path(self, org_id: str, client_id: str) -> str: ...

    async def read_slot(self, org_id: str, role_name: str, logical_name: str) -> VersionedSlot | None: ...

    async def list_slots(self, org_id: str) -> list[VersionedSlot]: ...

    async def claim_slot(self, org_id: str, role_name: str, logical_name: str, claim: SlotClaim) -> SlotOutcome: ...

    async def update_slot(self, org_id: str, role_name: str, logical_name: str, claim: SlotClaim,
                          expected_version: int | None = None) -> SlotOutcome: ...

    async def free_slot(self, org_id: str, role_name: str, logical_name: str, owner_uid: str) -> bool: ...

    def credentials_display_path(self, org_id: str, client_id: str) -> str: ...

    async def read_record(self, org_id: str, client_id: str, *, credentials: bool = False
                          ) -> VersionedRecord | None: ...

    async def write_record(self, record: TokenRecord, expected_version: int | None = None) -> int: ...

    async def write_orphan(self, entry: OrphanRevocation) -> None: ...

    async def write_intent(self, intent: MintIntent) -> int: ...

    async def read_intent(self, intent_id: str) -> MintIntent | None: ...

    async def list_intents(self) -> list[MintIntent]: ...

    async def delete_intent(self, intent_id: str) -> None: ...

    async def write_deletion(self, owner_uid: str, who: Principal) -> None: ...

    async def read_deletion(self, owner_uid: str) -> Principal | None: ...

    async def forget_deletion(self, owner_uid: str) -> None: ...

    async def read_root_token(self, path: str, key: str = "token") -> SecretStr: ...

    async def migrate_layout(self) -> LayoutMigration: ...


class KubePort(Protocol):
    async def read_secret(self, namespace: str, name: str) -> SecretSnapshot | None: ...

    async def create_secret(self, desired: DesiredSecret) -> SecretSnapshot: ...

    async def update_secret(self, desired: DesiredSecret, *, current: SecretSnapshot) -> SecretSnapshot: ...

    async def delete_secret(self, namespace: str, name: str, *, uid: str | None = None) -> bool: ...

    async def list_secret_versions(self, label_selector: str, namespaces: Iterable[str] = ()
                                   ) -> list[SecretVersion]: ...

    async def get_object(self, plural: str, name: str, namespace: str | None = None) -> dict[str, Any] | None: ...

    async def list_objects(self, plural: str, label_selector: str | None = None,
                           namespace: str | None = None) -> list[dict[str, Any]]: ...

    async def create_object(self, plural: str, body: dict[str, Any],
                            namespace: str | None = None) -> dict[str, Any]: ...

    async def patch_object(self, plural: str, name: str, patch: dict[str, Any],
                           namespace: str | None = None) -> dict[str, Any]: ...

    async def delete_object(self, plural: str, name: str, namespace: str | None = None, *,
                            uid: str | None = None) -> bool: ...

    async def patch_status(self, plural: str, name: str, status: dict[str, Any],
                           namespace: str | None = None) -> None: ...

    async def patch_metadata(self, plural: str, name: str, *, namespace: str | None = None,
                             labels: Mapping[str, str | None] | None = None,
                             annotations: Mapping[str, str | None] | None = None) -> None: ...

    async def restart_rollout(self, namespace: str, kind: WorkloadKind, name: str, *, annotation: str,
                              value: str, restart_at: str | None = None) -> bool: ...

    async def read_workload(self, namespace: str, kind: WorkloadKind, name: str) -> dict[str, Any] | None: ...

    async def list_workloads(self, namespace: str, kind: WorkloadKind,
                             match_labels: Mapping[str, str]) -> list[str]: ...

    async def namespace_labels(self, name: str) -> dict[str, str] | None: ...

    async def whoami(self) -> str: ...

    async def read_pod(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def review_access(self, request: AccessRequest) -> AccessVerdict: ...

    async def namespace_uid(self, name: str) -> str | None: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Deps:
    """Everything reconciliation is handed: the settings, the three systems, the clock, a random
    source, the runtime registry (what this process remembers between passes), and who watches
    (the metrics)."""

    config: OperatorConfig
    ledger: LedgerPort
    astra: AstraPool
    kube: KubePort
    runtime: Runtime = field(default_factory=Runtime)
    clock: Callable[[], datetime] = utc_now
    rng: random.Random = field(default_factory=random.Random)
    observer: Observer = IGNORE
