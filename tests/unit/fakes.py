"""In-memory implementations of the reconcile layer's ports (reconcile/ports.py)
and a clock the tests move by hand, so reconcile_token and finalize_token run
in unit tests without servers or sleeps. They keep the semantics the real
systems have and the reconcile layer relies on: check-and-set versions in the
ledger, tokens that Astra revokes and expires, Secrets with resourceVersions.
Each counts the calls made to it, as the servers' own counters would."""

from __future__ import annotations

import itertools
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from astra_token_operator.astra import (
    AstraClientSettings,
    AstraError,
    AstraOrgInfo,
    AstraRetryableError,
    AstraRole,
    CreatedToken,
    RevokeOutcome,
    TokenInfo,
)
from astra_token_operator.kube import (
    AccessRequest,
    AccessVerdict,
    DesiredSecret,
    KubeAlreadyExists,
    KubeConflict,
    KubeNotFound,
    KubeUnavailable,
    SecretSnapshot,
    SecretVersion,
)
from astra_token_operator.kube.patches import WorkloadKind
from astra_token_operator.records import (
    MintIntent,
    OrphanRevocation,
    Principal,
    SlotClaim,
    SlotOutcome,
    SlotStatus,
    TokenRecord,
    VersionedRecord,
    VersionedSlot,
)
from astra_token_operator.vault import LayoutMigration, VaultCasMismatch, VaultUnavailable

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | float) -> None:
        self.now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)


# --- Vault ---------------------------------------------------------------------------------------

@dataclass
class _Key:
    versions: list[Any] = field(default_factory=list)  # stored payloads, version n at index n-1


