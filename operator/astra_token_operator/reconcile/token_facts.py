"""Gather: everything one pass over an AstraToken needs, read once, as plain
data for the planner (policy/token_plan.py). Ledger facts come from what this
process last read or wrote when it has them, else from Vault; the Secret is
read only when something says it may have changed, or the drift check is due."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from astra_token_operator.kube import SecretSnapshot
from astra_token_operator.models import AstraToken
from astra_token_operator.policy.leases import LeaseError, RenewalPolicy
from astra_token_operator.policy.tenancy import namespace_verdict
from astra_token_operator.policy.token_plan import (
    LedgerFacts,
    LedgerUnreadable,
    OrgFacts,
    Presence,
    Requests,
    RoleFacts,
    SecretFacts,
    TokenFacts,
)
from astra_token_operator.reconcile.minting import TokenIdentity
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.reconcile.secrets import desired_secret
from astra_token_operator.reconcile.token_state import LedgerCache, TokenState
from astra_token_operator.reconcile.verified import OrgState, RoleState
from astra_token_operator.reconcile.wakeups import VAULT
from astra_token_operator.reconcile.workloads import rollout_facts
from astra_token_operator.records import OwnerRef, Principal, RecordState, TokenRecord, VersionedRecord
from astra_token_operator.surface import (
    ANNOTATION_CREATED_BY,
    ANNOTATION_EXPIRES_AT,
    ANNOTATION_OWNED_BY_POD,
    ANNOTATION_RENEW,
    ANNOTATION_REQUEST_ID,
    ANNOTATION_REQUESTED_BY,
    ANNOTATION_REVOKE,
    ANNOTATION_ROTATE,
    LABEL_CLIENT_ID,
    REQUEST_ANNOTATIONS,
    TOKEN_KIND,
    RoleReason,
)
from astra_token_operator.vault import VaultError, VaultUnavailable


@dataclass(frozen=True)
class PassContext:
    """What the apply step needs beyond the facts: the resolved org and role (plain data: the
    org's root token travels as a SecretStr, never a client) and the token's identity."""

    token: AstraToken
    org: OrgState
    role: RoleState
    policy: RenewalPolicy
    identity: TokenIdentity


def base_facts(deps: Deps, token: AstraToken, state: TokenState, now: datetime) -> TokenFacts:
    """What is known without asking anyone: the AstraToken, its org and role as verified, and what
    this process remembers."""
    verified = deps.runtime.verified
    spec, meta = token.spec, token.metadata
    org = _org_facts(spec.org_ref, verified.org(spec.org_ref), verified.org_presence(spec.org_ref))
    role = _role_facts(spec.role_ref, verified.role(spec.role_ref), verified.role_presence(spec.role_ref))
    return TokenFacts(
        namespace=meta.namespace or "", name=meta.name, uid=meta.uid or "", generation=meta.generation,
        logical_name=token.logical_name, metadata=dict(spec.metadata), secret_name=token.secret_name,
        has_restart_targets=bool(spec.rollout_restart_targets),
        owned_by_pod=ANNOTATION_OWNED_BY_POD in meta.annotations, requests=open_requests(token, state),
        status={**token.status.model_dump(mode="json", by_alias=True), **state.written_status},
        labels={**meta.labels, **state.written_labels},
        org=org, role=role, slack=state.slack, jitter=deps.rng.random(),
        drift_check_at=_drift_check_at(deps, state, now), restart_wait_until=state.restart_wait_until,
        rollout_timeout=timedelta(seconds=deps.config.rollout_timeout_seconds),
        rollout_poll=timedelta(seconds=deps.config.rollout_poll_seconds),
    )


async def gather(deps: Deps, token: AstraToken, state: TokenState, facts: TokenFacts, now: datetime
                 ) -> tuple[TokenFacts, PassContext | None]:
    """``facts`` (from ``base_facts``) completed with what the namespace, the policy, the ledger and
    the Secret say, when the token can be worked on at all."""
    spec = token.spec
    org, verified = facts.org, deps.runtime.verified
    org_state, role_state = verified.org(spec.org_ref), verified.role(spec.role_ref)
    # An org that cannot reach Astra (or a role not Ready because of it) still lets the token's
    # bookkeeping go on: the planner holds back only the work that needs Astra.
    usable = (org_state is not None and role_state is not None
              and (role_state.ready or role_state.reason == RoleReason.ORG_NOT_READY)
              and role_state.org_ref == spec.org_ref and not (org.sidecar and not facts.owned_by_pod))
    if not usable:
        return facts, None
    assert org_state is not None
    assert role_state is not None
    labels = await deps.kube.namespace_labels(facts.namespace) if org_state.spec.namespace_selector else None
    verdict = namespace_verdict(
        facts.namespace, labels, org_name=org_state.name, org_allowed=org_state.spec.allowed_namespaces,
        org_selector=org_state.spec.namespace_selector, role_name=role_state.name,
        role_allowed=role_state.allowed_namespaces)
    problem = None if verdict.allowed else verdict.reason
    try:
        policy = role_state.renewal_policy_for(spec)
    except (LeaseError, ValueError) as exc:
        return replace(facts, namespace_problem=problem, policy_problem=str(exc)), None
    identity = TokenIdentity(
        owner=OwnerRef(kind=TOKEN_KIND, namespace=facts.namespace, name=facts.name, uid=facts.uid),
        org_id=org_state.org_id, role_name=role_state.role_name, role_id=role_state.role_id,
        logical_name=facts.logical_name)
    facts = replace(facts, namespace_problem=problem, policy=policy,
                    record_path_prefix=deps.ledger.record_display_path(org_state.org_id, ""))
    if problem is not None:
        return facts, None
    context = PassContext(token=token, org=org_state, role=role_state, policy=policy, identity=identity)
    try:
        # A token that never reported a client id, on this process's first look, is most likely brand
        # new: its mint claims the slot and finds out there. Any later pass reads the ledger.
        first_look, state.looked = not state.looked and not token.status.client_id, True
        ledger = await ledger_facts(deps, identity, state, first_look=first_look)
    except VaultError as exc:
        state.forget_ledger()
        return replace(facts, ledger=LedgerUnreadable(str(exc), VAULT if isinstance(exc, VaultUnavailable)
                                                       else None)), context
    facts = replace(facts, ledger=ledger)
    if publishable(ledger.current) and (state.secret_dirty or state.secret_checked_at is None
                                        or (facts.drift_check_at is not None and now >= facts.drift_check_at)):
        assert ledger.current is not None
        facts = replace(facts, secret=await secret_facts(deps, context, ledger.current.record, state, now),
                        drift_check_at=_drift_check_at(deps, state, now))
    elif ledger.current is not None:  # as this process last read or wrote it: nothing says it changed
        facts = replace(facts, secret=known_secret_facts(context, ledger.current.record, state))
    previous, current = ledger.previous, ledger.current
    if (previous is not None and previous.record.awaiting_rollout and current is not None
            and not current.record.restart_for):
        facts = replace(facts, rollouts=await rollout_facts(deps, facts.namespace, spec.rollout_restart_targets))
    return facts, context


async def ledger_facts(deps: Deps, identity: TokenIdentity, state: TokenState, *,
                       first_look: bool = False) -> LedgerFacts:
    """The slot, intent, current and previous records: from this process's cache, else read.
    ``first_look``: a token that never reported a client id is read only when its mint finds the
    slot taken (a fresh AstraToken then costs no read at all)."""
    cache = state.ledger
    if cache is None and first_look:
        cache = state.ledger = LedgerCache()
    if cache is None:
        cache = state.ledger = await _read_ledger(deps, identity)
    return LedgerFacts(slot_holder_uid=cache.slot_holder_uid, slot_holder=cache.slot_holder, intent=cache.intent,
                       intent_in_flight=cache.intent is not None
                       and cache.intent.intent_id in deps.runtime.in_flight_intents,
                       current=cache.current, previous=cache.previous)


async def _read_ledger(deps: Deps, identity: TokenIdentity) -> LedgerCache:
    ledger = deps.ledger
    slot = await ledger.read_slot(identity.org_id, identity.role_name, identity.logical_name)
    if slot is None:
        return LedgerCache()  # no slot, so no mint was ever started: no intent either
    holder = slot.claim.owner
    cache = LedgerCache(slot_holder_uid=holder.uid, slot_holder=f"{holder.kind} {holder.namespace}/{holder.name}",
                        slot_version=slot.version)
    if holder.uid != identity.owner.uid:
        return cache
    cache.intent = await ledger.read_intent(identity.owner.uid)
    if slot.claim.client_id:
        cache.current = await ledger.read_record(identity.org_id, slot.claim.client_id, credentials=True)
    previous_id = cache.current.record.supersedes if cache.current else None
    if previous_id:
        previous = await ledger.read_record(identity.org_id, previous_id)
        if previous is not None and previous.record.state in (RecordState.ACTIVE, RecordState.SUPERSEDED):
            cache.previous = previous
    return cache


def publishable(current: VersionedRecord | None) -> bool:
    """The current record can be published: it holds its token and client secret (read with its
    credentials, or just minted). One without is replaced by the planner, never published."""
    return current is not None and current.record.credentials is not None


async def secret_facts(deps: Deps, context: PassContext, record: TokenRecord, state: TokenState,
                       now: datetime) -> SecretFacts:
    """Read the Secret (one GET) and compare it with what ``record`` publishes."""
    desired = desired_secret(context.token, record, org_name=context.org.name)
    found = await deps.kube.read_secret(desired.namespace, desired.name)
    state.secret_checked_at, state.secret_dirty, state.secret_seen = now, False, found
    return compare_secret(context, record, found)


def known_secret_facts(context: PassContext, record: TokenRecord, state: TokenState) -> SecretFacts | None:
    """The Secret as this pass last read or wrote it, compared with ``record``, without reading it
    again; None when it has not been looked at (or something says it changed since)."""
    if state.secret_checked_at is None or state.secret_dirty:
        return None
    return compare_secret(context, record, state.secret_seen)


def compare_secret(context: PassContext, record: TokenRecord, found: SecretSnapshot | None) -> SecretFacts:
    if found is None:
        return SecretFacts(exists=False)
    desired = desired_secret(context.token, record, org_name=context.org.name)
    drift = tuple(found.drift(desired))
    data_drift = [d for d in drift if not d.startswith(("label ", "annotation ", "owner "))]
    return SecretFacts(
        exists=True, owned=context.identity.owner.uid in found.owner_uids,
        client_id=found.labels.get(LABEL_CLIENT_ID, ""), expires_at=found.annotations.get(ANNOTATION_EXPIRES_AT, ""),
        data_matches=not data_drift, meta_matches=len(data_drift) == len(drift), drift=drift)


def open_requests(token: AstraToken, state: TokenState) -> Requests:
    """The renew/revoke requests on the AstraToken not handled yet. A handled request's annotation
    is removed, but the watched body may still show it for a moment: the same request is never
    acted on twice. The same value set again later is a new request: admission stamps each request
    with an id of its own (and, without the webhook, a body seen without the request forgets it)."""
    annotations = token.metadata.annotations
    present = request_stamp(annotations)
    if not present:
        state.handled_requests = {}
        return Requests()
    if present == state.handled_requests:
        return Requests()
    return Requests(renew=present.get(ANNOTATION_RENEW), revoke=ANNOTATION_REVOKE in present,
                    rotate=present.get(ANNOTATION_ROTATE), by=annotations.get(ANNOTATION_REQUESTED_BY) or None)


def created_by(token: AstraToken) -> Principal | None:
    """Who created the AstraToken, as the admission webhook stamped it."""
    raw = token.metadata.annotations.get(ANNOTATION_CREATED_BY)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return Principal(username=str(data.get("username", "")), uid=str(data.get("uid", "")),
                         groups=[str(g) for g in data.get("groups", [])])
    except (ValueError, AttributeError, TypeError):
        return None


def _drift_check_at(deps: Deps, state: TokenState, now: datetime) -> datetime | None:
    """When the Secret is looked at again without news. Never while its version as last seen is
    known: the census compares that with the cluster (reconcile/secret_census.py), the safety net
    behind the watch. A Secret last found missing is looked for again after the interval."""
    if state.secret_checked_at is None or state.secret_seen is not None:
        return None
    return state.secret_checked_at + timedelta(seconds=deps.config.drift_check_interval_seconds)


def _org_facts(name: str, state: OrgState | None, presence: Presence) -> OrgFacts:
    if state is None:
        return OrgFacts(name=name, presence=presence)
    return OrgFacts(name=name, presence=Presence.PUBLISHED, ready=state.ready, reason=state.reason,
                    message=state.message, org_id=state.org_id, sidecar=state.spec.caller_mode == "sidecar")


def _role_facts(name: str, state: RoleState | None, presence: Presence) -> RoleFacts:
    if state is None:
        return RoleFacts(name=name, presence=presence)
    return RoleFacts(name=name, presence=Presence.PUBLISHED, ready=state.ready, reason=state.reason,
                     message=state.message, org_ref=state.org_ref, role_name=state.role_name)


def request_stamp(annotations: Mapping[str, str]) -> dict[str, str]:
    """What identifies the requests on an AstraToken: their annotations and admission's request id."""
    found = {key: annotations[key] for key in REQUEST_ANNOTATIONS if key in annotations}
    if found and ANNOTATION_REQUEST_ID in annotations:
        found[ANNOTATION_REQUEST_ID] = annotations[ANNOTATION_REQUEST_ID]
    return found
