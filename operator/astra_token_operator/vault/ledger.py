"""The ledger: token records, uniqueness slots, mint intents and root tokens in
Vault KV v2. Async methods; every hvac call runs on a bounded thread pool,
never on the event loop. See docs/ledger.md for the layout."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Self, TypeVar

import hvac
from pydantic import BaseModel, SecretStr

from astra_token_operator.calls import CallListener, CallRecord, Outcome, ignore_calls
from astra_token_operator.config import OperatorConfig
from astra_token_operator.records import (
    SECRET_KEYS,
    MintIntent,
    OrphanRevocation,
    Principal,
    RecordVersion,
    SlotClaim,
    SlotOutcome,
    SlotStatus,
    TokenCredentials,
    TokenRecord,
    VersionedRecord,
    VersionedSlot,
)
from astra_token_operator.vault import kv
from astra_token_operator.vault.auth import authenticator_from_config
from astra_token_operator.vault.errors import (
    VaultCasMismatch,
    VaultError,
    VaultNotFound,
    VaultUnavailable,
)
from astra_token_operator.vault.layout import LAYOUT_VERSION, LayoutMigration, RecordLayout, recorded_at
from astra_token_operator.vault.paths import LedgerPaths, split_secret_path
from astra_token_operator.vault.session import VaultSession
from astra_token_operator.vault.stored import parse_stored

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
logger = logging.getLogger("astra_token_operator.vault")

# KV v2 keeps 10 versions per key unless told otherwise; a record's versions are
# its audit trail (every renewal is one), so records keep many more.
RECORD_MAX_VERSIONS = 1000
_CLAIM_ATTEMPTS = 3
# What may run before the layout is checked: nothing that reads or writes a token record.
_BEFORE_LAYOUT = frozenset({"migrate-layout", "read-root-token", "write-deletion", "read-deletion",
                            "forget-deletion"})


def _log(message: str, **fields: object) -> None:
    """One vocabulary (org, role, logical_name, client_id, action): in the text for
    plain logs and as ``extra`` for structured ones. Never a token."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(" ".join([message, *(f"{k}={v}" for k, v in fields.items())]), extra=fields)


def _record_secrets(record: TokenRecord) -> tuple[SecretStr, ...]:
    return tuple(value for value in (record.token, record.client_secret) if value is not None)