class InMemoryLedger:
    """The ledger's contract: records, slots and intents, each write a new version, check-and-set
    refusals as VaultCasMismatch. ``down`` makes every call VaultUnavailable."""

    def __init__(self) -> None:
        self.keys: dict[str, _Key] = {}
        self.calls: Counter[str] = Counter()
        self.down = False
        self.deletions: dict[str, Principal] = {}
        self.orphans: dict[str, OrphanRevocation] = {}

    def _call(self, operation: str) -> None:
        self.calls[operation] += 1
        if self.down:
            raise VaultUnavailable(f"Vault {operation}: connection refused", operation=operation, path="?")

    def _latest(self, key: str) -> tuple[Any, int] | None:
        found = self.keys.get(key)
        if found is None or not found.versions or found.versions[-1] is None:
            return None
        return found.versions[-1], len(found.versions)

    def _cas_write(self, operation: str, key: str, value: Any, cas: int | None) -> int:
        entry = self.keys.setdefault(key, _Key())
        current = len(entry.versions)
        if cas is not None and cas != current:
            raise VaultCasMismatch(f"Vault {operation} {key}: check-and-set lost (expected version {cas})",
                                   operation=operation, path=key)
        entry.versions.append(value)
        return len(entry.versions)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    # records: the audit record and, apart, its credentials (written once, at the mint)
    def record_display_path(self, org_id: str, client_id: str) -> str:
        return f"secret/astra-tokens/orgs/{org_id}/tokens/{client_id}"

    def credentials_display_path(self, org_id: str, client_id: str) -> str:
        return f"secret/astra-tokens/credentials/{org_id}/{client_id}"

    async def read_record(self, org_id: str, client_id: str, *, credentials: bool = False
                          ) -> VersionedRecord | None:
        self._call("read")
        found = self._latest(f"tokens/{org_id}/{client_id}")
        if found is None:
            return None
        record: TokenRecord = found[0]
        if credentials:
            self.calls["read-credentials"] += 1
            stored = self._latest(f"credentials/{org_id}/{client_id}")
            if stored is not None:
                record = record.with_credentials(stored[0])
        return VersionedRecord(record, found[1])

    async def write_record(self, record: TokenRecord, expected_version: int | None = None) -> int:
        self._call("write")
        key = f"tokens/{record.org_id}/{record.client_id}"
        current = len(self.keys.get(key, _Key()).versions)
        if expected_version is not None and expected_version != current:
            raise VaultCasMismatch(f"Vault write {key}: check-and-set lost (expected version {expected_version})",
                                   operation="write", path=key)
        if expected_version == 0:
            assert record.credentials is not None, "a new record needs its credentials"
            self.calls["write-credentials"] += 1
            self._cas_write("write-credentials", f"credentials/{record.org_id}/{record.client_id}",
                            record.credentials, 0)
        if expected_version == 1:
            self.calls["set-max-versions"] += 1
        audit = record.model_copy(update={"token": None, "client_secret": None})  # never the secrets
        return self._cas_write("write", key, audit, expected_version)

    async def migrate_layout(self) -> LayoutMigration:
        self._call("migrate-layout")
        return LayoutMigration(already=True)

    def records(self, org_id: str) -> dict[str, TokenRecord]:
        prefix = f"tokens/{org_id}/"
        return {key.removeprefix(prefix): entry.versions[-1] for key, entry in self.keys.items()
                if key.startswith(prefix) and entry.versions}

    def history(self, org_id: str, client_id: str) -> list[TokenRecord]:
        return list(self.keys[f"tokens/{org_id}/{client_id}"].versions)

    def bump(self, org_id: str, client_id: str) -> None:
        """Another writer writes the record again, as it is (its version moves on)."""
        entry = self.keys[f"tokens/{org_id}/{client_id}"]
        entry.versions.append(entry.versions[-1])

    # slots
    @staticmethod
    def _slot_key(org_id: str, role_name: str, logical_name: str) -> str:
        return f"slots/{org_id}/{role_name}/{logical_name}"

    @staticmethod
    def _named(claim: SlotClaim, org_id: str, role_name: str, logical_name: str) -> SlotClaim:
        """As the real ledger stores a claim: with the names its hashed key stands for."""
        return claim.model_copy(update={"org_id": org_id, "role_name": role_name, "logical_name": logical_name})

    async def list_slots(self, org_id: str) -> list[VersionedSlot]:
        self._call("list-slots")
        prefix = f"slots/{org_id}/"
        return [VersionedSlot(entry.versions[-1], len(entry.versions)) for key, entry in self.keys.items()
                if key.startswith(prefix) and entry.versions and entry.versions[-1] is not None]

    async def write_orphan(self, entry: OrphanRevocation) -> None:
        self._call("write-orphan")
        self.orphans[entry.client_id] = entry

    async def read_slot(self, org_id: str, role_name: str, logical_name: str) -> VersionedSlot | None:
        self._call("read-slot")
        found = self._latest(self._slot_key(org_id, role_name, logical_name))
        return None if found is None else VersionedSlot(found[0], found[1])

    async def claim_slot(self, org_id: str, role_name: str, logical_name: str, claim: SlotClaim) -> SlotOutcome:
        self._call("claim-slot")
        key = self._slot_key(org_id, role_name, logical_name)
        claim = self._named(claim, org_id, role_name, logical_name)
        found = self._latest(key)
        if found is None:
            version = self._cas_write("claim-slot", key, claim, len(self.keys.get(key, _Key()).versions))
            return SlotOutcome(SlotStatus.CLAIMED, claim, version)
        holder, version = found
        status = SlotStatus.ALREADY_OURS if holder.owner.uid == claim.owner.uid else SlotStatus.HELD_BY
        return SlotOutcome(status, holder, version)

    async def update_slot(self, org_id: str, role_name: str, logical_name: str, claim: SlotClaim,
                          expected_version: int | None = None) -> SlotOutcome:
        self._call("update-slot")
        key = self._slot_key(org_id, role_name, logical_name)
        claim = self._named(claim, org_id, role_name, logical_name)
        found = self._latest(key)
        if expected_version is None or found is None or found[1] != expected_version:
            self.calls["update-slot-read"] += 1
            if found is not None and found[0].owner.uid != claim.owner.uid:
                return SlotOutcome(SlotStatus.HELD_BY, found[0], found[1])
            expected_version = found[1] if found is not None else len(self.keys.get(key, _Key()).versions)
        version = self._cas_write("update-slot", key, claim, expected_version)
        return SlotOutcome(SlotStatus.CLAIMED, claim, version)

    async def free_slot(self, org_id: str, role_name: str, logical_name: str, owner_uid: str) -> bool:
        self._call("free-slot")
        key = self._slot_key(org_id, role_name, logical_name)
        found = self._latest(key)
        if found is None or found[0].owner.uid != owner_uid:
            return False
        del self.keys[key]
        return True

    # intents
    async def write_intent(self, intent: MintIntent) -> int:
        self._call("write-intent")
        key = f"intents/{intent.intent_id}"
        if self._latest(key) is not None:
            raise VaultCasMismatch(f"Vault write-intent {key}: check-and-set lost (intent id already used)",
                                   operation="write-intent", path=key)
        self.keys[key] = _Key([intent])
        return 1

    async def read_intent(self, intent_id: str) -> MintIntent | None:
        self._call("read-intent")
        found = self._latest(f"intents/{intent_id}")
        return None if found is None else found[0]

    async def list_intents(self) -> list[MintIntent]:
        self._call("list-intents")
        return [entry.versions[-1] for key, entry in self.keys.items() if key.startswith("intents/")]

    async def delete_intent(self, intent_id: str) -> None:
        self._call("delete-intent")
        self.keys.pop(f"intents/{intent_id}", None)

    # who deleted what
    async def write_deletion(self, owner_uid: str, who: Principal) -> None:
        self._call("write-deletion")
        self.deletions[owner_uid] = who

    async def read_deletion(self, owner_uid: str) -> Principal | None:
        self._call("read-deletion")
        return self.deletions.get(owner_uid)

    async def forget_deletion(self, owner_uid: str) -> None:
        self._call("forget-deletion")
        self.deletions.pop(owner_uid, None)

    async def read_root_token(self, path: str, key: str = "token") -> SecretStr:
        self._call("read-root-token")
        return SecretStr("AstraCS:root")


