"""One reconciliation pass of an AstraToken: gather -> plan -> apply, until the
plan holds nothing but reports; then write them and say when to look again.

Level-triggered: the pass reads the current state (the slot names the current
token, the record holds its lease) and does what is due, so a pass interrupted
by a crash is simply run again. The slot, not the status, is the truth about
which token is current; the status is a report."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from astra_token_operator.astra import AstraError
from astra_token_operator.kube import KubeError
from astra_token_operator.lifecycle_log import log_action, warn_action
from astra_token_operator.models import AstraToken, status_patch
from astra_token_operator.policy.token_plan import (
    Blocked,
    Report,
    TokenFacts,
    blocked_status,
    plan_token_pass,
    ready_reason,
)
from astra_token_operator.reconcile.errors import PassBlocked, StaleFacts, backoff_seconds, blocked_by
from astra_token_operator.reconcile.events import EventSink
from astra_token_operator.reconcile.observer import TokenView
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.reconcile.token_apply import TokenApplier
from astra_token_operator.reconcile.token_facts import base_facts, gather
from astra_token_operator.reconcile.token_state import TokenState
from astra_token_operator.records import RecordState
from astra_token_operator.surface import TOKEN_PLURAL, TokenReason
from astra_token_operator.vault import VaultCasMismatch, VaultError

CAS_RETRIES_AT_ONCE = 3  # lost check-and-sets re-read at once before backing off
MAX_STEPS = 12  # a pass that has not converged by then stops and looks again at once (it never should)


async def reconcile_token(deps: Deps, body: dict[str, Any], events: EventSink) -> float:
    """Run one pass; return how many seconds to sleep before the next. Never raises for Astra,
    Vault or Kubernetes trouble: it becomes Ready=False and a wait that ends when the system at
    fault answers again (or the backoff runs out)."""
    token = AstraToken.model_validate(body)
    state = deps.runtime.token(token.metadata.uid or "")
    state.armed_as = None  # what this pass finds replaces what the status said
    if state.seen_generation is None:
        state.seen_generation = token.metadata.generation
    now = deps.clock()
    facts = base_facts(deps, token, state, now)
    try:
        facts, report = await _converge(deps, token, state, facts, events, now)
    except PassBlocked as exc:
        state.forget_ledger()
        problem = exc.blocked
    except StaleFacts:
        state.forget_ledger()
        return 0.0
    except VaultCasMismatch as exc:
        # Someone wrote the record first (a previous process of ours, killed mid-pass, or a write
        # whose answer was lost): news, not an outage. Read again and decide again, at once.
        state.forget_ledger()
        state.cas_losses += 1
        if state.cas_losses <= CAS_RETRIES_AT_ONCE:
            log_action("reread", namespace=token.metadata.namespace, name=token.metadata.name,
                       message=f"the ledger changed under this pass ({exc}); deciding again")
            return 0.0
        problem = Blocked(TokenReason.LEDGER_CONFLICT,
                          f"the ledger record keeps changing under the operator ({exc}); is a second operator "
                          "writing the same Vault ledger?", retry_after=backoff_seconds(state.failures + 1, cap=30))
    except (VaultError, AstraError, KubeError) as exc:
        # What the pass knew may be incomplete (a Vault write whose answer was lost may have landed,
        # a mint may have got as far as its slot): the next pass reads the ledger again.
        state.forget_ledger()
        problem = blocked_by(exc, state.failures + 1)
    else:
        if isinstance(report, Blocked):
            problem = report
        else:
            state.failures = state.cas_losses = 0
            state.last_blocked = None
            try:
                await _report(deps, token, state, report)
            except KubeError as exc:  # the apiserver refused the report: it waits like any other step
                problem = blocked_by(exc, state.failures + 1)
            else:
                _observe(deps, token, state, facts, ready=True)
                return max(0.0, (report.wake_at - deps.clock()).total_seconds())
    _observe(deps, token, state, facts, ready=False, reason=problem.reason)
    return await _report_blocked(deps, token, state, facts, events, problem)


def _observe(deps: Deps, token: AstraToken, state: TokenState, facts: TokenFacts, *, ready: bool,
             reason: str = "") -> None:
    """Tell the observer where the token stands: Ready or why not, and its live token's lease."""
    current = state.ledger.current if state.ledger is not None else None
    record = current.record if current is not None and current.record.state is RecordState.ACTIVE else None
    deps.observer.token_seen(token.metadata.uid or "", TokenView(
        namespace=token.metadata.namespace or "", name=token.metadata.name, org=token.spec.org_ref,
        role=token.spec.role_ref, ready=ready, reason=ready_reason(record) if ready and record else reason,
        lease_expires_at=record.lease_expires_at if record else None,
        max_expires_at=record.max_expires_at if record else None,
        renew_before_seconds=facts.policy.renew_before.total_seconds() if facts.policy else None))


