"""The sweep of one org: reconcile the ledger with Astra's own token list (DESIGN.md §6).

Gather: the ledger's slots and records from the in-memory view (reconcile/ledger_view.py; read
from Vault once per process, then kept current by the operator's own reads and writes) and one
list call to Astra. Plan: policy/sweep_plan.py, asked again after each look it asks for (records
or intents the view does not hold, owners this process does not run, the credentials of tokens
Astra does not list). Apply: revoke orphans, record tokens deleted externally, free the slots of
owners gone from the cluster; each act reads what it acts on from Vault again first, under the
owner's lock. At rest that is one Astra call and no Vault read per sweep.

The org's daemon (reconcile/orgs.py: OrgCycle) runs a sweep once the org is verified after a
start (the start-up pass), then every ``spec.sweep.interval``, and reports the outcome in the
AstraOrg's status (``status.sweep`` and the Swept condition)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from astra_token_operator.astra import AstraError, RevokeOutcome, TokenInfo
from astra_token_operator.kube import KubeError
from astra_token_operator.lifecycle_log import log_action, warn_action
from astra_token_operator.models import Condition, SweepStatus
from astra_token_operator.policy.leases import taken_by_its_own_expiry
from astra_token_operator.policy.sweep_plan import (
    Act,
    Found,
    FreeStaleSlot,
    ListedToken,
    Look,
    RecordDeletedExternally,
    RevokeOrphan,
    SlotView,
    SweepFacts,
    Unseen,
    WakeOwner,
    plan_sweep,
)
from astra_token_operator.reconcile.finalize import live_records
from astra_token_operator.reconcile.minting import resolve_intent, revoke_and_record
from astra_token_operator.reconcile.observer import Lifecycle
from astra_token_operator.reconcile.ports import AstraPort, Deps
from astra_token_operator.reconcile.verified import OrgState
from astra_token_operator.records import OrphanRevocation, Principal, RecordAction, RecordState, TokenRecord
from astra_token_operator.surface import CONDITION_SWEPT, TOKEN_PLURAL, SweepReason, TokenReason
from astra_token_operator.vault import VaultCasMismatch, VaultError

MAX_STEPS = 6  # looks in a row before the sweep gives up deciding (it never should need as many)
OWNER_GETS = 5  # up to this many owners are looked up one by one; more, with one list of AstraTokens
KUBE_SYSTEM = "kube-system"


class ClusterIdUnknown(Exception):
    pass


async def resolve_cluster_id(deps: Deps) -> str:
    """The id every token's description names: the setting, else the kube-system namespace's uid."""
    if deps.config.cluster_id:
        return deps.config.cluster_id
    uid = await deps.kube.namespace_uid(KUBE_SYSTEM)
    if not uid:
        raise ClusterIdUnknown(f"the {KUBE_SYSTEM} namespace has no uid to name this cluster by; set "
                               "ASTRA_OPERATOR_CLUSTER_ID (the chart's clusterId)")
    return uid


@dataclass(frozen=True)
class SweepOutcome:
    started_at: datetime
    seconds: float
    unseen: Unseen | None = None
    found: Found | None = None
    orphans_revoked: tuple[str, ...] = ()
    deleted_externally: tuple[str, ...] = ()
    stale_slots_freed: tuple[str, ...] = ()  # "role/logical name"
    failure: str | None = None  # an act failed: the sweep stopped there

    @property
    def complete(self) -> bool:
        return self.unseen is None and self.failure is None

    def status(self) -> SweepStatus:
        found = self.found
        return SweepStatus(
            last_sweep_time=self.started_at, duration_seconds=round(self.seconds, 3),
            managed=found.managed if found else None, foreign=found.foreign if found else None,
            unmanaged=found.unmanaged if found else None, orphans_revoked=len(self.orphans_revoked),
            deleted_externally=len(self.deleted_externally), stale_slots_freed=len(self.stale_slots_freed))

    def condition(self, generation: int | None) -> Condition:
        if self.unseen is not None:
            return Condition(type=CONDITION_SWEPT, status="False", reason=self.unseen.reason,
                             message=self.unseen.message, observed_generation=generation)
        if self.failure is not None:
            return Condition(type=CONDITION_SWEPT, status="False", reason=SweepReason.INCOMPLETE,
                             message=f"{self.summary()}; then {self.failure}", observed_generation=generation)
        return Condition(type=CONDITION_SWEPT, status="True", reason=SweepReason.SWEPT, message=self.summary(),
                         observed_generation=generation)

    def summary(self) -> str:
        found = self.found or Found()
        text = (f"Astra lists {found.managed} token(s) of this cluster's ledger, {found.foreign} of other clusters "
                f"and {found.unmanaged} unmanaged; revoked {len(self.orphans_revoked)} orphan(s), recorded "
                f"{len(self.deleted_externally)} deleted externally, freed {len(self.stale_slots_freed)} stale "
                "slot(s)")
        if found.notes:
            more = f" (and {len(found.notes) - 3} more)" if len(found.notes) > 3 else ""
            text += "; " + "; ".join(found.notes[:3]) + more
        return text


def not_swept(reason: str, message: str, now: datetime) -> SweepOutcome:
    return SweepOutcome(started_at=now, seconds=0.0, unseen=Unseen(reason, message))


async def sweep_org(deps: Deps, org: OrgState) -> SweepOutcome:
    """One sweep of a verified org. Never raises for Astra, Vault or Kubernetes trouble: a sweep
    that cannot see does nothing and says why."""
    started, clock = time.monotonic(), deps.clock()
    if not org.ready or org.root_token is None:
        return not_swept(SweepReason.ORG_NOT_READY, f"AstraOrg {org.name!r} is not Ready: {org.message}", clock)
    client = deps.astra.get(org.org_id, org.root_token, org.client_settings)
    facts = await _gather(deps, org, client, clock)
    sweep = _Sweep(deps, org, client, facts)
    outcome = await sweep.run()
    outcome = replace(outcome, started_at=clock, seconds=time.monotonic() - started)
    if isinstance(facts.listing, tuple) and outcome.unseen is None:
        deps.runtime.ledger_view.prune(org.org_id, (t.client_id for t in facts.listing))
    log_action("sweep", org=org.org_id, name=org.name,
               message=(outcome.condition(None).message if outcome.complete else
                        f"incomplete: {outcome.condition(None).message}"))
    return outcome


async def _gather(deps: Deps, org: OrgState, client: AstraPort, now: datetime) -> SweepFacts:
    runtime = deps.runtime
    slots: tuple[SlotView, ...] | Unseen
    listing: tuple[ListedToken, ...] | Unseen
    records: dict[str, TokenRecord | None] = {}
    try:
        view = await runtime.ledger_view.load(org.org_id, deps.ledger)
    except VaultError as exc:
        slots = Unseen(SweepReason.LEDGER_UNREADABLE, f"the ledger could not be read ({exc}); nothing was revoked "
                                                      "or recorded")
        listing = ()  # not asked: it could not be compared with anything
    else:
        try:
            listing = _listing(await client.list_tokens())
        except AstraError as exc:
            listing = Unseen(SweepReason.LIST_FAILED, f"Astra's token list could not be read ({exc}); nothing was "
                                                      "revoked or recorded")
        # Taken once the list is in: what was minted while it was asked for (it may queue behind the
        # org's rate limit) is in the view already, and need not be read again.
        records = dict(view.records)
        slots = tuple(SlotView(role_name=role, logical_name=logical, owner=claim.owner, client_id=claim.client_id,
                               claimed_at=claim.claimed_at, cluster_id=claim.cluster_id)
                      for (role, logical), claim in view.slots.items())
    return SweepFacts(
        now=now, cluster_id=runtime.cluster_id, safety_age=_seconds(deps.config.sweep_safety_age_seconds),
        root_client_id=_client_id_of(org.root_token.get_secret_value() if org.root_token else ""),
        listing=listing, slots=slots, records=records, in_flight=frozenset(runtime.in_flight_intents),
        running=runtime.running_tokens(), credential_checks=deps.config.sweep_credential_checks)


class _Sweep:
    def __init__(self, deps: Deps, org: OrgState, client: AstraPort, facts: SweepFacts) -> None:
        self.deps, self.org, self.client, self.facts = deps, org, client, facts
        self.orphans: list[str] = []
        self.deleted: list[str] = []
        self.freed: list[str] = []

    async def run(self) -> SweepOutcome:
        for _ in range(MAX_STEPS):
            plan = plan_sweep(self.facts)
            if plan.unseen is not None:
                return self._outcome(unseen=plan.unseen)
            if plan.look:
                try:
                    await self._look(plan.look)
                except VaultError as exc:
                    return self._outcome(unseen=Unseen(SweepReason.LEDGER_UNREADABLE,
                                                       f"the ledger could not be read ({exc}); nothing was revoked "
                                                       "or recorded"))
                continue
            failure = await self._act(plan.acts)
            return self._outcome(found=plan.found, failure=failure)
        return self._outcome(failure="it kept finding more to look at; the next sweep decides")

    def _outcome(self, *, unseen: Unseen | None = None, found: Found | None = None,
                 failure: str | None = None) -> SweepOutcome:
        return SweepOutcome(started_at=self.facts.now, seconds=0.0, unseen=unseen, found=found,
                            orphans_revoked=tuple(self.orphans), deleted_externally=tuple(self.deleted),
                            stale_slots_freed=tuple(self.freed), failure=failure)

    # --- looking closer ------------------------------------------------------------------------

    async def _look(self, look: Look) -> None:
        facts, ledger, org_id = self.facts, self.deps.ledger, self.org.org_id
        records, fresh = dict(facts.records), set(facts.fresh)
        for client_id in look.records:
            found = await ledger.read_record(org_id, client_id)
            records[client_id] = found.record if found is not None else None
            fresh.add(client_id)
        intents = dict(facts.intents)
        for uid in look.intents:
            intent = await ledger.read_intent(uid)
            intents[uid] = intent.marker if intent is not None and intent.org_id == org_id else None
        owners, finalizing = dict(facts.owners), set(facts.finalizing)
        for uid, (exists, deleting) in (await self._owners(look)).items():
            owners[uid] = exists
            if deleting:
                finalizing.add(uid)
        credentials = dict(facts.credentials)
        for client_id in look.credentials:
            credentials[client_id] = await self._accepted(records.get(client_id), client_id)
        self.facts = replace(facts, records=records, fresh=frozenset(fresh), intents=intents, owners=owners,
                             finalizing=frozenset(finalizing), credentials=credentials)

    async def _owners(self, look: Look) -> dict[str, tuple[bool, bool]]:
        """Whether each AstraToken still exists (same uid), and whether it is being deleted. A
        lookup that fails counts as present: the sweep never frees a slot on a guess."""
        if not look.owners:
            return {}
        kube = self.deps.kube
        try:
            if len(look.owners) <= OWNER_GETS:
                bodies = [await kube.get_object(TOKEN_PLURAL, owner.name, owner.namespace) for owner in look.owners]
            else:
                bodies = list(await kube.list_objects(TOKEN_PLURAL))
        except KubeError as exc:
            warn_action("sweep", org=self.org.org_id, message=f"owners could not be looked up, taken as present: {exc}")
            return {owner.uid: (True, False) for owner in look.owners}
        metadata = [body.get("metadata", {}) for body in bodies if body is not None]
        existing = {str(meta.get("uid")): bool(meta.get("deletionTimestamp")) for meta in metadata}
        return {owner.uid: (owner.uid in existing, existing.get(owner.uid, False)) for owner in look.owners}

    async def _accepted(self, record: TokenRecord | None, client_id: str) -> bool | None:
        if record is None:
            return None
        token = record.token
        if token is None:  # records hold no secret: its credentials are read apart
            try:
                found = await self.deps.ledger.read_record(self.org.org_id, client_id, credentials=True)
            except VaultError as exc:
                warn_action("sweep", org=self.org.org_id, client_id=client_id,
                            message=f"its credentials could not be read: {exc}")
                return None
            token = found.record.token if found is not None else None
            if token is None:
                return None
        try:
            return await self.deps.astra.check_credentials(self.org.org_id, token, self.org.client_settings)
        except AstraError as exc:
            warn_action("sweep", org=self.org.org_id, client_id=client_id,
                        message=f"its own credentials could not be checked: {exc}")
            return None

    # --- acting ----------------------------------------------------------------------------------

    async def _act(self, acts: Sequence[Act]) -> str | None:
        """Carry out the acts in order; the first that fails stops the rest (said in the outcome)."""
        for act in acts:
            try:
                match act:
                    case RevokeOrphan():
                        await self._revoke_orphan(act)
                    case RecordDeletedExternally():
                        await self._record_deleted(act)
                    case FreeStaleSlot():
                        await self._free_slot(act)
                    case WakeOwner():
                        self._wake_owner(act)
            except VaultCasMismatch:
                continue  # someone wrote first: the next sweep decides on what is there
            except (AstraError, VaultError, KubeError) as exc:
                return str(exc)
        return None

    async def _revoke_orphan(self, act: RevokeOrphan) -> None:
        deps, org_id, client_id = self.deps, self.org.org_id, act.token.client_id
        found = await deps.ledger.read_record(org_id, client_id)  # a mint may have recorded it meanwhile
        if found is not None and found.record.live:
            return
        if await self.client.revoke_token(client_id) is not RevokeOutcome.REVOKED:
            return  # already gone: Astra's list lagged behind a revocation
        now = deps.clock()
        await deps.ledger.write_orphan(OrphanRevocation(
            client_id=client_id, org_id=org_id, description=act.token.description,
            generated_on=act.token.generated_on, owner_uid=act.owner_uid, revoked_at=now, reason=act.reason,
            cluster_id=deps.runtime.cluster_id))
        self.orphans.append(client_id)
        deps.observer.lifecycle(Lifecycle.REVOCATION, org_id, "ok")
        warn_action("sweep-orphan", org=org_id, client_id=client_id, message=f"revoked: {act.reason}")

    async def _record_deleted(self, act: RecordDeletedExternally) -> None:
        deps, org_id, uid = self.deps, self.org.org_id, act.slot.owner.uid
        async with deps.runtime.lock(uid):
            found = await deps.ledger.read_record(org_id, act.client_id)
            if found is None or found.record.state is not RecordState.ACTIVE:
                return
            now = deps.clock()
            if taken_by_its_own_expiry(found.record.max_expires_at, now):
                # Astra's own tokenExpiry took it (the operator was away when it was due to rotate).
                reason = "expired in Astra at its max expiry: Astra no longer lists it and refuses its own credentials"
                state, action, what = RecordState.EXPIRED, RecordAction.EXPIRED, "sweep-expired"
            else:
                reason = ("deleted in Astra outside the operator: Astra no longer lists it and refuses its own "
                          "credentials")
                state, action = RecordState.DELETED_EXTERNALLY, RecordAction.DELETED_EXTERNALLY
                what = "sweep-deleted-externally"
            gone = found.record.revoked(at=now, actor=Principal.operator(), reason=reason, state=state, action=action)
            await deps.ledger.write_record(gone, expected_version=found.version)
        if state is RecordState.DELETED_EXTERNALLY:
            self.deleted.append(act.client_id)
        warn_action(what, org=org_id, role=act.slot.role_name,
                    logical_name=act.slot.logical_name, client_id=act.client_id,
                    namespace=act.slot.owner.namespace, name=act.slot.owner.name, message=reason)
        deps.runtime.ledger_changed(uid)  # its daemon reads the ledger again and mints a replacement

    def _wake_owner(self, act: WakeOwner) -> None:
        log_action("sweep-overdue", org=self.org.org_id, client_id=act.client_id,
                   message="superseded and past its revocation time, yet listed: its AstraToken takes a pass")
        self.deps.runtime.ledger_changed(act.owner_uid)  # it reads the ledger again and revokes it

    async def _free_slot(self, act: FreeStaleSlot) -> None:
        deps, org_id, slot = self.deps, self.org.org_id, act.slot
        owner, ledger = slot.owner, deps.ledger
        where = {"org": org_id, "role": slot.role_name, "logical_name": slot.logical_name,
                 "namespace": owner.namespace, "name": owner.name}
        async with deps.runtime.lock(owner.uid):
            current = await ledger.read_slot(org_id, slot.role_name, slot.logical_name)
            if (current is None or current.claim.owner.uid != owner.uid
                    or current.claim.cluster_id != deps.runtime.cluster_id):
                return
            intent = await ledger.read_intent(owner.uid)
            if intent is not None and intent.org_id == org_id and owner.uid not in deps.runtime.in_flight_intents:
                await resolve_intent(deps, intent, self.client, owner_gone=True)
            reason = (f"its AstraToken {owner.namespace}/{owner.name} (uid {owner.uid}) no longer exists in this "
                      "cluster (was its finalizer removed by hand?)")
            for found in await live_records(deps, org_id, current.claim.client_id):
                await revoke_and_record(deps, self.client, found, actor=Principal.operator(), reason=reason)
            await ledger.free_slot(org_id, slot.role_name, slot.logical_name, owner.uid)
        self.freed.append(f"{slot.role_name}/{slot.logical_name}")
        warn_action("sweep-stale-slot", message=f"freed: {reason}", **where)
        deps.runtime.forget(owner.uid)
        deps.runtime.wake_blocked(TokenReason.CONFLICT)  # an AstraToken waiting for these names goes on


def _listing(tokens: Sequence[TokenInfo]) -> tuple[ListedToken, ...]:
    return tuple(ListedToken(t.client_id, t.description, t.generated_on) for t in tokens)


def _client_id_of(token: str) -> str | None:
    """The client id inside an AstraCS:<clientId>:<hex> token."""
    parts = token.split(":")
    return parts[1] if len(parts) == 3 and parts[0] == "AstraCS" else None


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