# --- Astra ---------------------------------------------------------------------------------------

@dataclass
class FakeToken:
    client_id: str
    description: str
    token: str
    expiry: datetime | None
    generated_on: datetime
    revoked: bool = False


class InMemoryAstra:
    """One org's DevOps API: tokens made, listed, revoked, and dead past their tokenExpiry.
    ``down``: every call answers 503. ``lagging``: client ids the list does not show yet (Astra's
    list lags behind creates). ``list_fails``: the list alone answers with this error."""

    def __init__(self, org_id: str, clock: FakeClock) -> None:
        self.org_id, self.clock = org_id, clock
        self.tokens: dict[str, FakeToken] = {}
        self.calls: Counter[str] = Counter()
        self.creates_first: list[bool] = []  # each create's place in the org's line: a first mint or not
        self.down = False
        self.lagging: set[str] = set()
        self.list_fails: AstraError | None = None
        self._ids = (f"client{n:018d}" for n in itertools.count(1))

    def _call(self, endpoint: str) -> None:
        self.calls[endpoint] += 1
        if self.down:
            raise AstraRetryableError("Astra answered 503", org_id=self.org_id, endpoint=endpoint, status=503)

    def valid(self, client_id: str) -> bool:
        token = self.tokens.get(client_id)
        return token is not None and not token.revoked and (token.expiry is None or self.clock() < token.expiry)

    def valid_ids(self) -> set[str]:
        return {client_id for client_id in self.tokens if self.valid(client_id)}

    async def create_token(self, *, role_ids: Sequence[str], description: str,
                           token_expiry: datetime | None = None, first: bool = False) -> CreatedToken:
        self._call("create")
        self.creates_first.append(first)
        client_id = next(self._ids)
        token = f"AstraCS:{client_id}:{secrets.token_hex(32)}"
        # Astra receives the expiry in RFC 3339 to the second (the client drops the fraction).
        expiry = token_expiry.replace(microsecond=0) if token_expiry is not None else None
        self.tokens[client_id] = FakeToken(client_id, description, token, expiry, self.clock())
        return CreatedToken.model_validate({
            "clientId": client_id, "secret": secrets.token_hex(16), "token": token, "orgId": self.org_id,
            "roles": list(role_ids), "generatedOn": self.clock().isoformat(), "description": description,
            "tokenExpiry": token_expiry})

    def add(self, description: str, *, age: timedelta = timedelta(0)) -> str:
        """A token made by someone else (a person, another cluster), ``age`` old."""
        client_id = next(self._ids)
        self.tokens[client_id] = FakeToken(client_id, description, f"AstraCS:{client_id}:{secrets.token_hex(32)}",
                                           None, self.clock() - age)
        return client_id

    def revoke_behind_our_back(self, client_id: str) -> None:
        self.tokens[client_id].revoked = True

    async def list_tokens(self) -> list[TokenInfo]:
        self._call("list")
        if self.list_fails is not None:
            raise self.list_fails
        return [TokenInfo.model_validate({"clientId": t.client_id, "generatedOn": t.generated_on.isoformat(),
                                          "description": t.description})
                for t in self.tokens.values() if self.valid(t.client_id) and t.client_id not in self.lagging]

    def accepts(self, token: str) -> bool:
        """Whether a token (its full AstraCS string) authenticates right now."""
        self._call("current-org")
        return any(t.token == token and self.valid(t.client_id) for t in self.tokens.values())

    async def revoke_token(self, client_id: str) -> RevokeOutcome:
        self._call("revoke")
        token = self.tokens.get(client_id)
        if token is None or not self.valid(client_id):  # revoked, or dead at its tokenExpiry
            return RevokeOutcome.ALREADY_GONE
        token.revoked = True
        return RevokeOutcome.REVOKED

    async def list_roles(self) -> list[AstraRole]:
        self._call("list-roles")
        return [AstraRole(id="r-1", name="R/W User")]

    async def current_org(self) -> AstraOrgInfo:
        self._call("current-org")
        return AstraOrgInfo(id=self.org_id, name="Acme")


