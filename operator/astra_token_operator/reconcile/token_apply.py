"""Apply: carry out one step of a token plan and fold what it did back into the
facts, so the planner can be asked again without reading anything twice.
Every action is idempotent: a crash mid-step is recovered by the next pass
planning from what it finds."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

from astra_token_operator.kube import KubeAlreadyExists, KubeConflict, KubeError, KubeNotFound, SecretSnapshot
from astra_token_operator.lifecycle_log import log_action
from astra_token_operator.policy.token_plan import (
    ClearRequests,
    FinishRollout,
    LedgerFacts,
    MarkSuperseded,
    Mint,
    RecordMetadata,
    RecordRenewal,
    RefuseRenewal,
    Replacing,
    Requests,
    ResolveIntent,
    RestartTargets,
    RevokeCurrent,
    RevokeSuperseded,
    TellRolloutStuck,
    TokenFacts,
    Work,
    WriteSecret,
)
from astra_token_operator.reconcile.errors import StaleFacts
from astra_token_operator.reconcile.events import EventSink
from astra_token_operator.reconcile.minting import MintOrder, failpoint, mint, resolve_intent, revoke_and_record
from astra_token_operator.reconcile.observer import Lifecycle, LifecycleOutcome
from astra_token_operator.reconcile.ports import AstraPort, Deps
from astra_token_operator.reconcile.secrets import desired_secret
from astra_token_operator.reconcile.token_facts import (
    PassContext,
    compare_secret,
    created_by,
    known_secret_facts,
    ledger_facts,
    publishable,
    request_stamp,
    secret_facts,
)
from astra_token_operator.reconcile.token_state import LedgerCache, TokenState
from astra_token_operator.reconcile.workloads import resolve_targets
from astra_token_operator.records import Principal, RecordAction, TokenRecord, VersionedRecord
from astra_token_operator.surface import (
    ANNOTATION_REQUEST_ID,
    ANNOTATION_REQUESTED_BY,
    ANNOTATION_RESTARTED_AT,
    REQUEST_ANNOTATIONS,
    TOKEN_PLURAL,
    EventReason,
    TokenReason,
)
from astra_token_operator.times import to_rfc3339
from astra_token_operator.vault import VaultCasMismatch


class TokenApplier:
    """Carries out the work of one pass for one AstraToken."""

    def __init__(self, deps: Deps, context: PassContext, state: TokenState, events: EventSink) -> None:
        self.deps, self.context, self.state, self.events = deps, context, state, events

    @property
    def _client(self) -> AstraPort:
        org = self.context.org
        assert org.root_token is not None
        return self.deps.astra.get(org.org_id, org.root_token, org.client_settings)

    @property
    def _log(self) -> dict[str, str]:
        return self.context.identity.log_fields

    async def apply(self, facts: TokenFacts, work: Work, now: datetime) -> TokenFacts:
        """Do ``work``; return the facts as they stand after it."""
        match work:
            case ResolveIntent(intent):
                await resolve_intent(self.deps, intent, self._client)
                self.state.forget_ledger()  # the intent may have completed a mint: read what it left
                return await self._refreshed(facts, now)
            case Mint():
                kinds = [Lifecycle.MINT] if work.replacing is Replacing.NOTHING else [Lifecycle.MINT,
                                                                                      Lifecycle.ROTATION]
                with self._counted(*kinds):
                    return await self._mint(facts, work, now)
            case RecordRenewal():
                with self._counted(Lifecycle.RENEWAL):
                    return await self._renew(facts, work, now)
            case RefuseRenewal(message):
                self.events.warning(EventReason.RENEW_REFUSED, message)
                return facts
            case RecordMetadata(metadata):
                current = _current(facts)
                stored = await self._store(current, current.record.with_metadata(dict(metadata),
                                                                                  actor=Principal.operator()))
                log_action("update-metadata", client_id=current.record.client_id, **self._log)
                return self._with(facts, current=stored)
            case RevokeCurrent():
                return await self._revoke_current(facts, work)
            case WriteSecret():
                with self._counted(*([Lifecycle.SECRET_RESTORE] if work.restore else [])):
                    return await self._write_secret(facts, work, now)
            case RestartTargets(stamp):
                return await self._restart(facts, stamp, now)
            case MarkSuperseded(revoke_after, awaiting):
                previous, current = _previous(facts), _current(facts)
                # Whoever caused the new token (a rotate request's requester, else the operator).
                actor = current.record.requested_by or Principal.operator()
                stored = await self._store(previous, previous.record.superseded(
                    by=current.record.client_id, revoke_after=revoke_after, actor=actor, awaiting_rollout=awaiting))
                return self._with(facts, previous=stored)
            case FinishRollout(revoke_after):
                previous = _previous(facts)
                stored = await self._store(previous, previous.record.rollout_finished(revoke_after=revoke_after,
                                                                                       actor=Principal.operator()))
                log_action("rollout-finished", client_id=previous.record.client_id,
                           message=f"revoked at {to_rfc3339(revoke_after)}", **self._log)
                return self._with(facts, previous=stored)
            case TellRolloutStuck(pending):
                previous = _previous(facts)
                stored = await self._store(previous, previous.record.rollout_taking_too_long(
                    actor=Principal.operator()))
                self.events.warning(EventReason.ROLLOUT_STUCK,
                                    f"{', '.join(pending)} did not finish rolling out within "
                                    f"{self.deps.config.rollout_timeout_seconds:.0f}s; token "
                                    f"{previous.record.client_id} stays valid until its max expiry "
                                    f"{to_rfc3339(previous.record.max_expires_at)}")
                return self._with(facts, previous=stored)
            case RevokeSuperseded(reason):
                previous = _previous(facts)
                await revoke_and_record(self.deps, self._client, previous, actor=Principal.operator(),
                                        reason=f"superseded: {reason}")
                self.events.info(EventReason.SUPERSEDED_REVOKED,
                                 f"token {previous.record.client_id} revoked: {reason}")
                return self._with(facts, drop_previous=True)
            case ClearRequests():
                await self._clear_requests(facts)
                return replace(facts, requests=Requests())
        raise AssertionError(f"unknown work {work!r}")  # pragma: no cover

    # --- the actions ---------------------------------------------------------------------------

    async def _mint(self, facts: TokenFacts, work: Mint, now: datetime) -> TokenFacts:
        context, policy = self.context, self.context.policy
        spec = context.org.spec.token_defaults
        cache = self.state.ledger
        old = cache.current if cache is not None else None
        order = MintOrder(ttl=policy.ttl, max_ttl=policy.max_ttl, metadata=dict(facts.metadata),
                          created_by=created_by(context.token), secret_name=facts.secret_name,
                          native_expiry=spec.native_expiry, description_prefix=spec.description_prefix or "",
                          supersedes=work.supersedes, restart_pending=work.restart_pending,
                          restarts=old.record.restarts if old is not None else 0,
                          restart_stamp=work.restart_stamp,
                          actor=Principal(username=work.actor) if work.actor else None,
                          replacing=work.replacing.value if work.supersedes else None)
        ours = cache is not None and cache.slot_holder_uid == context.identity.owner.uid
        known_slot = cache.slot_version if cache is not None and ours else None
        minted = await mint(self.deps, self._client, context.identity, order, now, slot_version=known_slot)
        self.state.ledger = LedgerCache(
            slot_holder_uid=context.identity.owner.uid, slot_holder="", slot_version=minted.slot_version,
            current=minted.current,
            previous=old if old is not None and work.replacing is Replacing.ROTATION else None)
        self._tell_minted(work, minted.current.record, native=minted.native_expiry)
        if work.answers_requests and facts.requests:
            await self._clear_requests(facts)
            facts = replace(facts, requests=Requests())
        if work.replacing is Replacing.NOTHING and self.state.secret_checked_at is None:
            # A first token has no Secret yet: create it without a look (an existing one makes the
            # create fail, and is then read and compared).
            self.state.secret_checked_at, self.state.secret_seen, self.state.secret_dirty = now, None, False
        return await self._refreshed(facts, now)

    def _tell_minted(self, work: Mint, record: TokenRecord, *, native: bool) -> None:
        client_id = record.client_id
        if work.replacing is Replacing.NOTHING:
            # The Ready condition (reason Issued) says it; an Event would be one more write per token.
            if not native and self.context.org.spec.token_defaults.native_expiry:
                self.events.warning(TokenReason.ISSUED, f"token {client_id} issued, but Astra refused tokenExpiry, so "
                                                        "it has no Astra-side expiry (the operator revokes it)")
            return
        by = f", on request by {work.actor}" if work.actor else ""
        log_action("rotate", client_id=client_id, lease_id=record.lease_id,
                   message=f"replaces {work.supersedes} ({work.replacing.value}){by}", **self._log)
        if work.replacing is Replacing.ROTATION:
            message = f"token {client_id} replaces {work.supersedes}, which stays valid for its grace period{by}"
        elif work.replacing is Replacing.DELETED_EXTERNALLY:
            self.events.warning(EventReason.DELETED_EXTERNALLY,
                                f"token {work.supersedes} was deleted in Astra outside the operator (revoked in "
                                f"Astra Portal or by another tool); token {client_id} replaces it")
            return
        else:
            message = f"token {client_id} replaces the {work.replacing.value} token {work.supersedes}"
        self.events.info(TokenReason.ROTATED, message)

    async def _renew(self, facts: TokenFacts, work: RecordRenewal, now: datetime) -> TokenFacts:
        current = _current(facts)
        actor = Principal(username=work.actor) if work.actor else Principal.operator()
        renewed = current.record.renewed(work.lease.lease_expires_at, work.lease.max_expires_at, at=now,
                                         actor=actor, manual=work.manual, ttl_seconds=work.ttl_seconds)
        stored = await self._store(current, renewed)
        until = to_rfc3339(renewed.lease_expires_at)
        if work.manual:
            capped = " (capped at the token's max expiry)" if work.capped_at_max else ""
            log_action("renew", client_id=renewed.client_id, message=f"on request by {actor.username}",
                       **self._log)
            self.events.info(EventReason.RENEWED_ON_REQUEST,
                             f"lease renewed until {until}{capped}, on request by {actor.username}")
        else:  # routine: the status (Renewed, lastRenewedAt, renewals) and the ledger say it, no Event
            # How long after it fell due it was decided (0 when jitter woke it a little early).
            late = max(0.0, (now - work.due_at).total_seconds()) if work.due_at is not None else 0.0
            self.deps.observer.renewal_late(late)
            log_action("renew", client_id=renewed.client_id, lease_id=renewed.lease_id, message=f"until {until}",
                       late_s=f"{late:.2f}", **self._log)
        return await self._refreshed(self._with(facts, current=stored), now)  # expiresAt moved

    async def _revoke_current(self, facts: TokenFacts, work: RevokeCurrent) -> TokenFacts:
        current = _current(facts)
        actor = Principal(username=work.actor) if work.actor else Principal.operator()
        stored = await revoke_and_record(self.deps, self._client, current, actor=actor, reason=work.reason,
                                         state=work.state, action=work.action)
        record = current.record
        if work.action is RecordAction.EXPIRED:
            self.events.warning(EventReason.LEASE_EXPIRED,
                                f"the lease of token {record.client_id} expired at "
                                f"{to_rfc3339(record.lease_expires_at)} (was the operator down?); it was revoked "
                                "and is being replaced")
        elif work.actor is None:
            self.events.warning(EventReason.REVOKED, f"token {record.client_id} revoked: {work.reason}; a new "
                                                     "token replaces it")
        else:
            self.events.warning(EventReason.REVOKED, f"token {record.client_id} revoked on request by "
                                                     f"{actor.username}; a new token replaces it")
        return self._with(facts, current=stored)

    async def _write_secret(self, facts: TokenFacts, work: WriteSecret, now: datetime) -> TokenFacts:
        current = _current(facts)
        desired = desired_secret(self.context.token, current.record, org_name=self.context.org.name)
        kube = self.deps.kube
        found = self.state.secret_seen  # as this pass last read or wrote it
        runtime, owner_uid = self.deps.runtime, self.context.identity.owner.uid
        runtime.secret_writing(owner_uid)
        written: SecretSnapshot | None = None
        try:
            if found is None:
                written = await kube.create_secret(desired)
                failpoint(self.deps.config, "after-secret")
            elif not found.matches(desired):
                written = await kube.update_secret(desired, current=found)
            else:
                written = found
        except (KubeConflict, KubeAlreadyExists, KubeNotFound):
            pass  # changed or deleted since we looked (someone else's write, or ours whose event is late)
        finally:
            runtime.secret_written(owner_uid, written.resource_version if written is not None else None)
        if written is None:  # look again and let the planner decide on what is there
            return replace(facts, secret=await secret_facts(self.deps, self.context, current.record, self.state,
                                                            now))
        self.state.secret_seen = written
        if work.restore:
            # Someone deleted or edited the Secret: put back from the ledger, no mint.
            stored = await self._store(current, current.record.restored(actor=Principal.operator()))
            facts = self._with(facts, current=stored)
            what = "; ".join(work.drift) or "it was deleted or edited"
            log_action("restore", client_id=current.record.client_id, secret=desired.name, message=what,
                       **self._log)
            self.events.warning(EventReason.SECRET_RESTORED, f"Secret {desired.name} restored from the ledger "
                                                             f"({what})")
        return replace(facts, secret=compare_secret(self.context, _current(facts).record, written))

    async def _restart(self, facts: TokenFacts, stamp: str, now: datetime) -> TokenFacts:
        """Ask for the workloads' restart in their batches; restart those that are due (for every
        token in the batch); once all have been, the record no longer owes a restart."""
        context, deps = self.context, self.deps
        namespace = context.identity.owner.namespace or ""
        window = timedelta(seconds=deps.config.restart_window_seconds)
        batches = deps.runtime.restart_batches
        batches.forget_done(now, keep=10 * window)
        waiting_until: datetime | None = None
        restarted = 0
        for kind, name in await resolve_targets(deps, namespace, context.token.spec.rollout_restart_targets):
            batch = batches.join((namespace, kind, name), stamp, context.identity.owner.name, now, window)
            if not batch.done and now < batch.due:
                waiting_until = batch.due if waiting_until is None else max(waiting_until, batch.due)
                continue
            if not batch.done:
                await self._restart_workload(namespace, kind, name, batch.stamp, sorted(batch.tokens), now)
                batch.done = True
            restarted += 1
        self.state.restart_wait_until = waiting_until
        if waiting_until is not None:
            return replace(facts, restart_wait_until=waiting_until)
        current = _current(facts)
        stored = await self._store(current, current.record.restarted(at=now, workloads=restarted,
                                                                      actor=Principal.operator()))
        return self._with(replace(facts, restart_wait_until=None), current=stored)

    async def _restart_workload(self, namespace: str, kind: str, name: str, stamp: str, tokens: list[str],
                                now: datetime) -> None:
        workload = {"apiVersion": "argoproj.io/v1alpha1" if kind == "Rollout" else "apps/v1", "kind": kind,
                    "metadata": {"name": name, "namespace": namespace}}
        why = f"to pick up new tokens of AstraToken {', '.join(tokens)}"
        try:
            found = await self.deps.kube.restart_rollout(namespace, kind, name,  # type: ignore[arg-type]
                                                         annotation=ANNOTATION_RESTARTED_AT, value=stamp,
                                                         restart_at=to_rfc3339(now))
        except KubeError as exc:
            self._tell(Lifecycle.WORKLOAD_RESTART, "error")
            self.events.warning(EventReason.ROLLOUT_RESTART_FAILED, f"{kind} {name}: {exc}")
            return
        self._tell(Lifecycle.WORKLOAD_RESTART, "ok" if found else "not_found")
        if not found:
            self.events.warning(EventReason.ROLLOUT_RESTART_FAILED,
                                f"{kind} {name} does not exist in {namespace}; fix spec.rolloutRestartTargets")
            return
        log_action("restart", workload=f"{kind}/{name}", message=why, **self._log)
        self.events.info(EventReason.ROLLOUT_RESTARTED, f"{kind} {name} restarted {why}")
        self.events.about(workload).info(EventReason.ROLLOUT_RESTARTED, f"restarted by astra-token-operator {why}")

    async def _clear_requests(self, facts: TokenFacts) -> None:
        token = self.context.token
        await self.deps.kube.patch_metadata(TOKEN_PLURAL, token.metadata.name, namespace=token.metadata.namespace,
                                            annotations={key: None for key in (*REQUEST_ANNOTATIONS,
                                                                                ANNOTATION_REQUESTED_BY,
                                                                                ANNOTATION_REQUEST_ID)})
        self.state.handled_requests = request_stamp(token.metadata.annotations)

    # --- helpers -------------------------------------------------------------------------------

    def _tell(self, action: Lifecycle, outcome: LifecycleOutcome) -> None:
        self.deps.observer.lifecycle(action, self.context.org.org_id, outcome)

    @contextlib.contextmanager
    def _counted(self, *actions: Lifecycle) -> Iterator[None]:
        """Count ``actions`` done (ok) or failed (error); a pass that must read again (StaleFacts,
        a lost check-and-set) has not failed and is counted when it is done."""
        try:
            yield
        except (StaleFacts, VaultCasMismatch):
            raise
        except Exception:
            for action in actions:
                self._tell(action, "error")
            raise
        for action in actions:
            self._tell(action, "ok")

    async def _store(self, found: VersionedRecord, updated: TokenRecord) -> VersionedRecord:
        version = await self.deps.ledger.write_record(updated, expected_version=found.version)
        return VersionedRecord(updated, version)

    def _with(self, facts: TokenFacts, *, current: VersionedRecord | None = None,
              previous: VersionedRecord | None = None, drop_previous: bool = False) -> TokenFacts:
        """The facts (and this process's cache) with the current or previous record replaced."""
        ledger = facts.ledger
        assert isinstance(ledger, LedgerFacts)
        cache = self.state.ledger
        if current is not None:
            ledger = replace(ledger, current=current)
            if cache is not None:
                cache.current = current
        if previous is not None or drop_previous:
            ledger = replace(ledger, previous=previous)
            if cache is not None:
                cache.previous = previous
        return replace(facts, ledger=ledger)

    async def _refreshed(self, facts: TokenFacts, now: datetime) -> TokenFacts:
        """After the record changed: the facts from the cache, and the Secret compared with the new
        record (read only when this process has not looked at it yet)."""
        ledger = await ledger_facts(self.deps, self.context.identity, self.state)
        current = ledger.current
        secret = None
        if current is not None and publishable(current):
            secret = known_secret_facts(self.context, current.record, self.state) or await secret_facts(
                self.deps, self.context, current.record, self.state, now)
        return replace(facts, ledger=ledger, secret=secret)


def _current(facts: TokenFacts) -> VersionedRecord:
    assert isinstance(facts.ledger, LedgerFacts)
    assert facts.ledger.current is not None
    return facts.ledger.current


def _previous(facts: TokenFacts) -> VersionedRecord:
    assert isinstance(facts.ledger, LedgerFacts)
    assert facts.ledger.previous is not None
    return facts.ledger.previous
