"""What the sweep needs from the ledger, kept in memory: per org, its uniqueness slots and the
records they (and Astra's list) name. Loaded once per process (one listing of the org's slots,
then a read of each slot and of the record it names), then kept current by the operator's own
reads and writes, which all pass through ``ViewedLedger``. So a sweep at rest reads nothing from
Vault; it reads only what it does not know yet (a token minted since, a mint in flight).

The view only saves reads: every action the sweep takes reads what it acts on from Vault again
first (reconcile/sweep.py), so a view that lags behind can cost a read, never a wrong revocation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import SecretStr

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

if TYPE_CHECKING:
    from astra_token_operator.reconcile.ports import LedgerPort
    from astra_token_operator.vault import LayoutMigration

LOAD_CONCURRENCY = 8  # Vault reads in flight while a view loads (the ledger's worker pool is 8)


@dataclass
class OrgView:
    loaded: bool = False
    slots: dict[tuple[str, str], SlotClaim] = field(default_factory=dict)  # (role name, logical name) -> claim
    records: dict[str, TokenRecord | None] = field(default_factory=dict)  # client id -> record (None: none)


class LedgerView:
    def __init__(self) -> None:
        self._orgs: dict[str, OrgView] = {}
        # Mint intents this process wrote (or tried to) and has not deleted: intent id -> org id. The
        # only way an intent appears while this process runs the org, so with none open and none
        # left at the last listing, the ledger holds none to sweep (reconcile/orgs.py).
        self._open_intents: dict[str, str] = {}

    def org(self, org_id: str) -> OrgView:
        return self._orgs.setdefault(org_id, OrgView())

    def forget_org(self, org_id: str) -> None:
        self._orgs.pop(org_id, None)

    def note_slot(self, org_id: str, role_name: str, logical_name: str, claim: SlotClaim | None) -> None:
        slots = self.org(org_id).slots
        if claim is None:
            slots.pop((role_name, logical_name), None)
        else:
            slots[(role_name, logical_name)] = claim

    def note_record(self, org_id: str, client_id: str, record: TokenRecord | None) -> None:
        self.org(org_id).records[client_id] = record

    def note_intent(self, intent_id: str, org_id: str | None) -> None:
        """An intent written (``org_id``) or deleted (None) by this process."""
        if org_id is None:
            self._open_intents.pop(intent_id, None)
        else:
            self._open_intents[intent_id] = org_id

    def has_open_intents(self, org_id: str) -> bool:
        return org_id in self._open_intents.values()

    def prune(self, org_id: str, keep: Iterable[str]) -> None:
        """Forget records nothing refers to any more (neither a slot nor Astra's list), so the view
        does not grow with every rotation."""
        view = self.org(org_id)
        wanted = set(keep) | {claim.client_id for claim in view.slots.values()}
        view.records = {cid: record for cid, record in view.records.items()
                        if cid in wanted or (record is not None and record.live)}

    async def load(self, org_id: str, ledger: LedgerPort) -> OrgView:
        """The org's slots and the records they name, read once; the same view afterwards."""
        view = self.org(org_id)
        if view.loaded:
            return view
        slots = await ledger.list_slots(org_id)
        for found in slots:
            claim = found.claim
            if claim.role_name is not None and claim.logical_name is not None:
                self.note_slot(org_id, claim.role_name, claim.logical_name, claim)
        missing = sorted({s.claim.client_id for s in slots if s.claim.client_id} - set(view.records))
        gate = asyncio.Semaphore(LOAD_CONCURRENCY)

        async def read(client_id: str) -> None:
            async with gate:
                found = await ledger.read_record(org_id, client_id)
            self.note_record(org_id, client_id, found.record if found is not None else None)

        await asyncio.gather(*(read(client_id) for client_id in missing))
        view.loaded = True
        return view


class ViewedLedger:
    """The ledger, with every slot and record this process reads or writes noted in the view."""

    def __init__(self, ledger: LedgerPort, view: LedgerView) -> None:
        self._ledger, self._view = ledger, view

    @property
    def inner(self) -> LedgerPort:
        return self._ledger

    def record_display_path(self, org_id: str, client_id: str) -> str:
        return self._ledger.record_display_path(org_id, client_id)

    async def read_slot(self, org_id: str, role_name: str, logical_name: str) -> VersionedSlot | None:
        found = await self._ledger.read_slot(org_id, role_name, logical_name)
        self._view.note_slot(org_id, role_name, logical_name, found.claim if found is not None else None)
        return found

    async def list_slots(self, org_id: str) -> list[VersionedSlot]:
        return await self._ledger.list_slots(org_id)

    async def claim_slot(self, org_id: str, role_name: str, logical_name: str, claim: SlotClaim) -> SlotOutcome:
        outcome = await self._ledger.claim_slot(org_id, role_name, logical_name, claim)
        self._view.note_slot(org_id, role_name, logical_name, outcome.holder)
        return outcome

    async def update_slot(self, org_id: str, role_name: str, logical_name: str, claim: SlotClaim,
                          expected_version: int | None = None) -> SlotOutcome:
        outcome = await self._ledger.update_slot(org_id, role_name, logical_name, claim, expected_version)
        self._view.note_slot(org_id, role_name, logical_name,
                             claim if outcome.status is SlotStatus.CLAIMED else outcome.holder)
        return outcome

    async def free_slot(self, org_id: str, role_name: str, logical_name: str, owner_uid: str) -> bool:
        freed = await self._ledger.free_slot(org_id, role_name, logical_name, owner_uid)
        if freed:
            self._view.note_slot(org_id, role_name, logical_name, None)
        return freed

    def credentials_display_path(self, org_id: str, client_id: str) -> str:
        return self._ledger.credentials_display_path(org_id, client_id)

    async def read_record(self, org_id: str, client_id: str, *, credentials: bool = False
                          ) -> VersionedRecord | None:
        found = await self._ledger.read_record(org_id, client_id, credentials=credentials)
        self._view.note_record(org_id, client_id, found.record if found is not None else None)
        return found

    async def write_record(self, record: TokenRecord, expected_version: int | None = None) -> int:
        version = await self._ledger.write_record(record, expected_version)
        self._view.note_record(record.org_id, record.client_id, record)
        return version

    async def migrate_layout(self) -> LayoutMigration:
        return await self._ledger.migrate_layout()

    async def write_orphan(self, entry: OrphanRevocation) -> None:
        await self._ledger.write_orphan(entry)

    async def write_intent(self, intent: MintIntent) -> int:
        # Noted first: a write whose answer is lost (or refused because an earlier intent is left)
        # may still leave an intent in the ledger.
        self._view.note_intent(intent.intent_id, intent.org_id)
        return await self._ledger.write_intent(intent)

    async def read_intent(self, intent_id: str) -> MintIntent | None:
        found = await self._ledger.read_intent(intent_id)
        if found is None:  # a write noted but never landed (or deleted by a process before this one)
            self._view.note_intent(intent_id, None)
        return found

    async def list_intents(self) -> list[MintIntent]:
        return await self._ledger.list_intents()

    async def delete_intent(self, intent_id: str) -> None:
        await self._ledger.delete_intent(intent_id)
        self._view.note_intent(intent_id, None)

    async def write_deletion(self, owner_uid: str, who: Principal) -> None:
        await self._ledger.write_deletion(owner_uid, who)

    async def read_deletion(self, owner_uid: str) -> Principal | None:
        return await self._ledger.read_deletion(owner_uid)

    async def forget_deletion(self, owner_uid: str) -> None:
        await self._ledger.forget_deletion(owner_uid)

    async def read_root_token(self, path: str, key: str = "token") -> SecretStr:
        return await self._ledger.read_root_token(path, key)