class Ledger:
    """The operator's records in Vault. Build with ``Ledger.from_config`` and
    close with ``await ledger.aclose()`` (or ``async with``)."""

    def __init__(
        self,
        session: VaultSession,
        *,
        mount: str = "secret",
        prefix: str = "astra-tokens",
        workers: int = 8,
        record_max_versions: int = RECORD_MAX_VERSIONS,
        listener: CallListener = ignore_calls,
        layout_checked: bool = True,
    ) -> None:
        self.paths = LedgerPaths(mount=mount, prefix=prefix)
        # False: every call but the few that touch no record waits (VaultUnavailable) until
        # ``migrate_layout`` has run, so nothing reads or writes a record while it is rewritten.
        self._layout_checked = layout_checked
        self._listener = listener
        self._session = session
        self._executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="astra-vault")
        self._record_max_versions = record_max_versions

    @classmethod
    def from_config(cls, config: OperatorConfig, listener: CallListener = ignore_calls, *,
                    layout_checked: bool = True) -> Ledger:
        session = VaultSession(
            config.vault_addr,
            authenticator_from_config(config),
            timeout_seconds=config.vault_timeout_seconds,
            ca_file=config.vault_ca_file,
        )
        return cls(session, mount=config.vault_kv_mount, prefix=config.vault_prefix,
                   workers=config.vault_workers, listener=listener, layout_checked=layout_checked)

    @property
    def mount(self) -> str:
        return self.paths.mount

    async def aclose(self) -> None:
        # Calls in flight end within the Vault timeout; queued ones are dropped.
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _run(
        self, operation: str, where: str, fn: Callable[[hvac.Client], T], secrets: Iterable[SecretStr] = ()
    ) -> T:
        """Run ``fn`` on a worker thread; ``where`` names the path in any error."""
        if not self._layout_checked and operation not in _BEFORE_LAYOUT:
            raise VaultUnavailable(f"Vault {operation} {where}: the ledger's layout is being checked (and migrated "
                                   "if needed); retried once that is done", operation=operation, path=where)
        call = functools.partial(self._session.call, operation, where, fn, tuple(secrets))
        started = time.monotonic()
        try:
            result = await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except VaultError as exc:
            # Told on the event loop: listeners need not be thread-safe.
            outcome: Outcome = "unavailable" if isinstance(exc, VaultUnavailable) else "refused"
            self._listener(CallRecord("vault", operation, outcome, time.monotonic() - started, status=exc.status))
            raise
        self._listener(CallRecord("vault", operation, "ok", time.monotonic() - started))
        return result

    async def ping(self) -> None:
        """One cheap call that needs Vault up and our login valid (token lookup-self, which every
        Vault policy allows): the readiness check asks it only while Vault is thought down."""
        await self._run("ping", "auth/token/lookup-self", lambda c: c.auth.token.lookup_self())

    async def _read(self, operation: str, key: str) -> kv.KvVersion | None:
        return await self._run(operation, self.paths.display(key), lambda c: kv.read(c, self.mount, key))

    async def _list(self, operation: str, key: str) -> list[str]:
        return await self._run(operation, self.paths.display(key), lambda c: kv.list_keys(c, self.mount, key))

    def _parse(self, model: type[M], data: dict[str, Any], operation: str, key: str) -> M:
        return parse_stored(model, data, operation=operation, path=self.paths.display(key))

    def _cas_lost(self, operation: str, key: str, why: str) -> VaultCasMismatch:
        where = self.paths.display(key)
        return VaultCasMismatch(f"Vault {operation} {where}: check-and-set lost ({why})",
                                operation=operation, path=where)

    # --- token records ---------------------------------------------------------------------------

    async def write_record(self, record: TokenRecord, expected_version: int | None = None) -> int:
        """Store a new version of the record; return its KV version. The record's token and client
        secret are never part of it: a new record (``expected_version=0``) has them written once,
        first, as its credentials (``credentials_path``); later versions leave them alone.

        ``expected_version``: check-and-set — 0 for a record that must not exist
        yet (a new mint), the version last read for an update; VaultCasMismatch
        when someone else wrote in between. None writes unconditionally (and the
        credentials too, when the record carries them)."""
        key = self.paths.record(record.org_id, record.client_id)
        data = record.audit_storage()
        credentials = record.credentials if expected_version in (None, 0) else None
        if expected_version == 0 and credentials is None:
            raise ValueError("a new record needs its token and client secret")

        def write(client: hvac.Client) -> int:
            if credentials is not None:
                self._write_credentials(client, credentials, unconditionally=expected_version is None)
            if expected_version == 1:
                # The record's first change: from now on keep its whole history (each version is an
                # audit entry). Done here, not at the mint, so a mint costs one request less; KV's
                # default keeps 10 versions, so nothing is lost before this.
                kv.set_max_versions(client, self.mount, key, self._record_max_versions)
            if expected_version is None:
                version: int | None = kv.write(client, self.mount, key, data)
            else:
                version = kv.try_write(client, self.mount, key, data, cas=expected_version)
            if version is None:
                raise self._cas_lost("write", key, f"expected version {expected_version}")
            return version

        version = await self._run("write", self.paths.display(key), write, _record_secrets(record))
        _log("ledger record written", org=record.org_id, role=record.role_name,
             logical_name=record.logical_name, client_id=record.client_id,
             action=record.last_action.value, state=record.state.value, version=version)
        return version

    def _write_credentials(self, client: hvac.Client, credentials: TokenCredentials, *,
                           unconditionally: bool = False) -> None:
        """Write a token's credentials once (check-and-set 0). Finding the same ones there already
        (a retried write whose answer was lost, a migration run again) is not an error."""
        key = self.paths.credentials(credentials.org_id, credentials.client_id)
        data = credentials.to_storage()
        if unconditionally:
            kv.write(client, self.mount, key, data)
            return
        if kv.try_write(client, self.mount, key, data, cas=0) is not None:
            return
        found = kv.read(client, self.mount, key)
        if found is None or found.data.get("token") != data["token"]:
            raise self._cas_lost("write-credentials", key, "other credentials are stored for this client id")

    def record_display_path(self, org_id: str, client_id: str) -> str:
        """The record's path as `bao kv get` takes it (``client_id=""``: the folder, ending in /)."""
        if not client_id:
            return self.paths.display(self.paths.tokens_dir(org_id)) + "/"
        return self.paths.display(self.paths.record(org_id, client_id))

    def credentials_display_path(self, org_id: str, client_id: str) -> str:
        """Where a token's credentials are, as `bao kv get` takes it."""
        return self.paths.display(self.paths.credentials(org_id, client_id))

    async def read_record(self, org_id: str, client_id: str, *, credentials: bool = False
                          ) -> VersionedRecord | None:
        """The latest version of a record, or None when there is none. With ``credentials`` the
        token and client secret are read too (one more request); a record whose credentials are
        missing comes back without them (``record.credentials`` is None)."""
        key = self.paths.record(org_id, client_id)
        secret_key = self.paths.credentials(org_id, client_id)

        def read(client: hvac.Client) -> tuple[kv.KvVersion | None, kv.KvVersion | None]:
            found = kv.read(client, self.mount, key)
            if found is None or not credentials or all(k in found.data for k in SECRET_KEYS):
                return found, None  # (a record of the first layout holds its secrets inline)
            return found, kv.read(client, self.mount, secret_key)

        found, secret = await self._run("read", self.paths.display(key), read)
        if found is None:
            return None
        record = self._parse(TokenRecord, found.data, "read", key)
        if secret is not None:
            record = record.with_credentials(self._parse(TokenCredentials, secret.data, "read", secret_key))
        return VersionedRecord(record, found.version)

    async def record_history(self, org_id: str, client_id: str) -> list[RecordVersion]:
        """Every readable version of a record, oldest first: the audit trail.
        Deleted or destroyed versions are skipped. A version rewritten by the
        layout migration keeps the time it was first recorded."""
        key = self.paths.record(org_id, client_id)
        where = self.paths.display(key)

        def history(client: hvac.Client) -> list[kv.KvVersion]:
            meta = kv.metadata(client, self.mount, key)
            live = [v.version for v in meta.versions if not v.deleted] if meta else []
            found = (kv.read(client, self.mount, key, version=number) for number in live)
            return [v for v in found if v is not None]

        versions = await self._run("read-history", where, history)
        return [
            RecordVersion(v.version, recorded_at(v),
                          parse_stored(TokenRecord, v.data, operation="read-history", path=where))
            for v in versions
        ]

    # --- the layout: records without their secrets --------------------------------------------------

    async def migrate_layout(self) -> LayoutMigration:
        """Split every record that still holds its token and client secret (the first layout)
        into a record without them and its credentials, rewriting its history so no version
        shows them; then note the layout, so later start-ups cost one read. Safe to run again
        and to interrupt: a record half rewritten is finished from its staged copy."""
        where = self.paths.display(self.paths.layout())
        migration = await self._run("migrate-layout", where, self._migrate_on_thread)
        self._layout_checked = True
        if migration.split:
            logger.info("ledger layout migrated: %d record(s) split into record and credentials",
                        migration.split, extra={"action": "migrate-layout"})
        return migration

    def _migrate_on_thread(self, client: hvac.Client) -> LayoutMigration:
        marker = kv.read(client, self.mount, self.paths.layout())
        if marker is not None and int(marker.data.get("version") or 0) >= LAYOUT_VERSION:
            self._layout_checked = True
            return LayoutMigration(already=True)
        layout = RecordLayout(client, self.mount, self.paths, self._record_max_versions)
        split = layout.finish_staged()
        orgs = [k.rstrip("/") for k in kv.list_keys(client, self.mount, self.paths.orgs_dir()) if k.endswith("/")]
        for org_id in orgs:
            for client_id in kv.list_keys(client, self.mount, self.paths.tokens_dir(org_id)):
                if not client_id.endswith("/") and layout.split(org_id, client_id):
                    split += 1
        kv.write(client, self.mount, self.paths.layout(), {"version": LAYOUT_VERSION, "splitRecords": split})
        self._layout_checked = True  # before the answer wakes anyone waiting on Vault
        return LayoutMigration(already=False, split=split)

    async def list_client_ids(self, org_id: str) -> list[str]:
        """Client ids with a record in the org, whatever their state."""
        return [k for k in await self._list("list", self.paths.tokens_dir(org_id)) if not k.endswith("/")]

    async def list_org_ids(self) -> list[str]:
        return [k.rstrip("/") for k in await self._list("list", self.paths.orgs_dir()) if k.endswith("/")]

    # --- uniqueness slots --------------------------------------------------------------------------

    def _claim_on_thread(self, client: hvac.Client, key: str, stored: SlotClaim) -> SlotOutcome:
        """Claim with cas=0; on losing, report who holds the slot. Runs on a worker thread."""
        for _ in range(_CLAIM_ATTEMPTS):
            version = kv.try_write(client, self.mount, key, stored.to_storage(), cas=0)
            if version is not None:
                return SlotOutcome(SlotStatus.CLAIMED, stored, version)
            current = kv.read(client, self.mount, key)
            if current is not None:
                holder = self._parse(SlotClaim, current.data, "claim-slot", key)
                same_owner = holder.owner.uid == stored.owner.uid
                return SlotOutcome(SlotStatus.ALREADY_OURS if same_owner else SlotStatus.HELD_BY, holder,
                                   current.version)
            # The key exists but its latest version is deleted (a `bao kv delete` by hand):
            # nobody holds it, and check-and-set on that version still lets only one writer win.
            meta = kv.metadata(client, self.mount, key)
            if meta is not None:
                version = kv.try_write(client, self.mount, key, stored.to_storage(), cas=meta.current_version)
                if version is not None:
                    return SlotOutcome(SlotStatus.CLAIMED, stored, version)
        raise self._cas_lost("claim-slot", key, "the slot kept changing; try again")

    async def claim_slot(
        self, org_id: str, role_name: str, logical_name: str, claim: SlotClaim
    ) -> SlotOutcome:
        """Take the (org, role, logical name) slot for ``claim``. Exactly one of
        any number of concurrent claimers gets CLAIMED; a claimer with the same
        owner uid as the holder gets ALREADY_OURS (with the stored claim, which
        may name an earlier client id: ``update_slot`` moves it); everyone else
        HELD_BY, with the holder's claim."""
        key = self.paths.slot(org_id, role_name, logical_name)
        stored = _with_names(claim, org_id, role_name, logical_name)
        outcome = await self._run("claim-slot", self.paths.display(key),
                                  lambda c: self._claim_on_thread(c, key, stored))
        _log("ledger slot claim", org=org_id, role=role_name, logical_name=logical_name,
             client_id=claim.client_id, action="claim-slot", outcome=outcome.status.value)
        return outcome

    async def read_slot(self, org_id: str, role_name: str, logical_name: str) -> VersionedSlot | None:
        key = self.paths.slot(org_id, role_name, logical_name)
        found = await self._read("read-slot", key)
        if found is None:
            return None
        return VersionedSlot(self._parse(SlotClaim, found.data, "read-slot", key), found.version)

    async def list_slots(self, org_id: str) -> list[VersionedSlot]:
        """Every slot of the org (one listing, then one read per slot, on the worker thread)."""
        folder = self.paths.slots_dir(org_id)

        def read_all(client: hvac.Client) -> list[tuple[str, kv.KvVersion]]:
            found = []
            for name in kv.list_keys(client, self.mount, folder):
                version = None if name.endswith("/") else kv.read(client, self.mount, f"{folder}/{name}")
                if version is not None:  # None: a folder, or freed since the listing
                    found.append((name, version))
            return found

        entries = await self._run("list-slots", self.paths.display(folder), read_all)
        return [VersionedSlot(self._parse(SlotClaim, v.data, "list-slots", f"{folder}/{name}"), v.version)
                for name, v in entries]

    async def update_slot(
        self, org_id: str, role_name: str, logical_name: str, claim: SlotClaim, expected_version: int | None = None
    ) -> SlotOutcome:
        """Point our slot at a new client id (rotation), check-and-set on its
        current version. HELD_BY (nothing written) when another owner holds it;
        a free slot is claimed; VaultCasMismatch when it changed under us.
        ``expected_version``: the version the caller knows is ours (it claimed or
        read it): written without reading first."""
        key = self.paths.slot(org_id, role_name, logical_name)
        stored = _with_names(claim, org_id, role_name, logical_name)

        def update(client: hvac.Client) -> SlotOutcome:
            if expected_version is not None:
                written = kv.try_write(client, self.mount, key, stored.to_storage(), cas=expected_version)
                if written is not None:
                    return SlotOutcome(SlotStatus.CLAIMED, stored, written)
            current = kv.read(client, self.mount, key)
            if current is None:
                return self._claim_on_thread(client, key, stored)
            holder = self._parse(SlotClaim, current.data, "update-slot", key)
            if holder.owner.uid != stored.owner.uid:
                return SlotOutcome(SlotStatus.HELD_BY, holder, current.version)
            version = kv.try_write(client, self.mount, key, stored.to_storage(), cas=current.version)
            if version is None:
                raise self._cas_lost("update-slot", key, f"expected version {current.version}")
            return SlotOutcome(SlotStatus.CLAIMED, stored, version)

        outcome = await self._run("update-slot", self.paths.display(key), update)
        _log("ledger slot update", org=org_id, role=role_name, logical_name=logical_name,
             client_id=claim.client_id, action="update-slot", outcome=outcome.status.value)
        return outcome

    async def free_slot(self, org_id: str, role_name: str, logical_name: str, owner_uid: str) -> bool:
        """Free the slot if ``owner_uid`` holds it, by deleting the key's metadata
        (every version): a soft delete would leave a version behind and the next
        cas=0 claim would fail. False (nothing touched) when someone else holds it."""
        key = self.paths.slot(org_id, role_name, logical_name)

        def free(client: hvac.Client) -> bool:
            current = kv.read(client, self.mount, key)
            if current is None:
                if kv.metadata(client, self.mount, key) is not None:
                    kv.delete_all(client, self.mount, key)  # only soft-deleted versions were left
                return False
            holder = self._parse(SlotClaim, current.data, "free-slot", key)
            if holder.owner.uid != owner_uid:
                return False
            kv.delete_all(client, self.mount, key)
            return True

        freed = await self._run("free-slot", self.paths.display(key), free)
        _log("ledger slot free", org=org_id, role=role_name, logical_name=logical_name,
             action="free-slot", freed=freed)
        return freed

    # --- orphans the sweep revoked ----------------------------------------------------------------

    async def write_orphan(self, entry: OrphanRevocation) -> None:
        key = self.paths.orphan(entry.org_id, entry.client_id)
        await self._run("write-orphan", self.paths.display(key),
                        lambda c: kv.write(c, self.mount, key, entry.to_storage()))
        _log("ledger orphan recorded", org=entry.org_id, client_id=entry.client_id, action="write-orphan")

    # --- mint intents ------------------------------------------------------------------------------

    async def write_intent(self, intent: MintIntent) -> int:
        """Record a mint about to happen. Intent ids are never reused: a second
        write of the same id is refused (VaultCasMismatch)."""
        key = self.paths.intent(intent.intent_id)

        def write(client: hvac.Client) -> int:
            version = kv.try_write(client, self.mount, key, intent.to_storage(), cas=0)
            if version is None:
                raise self._cas_lost("write-intent", key, "intent id already used")
            return version

        version = await self._run("write-intent", self.paths.display(key), write)
        _log("ledger intent written", org=intent.org_id, role=intent.role_name,
             logical_name=intent.logical_name, intent=intent.intent_id, action="write-intent")
        return version

    async def read_intent(self, intent_id: str) -> MintIntent | None:
        key = self.paths.intent(intent_id)
        found = await self._read("read-intent", key)
        return None if found is None else self._parse(MintIntent, found.data, "read-intent", key)

    async def list_intents(self) -> list[MintIntent]:
        """Every intent still in the ledger (mints not yet recorded), oldest first."""
        folder = self.paths.intents_dir()

        def read_all(client: hvac.Client) -> list[tuple[str, dict[str, Any]]]:
            found = []
            for name in kv.list_keys(client, self.mount, folder):
                version = None if name.endswith("/") else kv.read(client, self.mount, f"{folder}/{name}")
                if version is not None:  # None: a folder, or deleted since the listing
                    found.append((name, version.data))
            return found

        entries = await self._run("list-intents", self.paths.display(folder), read_all)
        intents = [parse_stored(MintIntent, data, operation="list-intents",
                                path=self.paths.display(f"{folder}/{name}"))
                   for name, data in entries]
        return sorted(intents, key=lambda i: i.created_at)

    async def delete_intent(self, intent_id: str) -> None:
        """Forget an intent (every version). Deleting one that is gone is not an error."""
        key = self.paths.intent(intent_id)
        await self._run("delete-intent", self.paths.display(key), lambda c: kv.delete_all(c, self.mount, key))
        _log("ledger intent deleted", intent=intent_id, action="delete-intent")

    # --- who deleted what ---------------------------------------------------------------------------

    async def write_deletion(self, owner_uid: str, who: Principal) -> None:
        """Remember who asked to delete an AstraToken (seen at admission), for the
        finalizer to write into the record's revokedBy, whichever replica runs it."""
        key = self.paths.deletion(owner_uid)
        await self._run("write-deletion", self.paths.display(key),
                        lambda c: kv.write(c, self.mount, key, who.to_storage()))

    async def read_deletion(self, owner_uid: str) -> Principal | None:
        """Who asked to delete the AstraToken; None when nobody was recorded."""
        key = self.paths.deletion(owner_uid)
        found = await self._read("read-deletion", key)
        return None if found is None else self._parse(Principal, found.data, "read-deletion", key)

    async def forget_deletion(self, owner_uid: str) -> None:
        """Once the finalizer has recorded it in the token's record."""
        key = self.paths.deletion(owner_uid)
        await self._run("forget-deletion", self.paths.display(key), lambda c: kv.delete_all(c, self.mount, key))

    # --- root tokens --------------------------------------------------------------------

    async def read_root_token(self, path: str, key: str = "token") -> SecretStr:
        """An AstraOrg's root token kept in Vault (KV v2).

        ``path`` is read as `bao kv get <path>` reads it: OpenBao says which
        mount the path lies under (``sys/internal/ui/mounts``). A path under no
        mount the operator can see is relative to the ledger's mount:
        ``astra/root`` means ``secret/astra/root``. VaultNotFound when the
        secret or its ``key`` is missing."""
        operation = "read-root-token"

        def read(client: hvac.Client) -> SecretStr:
            found_mount = kv.mount_of(client, path)
            if found_mount is not None and found_mount[1] != "2":
                raise VaultError(f"Vault {operation} {path}: {found_mount[0]!r} is not a KV version 2 mount",
                                 operation=operation, path=path)
            mount, secret_key = _split_or_raise(path, found_mount[0] if found_mount else None, self.mount)
            resolved = f"{mount}/{secret_key}"
            version = kv.read(client, mount, secret_key)
            value = version.data.get(key) if version is not None else None
            if not isinstance(value, str) or not value:
                what = "no such secret" if version is None else f"the secret has no key {key!r}"
                raise VaultNotFound(f"Vault {operation} {resolved}: {what}",
                                    operation=operation, path=resolved)
            return SecretStr(value)

        return await self._run(operation, path.strip("/"), read)



def _with_names(claim: SlotClaim, org_id: str, role_name: str, logical_name: str) -> SlotClaim:
    """The slot's key is a hash; the stored claim says what it is for."""
    return claim.model_copy(update={"org_id": org_id, "role_name": role_name, "logical_name": logical_name})


def _split_or_raise(path: str, mount_from_vault: str | None, ledger_mount: str) -> tuple[str, str]:
    try:
        return split_secret_path(path, mount_from_vault, ledger_mount)
    except ValueError as exc:
        message = str(exc)
    raise VaultError(f"Vault read-root-token {path}: {message}", operation="read-root-token", path=path)