class InMemoryAstraPool:
    def __init__(self, *orgs: InMemoryAstra) -> None:
        self.orgs = {org.org_id: org for org in orgs}

    def get(self, org_id: str, root_token: SecretStr, settings: AstraClientSettings | None = None) -> InMemoryAstra:
        return self.orgs[org_id]

    async def discard(self, org_id: str) -> None:
        pass

    async def check_credentials(self, org_id: str, token: SecretStr,
                                settings: AstraClientSettings | None = None) -> bool:
        org = self.orgs[org_id]
        if org.down:
            raise AstraRetryableError("Astra answered 503", org_id=org_id, endpoint="GET /v2/currentOrg", status=503)
        return org.accepts(token.get_secret_value())


# --- Kubernetes ----------------------------------------------------------------------------------

class InMemoryKube:
    """Secrets with resourceVersions, custom objects' status and metadata, rollout restarts."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], SecretSnapshot] = {}
        self.status: dict[tuple[str, str], dict[str, Any]] = {}
        self.labels: dict[tuple[str, str], dict[str, str]] = {}
        self.annotations: dict[tuple[str, str], dict[str, str]] = {}
        self.objects: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self.restarts: list[tuple[str, str, str, str]] = []  # namespace, kind, name, value
        self.workloads: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.grants: set[tuple[str, str, str | None]] = set()  # (username, verb, namespace) RBAC allows
        self.writes: Counter[str] = Counter()
        self.reads: Counter[str] = Counter()
        self.refuse_metadata_patches = 0  # the next N label/annotation patches fail (500)
        self._versions = itertools.count(1)

    def _snapshot(self, desired: DesiredSecret) -> SecretSnapshot:
        return SecretSnapshot(namespace=desired.namespace, name=desired.name, uid=f"secret-{desired.name}",
                              resource_version=str(next(self._versions)), data=dict(desired.data),
                              labels=dict(desired.labels), annotations=dict(desired.annotations),
                              owner_uids=[desired.owner.uid], type=desired.type)

    async def read_secret(self, namespace: str, name: str) -> SecretSnapshot | None:
        self.reads["secret"] += 1
        return self.secrets.get((namespace, name))

    async def create_secret(self, desired: DesiredSecret) -> SecretSnapshot:
        self.writes["create secret"] += 1
        if (desired.namespace, desired.name) in self.secrets:
            raise KubeAlreadyExists("the Secret exists", operation="create", kind="secrets")
        snapshot = self.secrets[(desired.namespace, desired.name)] = self._snapshot(desired)
        return snapshot

    async def update_secret(self, desired: DesiredSecret, *, current: SecretSnapshot) -> SecretSnapshot:
        self.writes["update secret"] += 1
        found = self.secrets.get((desired.namespace, desired.name))
        if found is None:
            raise KubeNotFound("the Secret is gone", operation="update", kind="secrets")
        if found.resource_version != current.resource_version:
            raise KubeConflict("the Secret changed", operation="update", kind="secrets")
        snapshot = self.secrets[(desired.namespace, desired.name)] = self._snapshot(desired)
        return snapshot

    async def delete_secret(self, namespace: str, name: str, *, uid: str | None = None) -> bool:
        self.writes["delete secret"] += 1
        return self.secrets.pop((namespace, name), None) is not None

    async def list_secret_versions(self, label_selector: str, namespaces: Iterable[str] = ()
                                   ) -> list[SecretVersion]:
        self.reads["list secrets"] += 1
        key, _, value = label_selector.partition("=")
        wanted = set(namespaces)
        return [SecretVersion(s.namespace, s.name, s.resource_version) for s in self.secrets.values()
                if s.labels.get(key) == value and (not wanted or s.namespace in wanted)]

    def edit_secret(self, namespace: str, name: str, **changes: Any) -> None:
        """Someone else changes the Secret (a new resourceVersion), unseen by any watch."""
        found = self.secrets[(namespace, name)]
        self.secrets[(namespace, name)] = found.model_copy(
            update={**changes, "resource_version": str(next(self._versions))})

    def secret_value(self, namespace: str, name: str, key: str) -> str:
        return self.secrets[(namespace, name)].data[key].get_secret_value()

    async def get_object(self, plural: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        self.reads[f"get {plural}"] += 1
        return self.objects.get((plural, namespace, name))

    async def list_objects(self, plural: str, label_selector: str | None = None,
                           namespace: str | None = None) -> list[dict[str, Any]]:
        self.reads[f"list {plural}"] += 1
        return [o for (p, ns, _), o in self.objects.items() if p == plural and (namespace is None or ns == namespace)]

    async def create_object(self, plural: str, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        self.writes[f"create {plural}"] += 1
        self.objects[(plural, namespace, body["metadata"]["name"])] = body
        return body

    async def patch_object(self, plural: str, name: str, patch: dict[str, Any],
                           namespace: str | None = None) -> dict[str, Any]:
        self.writes[f"patch {plural}"] += 1
        return self.objects[(plural, namespace, name)]

    async def delete_object(self, plural: str, name: str, namespace: str | None = None, *,
                            uid: str | None = None) -> bool:
        self.writes[f"delete {plural}"] += 1
        return self.objects.pop((plural, namespace, name), None) is not None

    async def patch_status(self, plural: str, name: str, status: dict[str, Any],
                           namespace: str | None = None) -> None:
        self.writes[f"patch {plural}/status"] += 1
        self.status.setdefault((namespace or "", name), {}).update(status)

    async def patch_metadata(self, plural: str, name: str, *, namespace: str | None = None,
                             labels: Mapping[str, str | None] | None = None,
                             annotations: Mapping[str, str | None] | None = None) -> None:
        if self.refuse_metadata_patches > 0:
            self.refuse_metadata_patches -= 1
            raise KubeUnavailable("the apiserver answered 500 (a webhook failed)", operation="patch", kind=plural)
        self.writes[f"patch {plural}"] += 1
        for store, changes in ((self.labels, labels), (self.annotations, annotations)):
            current = store.setdefault((namespace or "", name), {})
            for key, value in (changes or {}).items():
                if value is None:
                    current.pop(key, None)
                else:
                    current[key] = value

    async def restart_rollout(self, namespace: str, kind: WorkloadKind, name: str, *, annotation: str,
                              value: str, restart_at: str | None = None) -> bool:
        self.writes[f"restart {kind}"] += 1
        self.restarts.append((namespace, kind, name, value))
        workload = self.workloads.get((namespace, kind, name))
        if workload is None:
            return False
        workload["metadata"]["generation"] += 1  # a changed pod template: a rollout starts
        return True

    def add_workload(self, namespace: str, kind: str, name: str, labels: dict[str, str] | None = None) -> None:
        self.workloads[(namespace, kind, name)] = {
            "metadata": {"name": name, "generation": 1, "labels": labels or {}}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}}

    def finish_rollout(self, namespace: str, kind: str, name: str) -> None:
        """What the workload's controller reports once every replica is new and available."""
        workload = self.workloads[(namespace, kind, name)]
        workload["status"]["observedGeneration"] = workload["metadata"]["generation"]

    async def read_workload(self, namespace: str, kind: WorkloadKind, name: str) -> dict[str, Any] | None:
        return self.workloads.get((namespace, kind, name))

    async def list_workloads(self, namespace: str, kind: WorkloadKind, match_labels: Mapping[str, str]) -> list[str]:
        return sorted(n for (ns, k, n), w in self.workloads.items() if ns == namespace and k == kind
                      and all(w["metadata"]["labels"].get(key) == v for key, v in match_labels.items()))

    async def namespace_labels(self, name: str) -> dict[str, str] | None:
        return {}

    async def review_access(self, request: AccessRequest) -> AccessVerdict:
        """RBAC as a set of (username, verb, namespace) grants."""
        self.reads["access review"] += 1
        return AccessVerdict(allowed=(request.username, request.verb, request.namespace) in self.grants)

    async def namespace_uid(self, name: str) -> str | None:
        return "kube-system-uid-of-cluster-a" if name == "kube-system" else None

    @property
    def total_writes(self) -> int:
        return sum(self.writes.values())


class RecordedEvents:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def info(self, reason: str, message: str) -> None:
        self.seen.append(("Normal", reason, message))

    def warning(self, reason: str, message: str) -> None:
        self.seen.append(("Warning", reason, message))

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.seen]

    def about(self, obj: Mapping[str, Any]) -> RecordedEvents:
        """Events about another object land in the same list, its kind and name before the reason."""
        outer, where = self, f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"

        class About(RecordedEvents):
            def info(self, reason: str, message: str) -> None:
                outer.seen.append(("Normal", f"{where}:{reason}", message))

            def warning(self, reason: str, message: str) -> None:
                outer.seen.append(("Warning", f"{where}:{reason}", message))

        return About()