async def _converge(deps: Deps, token: AstraToken, state: TokenState, facts: TokenFacts, events: EventSink,
                    now: datetime) -> tuple[TokenFacts, Report | Blocked]:
    facts, context = await gather(deps, token, state, facts, now)
    applier = TokenApplier(deps, context, state, events) if context is not None else None
    for _ in range(MAX_STEPS):
        plan = plan_token_pass(facts, now)
        if plan.blocked is not None:
            return facts, plan.blocked
        if plan.report is not None:
            return facts, plan.report
        assert applier is not None, "work is only planned for a token that can be worked on"
        for work in plan.work:
            facts = await applier.apply(facts, work, now)
    raise StaleFacts("the pass did not converge")


async def _report(deps: Deps, token: AstraToken, state: TokenState, report: Report) -> None:
    state.slack = report.slack
    name, namespace = token.metadata.name, token.metadata.namespace
    if report.labels:
        await deps.kube.patch_metadata(TOKEN_PLURAL, name, namespace=namespace, labels=dict(report.labels))
        state.written_labels.update({k: v for k, v in report.labels.items() if v is not None})
    if report.status:
        await deps.kube.patch_status(TOKEN_PLURAL, name, dict(report.status), namespace=namespace)
        state.written_status.update(report.status)


async def _report_blocked(deps: Deps, token: AstraToken, state: TokenState, facts: TokenFacts,
                          events: EventSink, blocked: Blocked) -> float:
    uid = token.metadata.uid or ""
    wakeups = deps.runtime.wakeups
    if blocked.cause is not None:
        wakeups.park(blocked.cause, wakeups.register(uid, "token"))
    retry = _before_the_token_lapses(state, deps.clock(), blocked.retry_after)
    if blocked.reason == TokenReason.CONFLICT:
        # What holds the name (the slot's holder, a Secret of the same name) may let it go without
        # telling this token (an AstraToken deleted, a Secret garbage-collected): the next pass reads
        # the ledger and the Secret again instead of deciding from what it remembers.
        state.forget_ledger()
        state.secret_dirty = True
    if blocked.quiet:
        return retry
    state.failures += 1
    if state.last_blocked != (blocked.reason, blocked.message):
        state.last_blocked = (blocked.reason, blocked.message)
        (events.warning if blocked.warning else events.info)(blocked.reason, blocked.message)
        warn_action("wait", namespace=token.metadata.namespace, name=token.metadata.name,
                    message=f"{blocked.reason}: {blocked.message}")
    patch = status_patch(facts.status, blocked_status(facts, blocked, deps.clock()))
    if patch:
        with contextlib.suppress(KubeError):  # the condition is a report; the next pass writes it again
            await deps.kube.patch_status(TOKEN_PLURAL, token.metadata.name, patch, namespace=token.metadata.namespace)
            state.written_status.update(patch)
    return retry


def _before_the_token_lapses(state: TokenState, now: datetime, retry_after: float) -> float:
    """A backoff never outlasts the current token's lease: the next try comes before it lapses."""
    current = state.ledger.current if state.ledger is not None else None
    if current is None or current.record.state is not RecordState.ACTIVE:
        return retry_after
    left = (current.record.lease_expires_at - now).total_seconds()
    return max(1.0, min(retry_after, left))
