"""What one pass over an AstraToken should do, decided from what was read: pure.

The pass gathers facts once (the AstraToken, its org and role as the operator
knows them, the ledger's slot, records and intent, the Secret), asks
``plan_token_pass`` for the next step, applies it, folds the outcome into the
facts and asks again, until the plan holds nothing but reports (labels,
status) and when to look next. Each action is idempotent, so a crash
anywhere is recovered by the next pass planning from what it finds.

Order of the checks, first match wins for the work of a step:
  can the token be worked on at all (org, role, namespace, policy, ledger, slot)
  -> an interrupted mint to settle -> no live token (mint) -> a token whose
  credentials are lost from the ledger (revoke, then mint) -> requests (revoke
  now, renew with an increment) -> the lease (revoke expired, rotate, renew)
  -> metadata -> the Secret -> restarts owed -> the rotated-out token (mark
  superseded once published, revoke after its grace).

While the org cannot reach Astra (its AstraOrg, or the AstraRole through it, is
published but not Ready), only the work that needs Astra waits: settling an
interrupted mint, minting, revoking. Renewals are ledger bookkeeping and go on
(a rotation that cannot happen renews up to the token's max expiry instead), as
do the Secret, restarts, marking the rotated-out token superseded and the
status, so an outage lapses no lease and its end explains no revocation,
re-mint or restart."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeAlias

from astra_token_operator.durations import DurationError, parse_duration
from astra_token_operator.models import AstraTokenStatus, Condition, set_condition, status_patch
from astra_token_operator.policy.leases import (
    Lease,
    Renew,
    RenewalPolicy,
    Renewed,
    RevokeAndRotate,
    Rotate,
    WaitUntil,
    decide,
    jittered_at,
    renew_with_increment,
    secret_expires_at,
    superseded_revoke_at,
)
from astra_token_operator.records import MintIntent, RecordAction, RecordState, TokenRecord, VersionedRecord
from astra_token_operator.surface import (
    CONDITION_READY,
    CONDITION_ROLLED_OUT,
    LABEL_CLIENT_ID,
    LABEL_LOGICAL_NAME,
    LABEL_ORG,
    LABEL_ORG_ID,
    LABEL_ROLE,
    RoleReason,
    TokenReason,
)
from astra_token_operator.times import to_rfc3339

# --- the facts a pass gathers --------------------------------------------------------------------


class Presence(StrEnum):
    PUBLISHED = "published"  # verified at least once: ready/reason/message say the rest
    PENDING = "pending"  # exists, its first verification is under way (or the start-up listing is)
    ABSENT = "absent"  # does not exist


@dataclass(frozen=True)
class OrgFacts:
    name: str  # the AstraOrg's metadata.name
    presence: Presence
    ready: bool = False
    reason: str = ""
    message: str = ""
    org_id: str = ""
    sidecar: bool = False  # callerMode: sidecar


@dataclass(frozen=True)
class RoleFacts:
    name: str  # the AstraRole's metadata.name
    presence: Presence
    ready: bool = False
    reason: str = ""
    message: str = ""
    org_ref: str = ""
    role_name: str = ""  # effective, lower-cased: part of the uniqueness key


@dataclass(frozen=True)
class Requests:
    """What the user asked for by annotating the AstraToken, not handled yet."""

    renew: str | None = None  # the increment, as written
    revoke: bool = False
    rotate: str | None = None  # the rotation id ("now", or one shared by tokens rotated together)
    by: str | None = None  # who asked (stamped by the webhook)

    def __bool__(self) -> bool:
        return self.renew is not None or self.revoke or self.rotate is not None


@dataclass(frozen=True)
class SecretFacts:
    """The Secret as read this pass, compared with what the current record publishes."""

    exists: bool
    owned: bool = True  # by this AstraToken
    client_id: str = ""  # what its clientId key holds
    expires_at: str = ""  # what its expiresAt key holds
    data_matches: bool = False  # every key holds what the record publishes
    meta_matches: bool = False  # labels, annotations and owner as wanted
    drift: tuple[str, ...] = ()  # what differs, for people (never a value)


@dataclass(frozen=True)
class LedgerFacts:
    slot_holder_uid: str | None  # who holds the (org, role, logical name) slot; None: free
    slot_holder: str = ""  # "AstraToken ns/name", for the Conflict message
    intent: MintIntent | None = None  # a mint of this AstraToken left unfinished
    intent_in_flight: bool = False  # that mint runs in this process right now: leave it alone
    current: VersionedRecord | None = None  # the token the slot names
    previous: VersionedRecord | None = None  # the live token `current` superseded


@dataclass(frozen=True)
class LedgerUnreadable:
    message: str
    cause: str | None = None  # what must answer again (wakeups' cause), when known


@dataclass(frozen=True)
class TokenFacts:
    # the AstraToken
    namespace: str
    name: str
    uid: str
    generation: int | None
    logical_name: str
    metadata: Mapping[str, str]
    secret_name: str
    has_restart_targets: bool
    owned_by_pod: bool
    requests: Requests
    status: Mapping[str, Any]  # the status (JSON) as the apiserver shows it, overlaid with what this process wrote
    labels: Mapping[str, str]  # likewise
    # what it depends on
    org: OrgFacts
    role: RoleFacts | None
    namespace_problem: str | None = None  # why the org or role does not allow this namespace
    policy: RenewalPolicy | None = None
    policy_problem: str | None = None
    # what the ledger and the cluster hold
    ledger: LedgerFacts | LedgerUnreadable | None = None  # None: not read (the token cannot be worked on)
    secret: SecretFacts | None = None  # None: not read this pass (nothing says it changed)
    record_path_prefix: str = ""  # "secret/astra-tokens/orgs/<orgId>/tokens/": status.vaultPath
    # timing, from the runtime
    slack: timedelta = timedelta(0)  # how early this pass may act (it woke from a jittered sleep)
    jitter: float = 0.0  # a draw in [0, 1): where in its window the next wake falls
    drift_check_at: datetime | None = None  # when the Secret is looked at again even without news
    restart_wait_until: datetime | None = None  # this token's restarts are batched with others' until then
    rollouts: RolloutFacts | None = None  # the restarted workloads' rollout, when one is awaited
    rollout_timeout: timedelta = timedelta(minutes=30)  # a rollout longer than this is told about
    rollout_poll: timedelta = timedelta(seconds=5)  # how often a rollout in progress is looked at


@dataclass(frozen=True)
class RolloutFacts:
    """The workloads restarted for the current token, and whether their rollout has finished."""

    complete: bool
    pending: tuple[str, ...] = ()  # "Deployment web", ... still rolling out


# --- the plan ------------------------------------------------------------------------------------


class Replacing(StrEnum):
    NOTHING = "nothing"  # the first token
    ROTATION = "rotation"  # the current one nears its max expiry, or a rotation was asked for
    EXPIRED = "expired"  # its lease ran out unattended and it was revoked
    REVOKED = "revoked"  # revoked on request
    DELETED_EXTERNALLY = "deleted-externally"  # the sweep found it deleted in Astra behind our back
    LOST = "lost"  # the record is no longer live (revoked, gone) but the AstraToken still wants one


@dataclass(frozen=True)
class ResolveIntent:
    intent: MintIntent


@dataclass(frozen=True)
class Mint:
    supersedes: str | None
    replacing: Replacing
    answers_requests: bool = False  # a fresh token answers the requests made of the one it replaces
    restart_pending: bool = False  # the new record owes its workloads a restart
    restart_stamp: str | None = None  # their restart stamp (a rotation id); None: the rotation's time
    actor: str | None = None  # who asked for it (a rotate request); None: the operator


@dataclass(frozen=True)
class RecordRenewal:
    lease: Lease
    manual: bool = False
    actor: str | None = None  # a user's name for manual renewals; None: the operator
    capped_at_max: bool = False
    ttl_seconds: int | None = None  # the ttl this renewal used (a role edit reaches the record here)
    due_at: datetime | None = None  # when a scheduled renewal fell due (its lateness); None on request


@dataclass(frozen=True)
class RefuseRenewal:
    message: str


@dataclass(frozen=True)
class RecordMetadata:
    metadata: Mapping[str, str]


@dataclass(frozen=True)
class RevokeCurrent:
    state: RecordState
    action: RecordAction
    reason: str
    actor: str | None = None  # None: the operator


@dataclass(frozen=True)
class WriteSecret:
    restore: bool  # put back after someone deleted or edited it (no mint); else publish our change
    drift: tuple[str, ...] = ()


@dataclass(frozen=True)
class RestartTargets:
    stamp: str  # the restart stamp the record holds (a repeat with it changes nothing)


@dataclass(frozen=True)
class MarkSuperseded:
    revoke_after: datetime
    awaiting_rollout: bool = False  # revoked once the restarted workloads rolled out (+ grace) instead


@dataclass(frozen=True)
class FinishRollout:
    """The restarted workloads rolled out: the superseded token goes after the grace period."""

    revoke_after: datetime


@dataclass(frozen=True)
class TellRolloutStuck:
    pending: tuple[str, ...]


@dataclass(frozen=True)
class RevokeSuperseded:
    reason: str


@dataclass(frozen=True)
class ClearRequests:
    pass


Work: TypeAlias = (ResolveIntent | Mint | RecordRenewal | RefuseRenewal | RecordMetadata | RevokeCurrent
                   | WriteSecret | RestartTargets | MarkSuperseded | FinishRollout | TellRolloutStuck
                   | RevokeSuperseded | ClearRequests)


@dataclass(frozen=True)
class Blocked:
    """The token cannot progress now: Ready=False with this reason, and when to look again."""

    reason: str
    message: str
    retry_after: float = 30.0
    warning: bool = True
    cause: str | None = None  # what must answer again before a retry is worth it
    quiet: bool = False  # no news (a start-up wait): no status write, no Event


@dataclass(frozen=True)
class Report:
    """What to tell the cluster once no work is left, and when to look next."""

    labels: Mapping[str, str | None]  # label changes; empty: none
    status: Mapping[str, Any]  # status merge patch; empty: none
    wake_at: datetime
    slack: timedelta  # the next pass may act this much early


@dataclass(frozen=True)
class TokenPlan:
    work: tuple[Work, ...] = ()
    blocked: Blocked | None = None
    report: Report | None = None

    @property
    def done(self) -> bool:
        return not self.work


# --- planning -----------------------------------------------------------------------------------


def plan_token_pass(facts: TokenFacts, now: datetime) -> TokenPlan:
    """The next step for this AstraToken: work to apply, or why it waits, or (no work left) what
    to report and when to look again."""
    blocked = _cannot_proceed(facts)
    if blocked is not None:
        return TokenPlan(blocked=blocked)
    assert facts.policy is not None
    assert isinstance(facts.ledger, LedgerFacts)
    ledger, policy = facts.ledger, facts.policy

    waiting = _waits_for_astra(facts)  # None: Astra work may go ahead
    if ledger.intent is not None and not ledger.intent_in_flight and waiting is None:
        return TokenPlan(work=(ResolveIntent(ledger.intent),))
    current = ledger.current
    if current is None or current.record.state is not RecordState.ACTIVE:
        if waiting is not None:
            return TokenPlan(blocked=waiting)
        return TokenPlan(work=(_mint(facts, current),))
    record = current.record
    if record.credentials is None:
        # Its token and client secret are gone from the ledger (deleted by hand): it can never be
        # published again, so it is revoked and replaced rather than left valid and unused.
        return TokenPlan(work=(RevokeCurrent(RecordState.REVOKED, RecordAction.REVOKED,
                                             "its token and client secret are missing from the ledger"),))
    if facts.requests.revoke:
        if waiting is not None:
            return TokenPlan(blocked=replace(waiting, message=f"the revocation asked for waits: {waiting.message}"))
        revoke: list[Work] = [RevokeCurrent(RecordState.REVOKED, RecordAction.REVOKED_MANUALLY,
                                            "revoked on request (astra-tokens.io/revoke)", facts.requests.by)]
        if ledger.previous is not None:
            revoke.append(RevokeSuperseded("an emergency revocation"))
        return TokenPlan(work=tuple(revoke))
    if facts.requests.renew is not None:
        return TokenPlan(work=(_renew_on_request(facts.requests, record, now), ClearRequests()))
    if facts.requests.rotate is not None:  # a scheduled rotation, now, on the requester's behalf
        return TokenPlan(work=_rotation(facts, current, stamp=facts.requests.rotate, by=facts.requests.by))

    decision = decide(now, _lease(record), policy, slack=facts.slack)
    if waiting is not None and isinstance(decision, RevokeAndRotate):
        return TokenPlan(blocked=waiting)  # lapsed (the operator was down): revoked once Astra answers
    if waiting is not None and isinstance(decision, Rotate):
        # Astra cannot mint now: keep the lease up to the token's max expiry meanwhile.
        lease = _renewed_to_ceiling(now, record, policy)
        if lease is None:
            return TokenPlan(blocked=waiting)
        decision = Renew(lease)
    if isinstance(decision, RevokeAndRotate):
        expired: list[Work] = []
        if ledger.previous is not None:  # its replacement will not supersede it: revoke it now
            expired.append(RevokeSuperseded("the token that replaced it expired unattended"))
        expired.append(RevokeCurrent(RecordState.EXPIRED, RecordAction.EXPIRED,
                                     "the lease expired before it was renewed"))
        return TokenPlan(work=tuple(expired))
    if isinstance(decision, Rotate):
        return TokenPlan(work=_rotation(facts, current))
    work: list[Work] = []
    if isinstance(decision, Renew):
        work.append(RecordRenewal(decision.lease, ttl_seconds=int(policy.ttl.total_seconds()),
                                  due_at=record.lease_expires_at - policy.renew_before))
    if dict(record.metadata) != dict(facts.metadata):
        work.append(RecordMetadata(dict(facts.metadata)))
    if work:
        return TokenPlan(work=tuple(work))

    secret = facts.secret
    if secret is not None and secret.exists and not secret.owned:
        return TokenPlan(blocked=Blocked(
            TokenReason.CONFLICT, f"Secret {facts.namespace}/{facts.secret_name} exists and is not owned by this "
                                  "AstraToken; delete it or set spec.secret.name to another name", retry_after=120))
    if secret is not None and not (secret.exists and secret.data_matches and secret.meta_matches):
        return TokenPlan(work=(_write_secret(facts, record, secret),))
    published = secret is not None and secret.exists and secret.client_id == record.client_id
    if record.restart_for and published and (facts.restart_wait_until is None or now >= facts.restart_wait_until):
        work.append(RestartTargets(record.restart_for))
    previous = ledger.previous
    if previous is not None and previous.record.state is RecordState.ACTIVE and published:
        work.append(_supersede(facts, previous.record, now))
    elif previous is not None and previous.record.state is RecordState.SUPERSEDED:
        # Revoking it needs Astra: while Astra cannot be reached it waits (the report says so).
        work.extend(w for w in _superseded(facts, record, previous.record, now)
                    if waiting is None or not isinstance(w, RevokeSuperseded))
    if work:
        return TokenPlan(work=tuple(work))
    return TokenPlan(report=_report(facts, current, now, waiting))


def _supersede(facts: TokenFacts, old: TokenRecord, now: datetime) -> MarkSuperseded:
    """The new token is published: the old one stays valid for its grace period, or, when workloads
    are restarted for the new one, until their rollout has finished (at most until its max expiry)."""
    assert facts.policy is not None
    if facts.has_restart_targets:
        return MarkSuperseded(old.max_expires_at, awaiting_rollout=True)
    return MarkSuperseded(superseded_revoke_at(now, facts.policy.rotation_grace_period, _lease(old)))


def _superseded(facts: TokenFacts, current: TokenRecord, old: TokenRecord, now: datetime) -> list[Work]:
    assert facts.policy is not None
    if old.revoke_after is None or now >= old.revoke_after:
        why = ("its max expiry came before its workloads' rollout finished" if old.awaiting_rollout
               else "its rotation grace period ended")
        return [RevokeSuperseded(why)]
    if not old.awaiting_rollout or current.restart_for or facts.rollouts is None:
        return []  # the grace runs; or the restart has not happened yet; or the rollout was not looked at
    if facts.rollouts.complete:
        return [FinishRollout(superseded_revoke_at(now, facts.policy.rotation_grace_period, _lease(old)))]
    started = current.restarted_at or now
    if not old.rollout_stuck and now >= started + facts.rollout_timeout:
        return [TellRolloutStuck(facts.rollouts.pending)]
    return []


def _cannot_proceed(facts: TokenFacts) -> Blocked | None:
    org, role = facts.org, facts.role
    if org.presence is Presence.PENDING:
        # Just started, or the org was just created: its first verification is under way and wakes
        # this token. Nothing to report meanwhile.
        return Blocked(TokenReason.ORG_NOT_READY, f"AstraOrg {org.name!r} is not verified yet", quiet=True)
    if org.presence is Presence.ABSENT:
        return Blocked(TokenReason.ORG_NOT_READY, f"AstraOrg {org.name!r} does not exist; create it or fix "
                                                  "spec.orgRef", warning=False)
    if org.sidecar and not facts.owned_by_pod:
        return Blocked(TokenReason.CALLER_MODE_MISMATCH,
                       f"AstraOrg {org.name!r} is in sidecar mode: it issues a token per pod; label the pod "
                       "astra-tokens.io/inject=true instead of creating an AstraToken", retry_after=600)
    if role is None or role.presence is Presence.PENDING:
        name = role.name if role is not None else "?"
        return Blocked(TokenReason.ROLE_NOT_READY, f"AstraRole {name!r} is not verified yet", quiet=True)
    if role.presence is Presence.ABSENT or not (role.ready or _role_waits_for_org(role)):
        why = "does not exist" if role.presence is Presence.ABSENT else f"is not Ready: {role.message}"
        # Waiting on a role that is still being verified is normal right after `kubectl apply`.
        return Blocked(TokenReason.ROLE_NOT_READY, f"AstraRole {role.name!r} {why}",
                       warning=role.presence is Presence.PUBLISHED and role.reason != "OrgNotReady")
    if role.org_ref != org.name:
        return Blocked(TokenReason.ROLE_NOT_READY, f"AstraRole {role.name!r} belongs to AstraOrg {role.org_ref!r}, "
                                                   f"not {org.name!r}", retry_after=600)
    if facts.namespace_problem is not None:
        return Blocked(TokenReason.NAMESPACE_NOT_ALLOWED, facts.namespace_problem, retry_after=300)
    if facts.policy is None:
        return Blocked(TokenReason.INVALID_SPEC, facts.policy_problem or "the token's lease settings are invalid",
                       retry_after=600)
    ledger = facts.ledger
    if isinstance(ledger, LedgerUnreadable):
        return Blocked(TokenReason.VAULT_UNAVAILABLE,
                       f"the Vault ledger is unavailable ({ledger.message}); nothing is minted until it is back, "
                       "the existing Secret is left as it is", retry_after=30, cause=ledger.cause)
    assert ledger is not None, "the ledger is read once the token can be worked on"
    if ledger.slot_holder_uid is not None and ledger.slot_holder_uid != facts.uid:
        return Blocked(TokenReason.CONFLICT,
                       f"org {org.org_id}, role {role.role_name!r} and logical name {facts.logical_name!r} are "
                       f"already used by {ledger.slot_holder}; choose another spec.logicalName", retry_after=120)
    return None


def _rotation(facts: TokenFacts, current: VersionedRecord, *, stamp: str | None = None,
              by: str | None = None) -> tuple[Work, ...]:
    """A new token replaces ``current``, which stays valid for its grace period; a token still
    waiting out an earlier rotation's grace is revoked first."""
    assert isinstance(facts.ledger, LedgerFacts)
    first: tuple[Work, ...] = ()
    if facts.ledger.previous is not None:
        first = (RevokeSuperseded("a newer rotation replaced it"),)
    mint = replace(_mint(facts, current), actor=by, restart_stamp=None if stamp in (None, "now") else stamp)
    return (*first, mint)


def _role_waits_for_org(role: RoleFacts) -> bool:
    """Published, and not Ready only because its org cannot reach Astra: the token's bookkeeping
    goes on without it (only a mint needs the role's Astra id)."""
    return role.presence is Presence.PUBLISHED and role.reason == RoleReason.ORG_NOT_READY


def _waits_for_astra(facts: TokenFacts) -> Blocked | None:
    """Why work that needs Astra (settling a mint, minting, revoking) waits now; None: it may go."""
    org, role = facts.org, facts.role
    if not org.ready:
        return Blocked(TokenReason.ORG_NOT_READY,
                       f"AstraOrg {org.name!r} is not Ready: {org.message}; minting and revoking wait for it "
                       "(an issued token stays published and its lease is renewed meanwhile)",
                       warning=org.reason not in ("Verified", ""))
    if role is not None and not role.ready:
        return Blocked(TokenReason.ROLE_NOT_READY, f"AstraRole {role.name!r} is not Ready: {role.message}; "
                                                   "minting and revoking wait for it", warning=False)
    return None


def _renewed_to_ceiling(now: datetime, record: TokenRecord, policy: RenewalPolicy) -> Lease | None:
    """While a due rotation waits for Astra: the lease renewed as far as the token's max expiry
    allows, or None when that gains nothing (it already ends there)."""
    ceiling = min(record.max_expires_at, record.issued_at + policy.max_ttl)
    until = min(now + policy.ttl, ceiling)
    if until <= record.lease_expires_at:
        return None
    return Lease(record.issued_at, until, ceiling)


_REPLACING_BY_STATE = {RecordState.ACTIVE: Replacing.ROTATION, RecordState.EXPIRED: Replacing.EXPIRED,
                       RecordState.DELETED_EXTERNALLY: Replacing.DELETED_EXTERNALLY}


def _mint(facts: TokenFacts, current: VersionedRecord | None) -> Mint:
    if current is None:
        return Mint(None, Replacing.NOTHING, answers_requests=bool(facts.requests))
    record = current.record
    replacing = _REPLACING_BY_STATE.get(
        record.state, Replacing.REVOKED if record.last_action is RecordAction.REVOKED_MANUALLY else Replacing.LOST)
    return Mint(record.client_id, replacing, answers_requests=bool(facts.requests),
                restart_pending=facts.has_restart_targets)


def _renew_on_request(requests: Requests, record: TokenRecord, now: datetime) -> RecordRenewal | RefuseRenewal:
    """`astra-tokens.io/renew: <increment>`, as `vault lease renew -increment`."""
    text = requests.renew or ""
    try:
        outcome = renew_with_increment(now, _lease(record), parse_duration(text))
    except (DurationError, ValueError) as exc:
        return RefuseRenewal(f"astra-tokens.io/renew={text!r} is not an increment: {exc}")
    if not isinstance(outcome, Renewed):
        return RefuseRenewal(outcome.reason.value)
    return RecordRenewal(outcome.lease, manual=True, actor=requests.by, capped_at_max=outcome.capped_at_max)


def _write_secret(facts: TokenFacts, record: TokenRecord, secret: SecretFacts) -> WriteSecret:
    """Publish our change, or restore what someone deleted or edited (from the ledger, never by minting)."""
    if not secret.exists:
        published_before = (facts.status.get("clientId") == record.client_id
                            and facts.status.get("secretName") == facts.secret_name)
        return WriteSecret(restore=published_before, drift=("the Secret was missing",) if published_before else ())
    ours_changed = (secret.client_id != record.client_id
                    or secret.expires_at != secret_expires_at(_lease(record)))
    if secret.data_matches or ours_changed:
        return WriteSecret(restore=False)
    return WriteSecret(restore=True, drift=secret.drift)


def _lease(record: TokenRecord) -> Lease:
    return Lease(record.issued_at, record.lease_expires_at, record.max_expires_at)


# --- the report ---------------------------------------------------------------------------------


def _report(facts: TokenFacts, current: VersionedRecord, now: datetime, waiting: Blocked | None = None) -> Report:
    assert facts.policy is not None
    assert facts.role is not None
    record = current.record
    after = decide(now, _lease(record), facts.policy)
    wake, slack = now, timedelta(0)
    if isinstance(after, WaitUntil):
        wake = jittered_at(now, after.at, facts.jitter)
        slack = after.at - wake
    candidates = [wake]
    if facts.drift_check_at is not None:
        candidates.append(facts.drift_check_at)
    previous = facts.ledger.previous if isinstance(facts.ledger, LedgerFacts) else None
    note = None
    if previous is not None and previous.record.revoke_after is not None:
        if waiting is None or previous.record.revoke_after > now:
            candidates.append(previous.record.revoke_after)
        elif previous.record.state is RecordState.SUPERSEDED:  # its revocation is due, Astra cannot take it
            note = f"revoking the superseded token {previous.record.client_id} waits: {waiting.message}"
    if facts.restart_wait_until is not None and record.restart_for:
        candidates.append(facts.restart_wait_until)
    if previous is not None and previous.record.awaiting_rollout and not record.restart_for:
        candidates.append(now + facts.rollout_poll)  # look at the rollout again soon
    wanted_labels = {LABEL_ORG: facts.org.name, LABEL_ORG_ID: facts.org.org_id, LABEL_ROLE: facts.role.role_name,
                     LABEL_LOGICAL_NAME: facts.logical_name, LABEL_CLIENT_ID: record.client_id}
    labels: dict[str, str | None] = {k: v for k, v in wanted_labels.items() if facts.labels.get(k) != v}
    status = ready_status(facts, record, after if isinstance(after, WaitUntil) else None, now, note=note,
                          stuck=previous.record if previous is not None and previous.record.rollout_stuck else None)
    return Report(labels=labels, status=status_patch(facts.status, status), wake_at=min(candidates), slack=slack)


def ready_reason(record: TokenRecord) -> TokenReason:
    if record.renewals > 0:
        return TokenReason.RENEWED
    if record.supersedes and record.replacing == Replacing.DELETED_EXTERNALLY:
        return TokenReason.REPLACED_AFTER_EXTERNAL_DELETION
    return TokenReason.ROTATED if record.supersedes else TokenReason.ISSUED


def ready_status(facts: TokenFacts, record: TokenRecord, waiting: WaitUntil | None, now: datetime, *,
                 note: str | None = None, stuck: TokenRecord | None = None) -> AstraTokenStatus:
    """``note``: what waits (for Astra); ``stuck``: the superseded token whose workloads' rollout is
    taking too long, if any."""
    message = f"token {record.client_id} is valid; lease until {to_rfc3339(record.lease_expires_at)}"
    if ready_reason(record) is TokenReason.REPLACED_AFTER_EXTERNAL_DELETION:
        message = (f"token {record.client_id} is valid (it replaces {record.supersedes}, which was deleted in Astra "
                   f"outside the operator); lease until {to_rfc3339(record.lease_expires_at)}")
    if waiting is not None:
        message += f"; next: {waiting.next.value} at {to_rfc3339(waiting.at)}"
    if note is not None:
        message += f"; {note}"
    conditions = set_condition(
        _conditions(facts),
        Condition(type=CONDITION_READY, status="True", reason=ready_reason(record), message=message,
                  observed_generation=facts.generation),
        now,
    )
    rollout = next((c for c in conditions if c.type == CONDITION_ROLLED_OUT), None)
    if stuck is not None:
        conditions = set_condition(conditions, Condition(
            type=CONDITION_ROLLED_OUT, status="False", reason=TokenReason.ROLLOUT_STUCK,
            message=f"the workloads restarted for token {record.client_id} have not finished rolling out; "
                    f"token {stuck.client_id} stays valid until {to_rfc3339(stuck.revoke_after or now)}",
            observed_generation=facts.generation), now)
    elif rollout is not None and rollout.status != "True":
        conditions = set_condition(conditions, Condition(
            type=CONDITION_ROLLED_OUT, status="True", reason=TokenReason.ROLLED_OUT,
            message=f"the workloads restarted for token {record.client_id} rolled out",
            observed_generation=facts.generation), now)
    return AstraTokenStatus(
        conditions=conditions,
        client_id=record.client_id,
        org_id=record.org_id,
        role_name=record.role_name,
        logical_name=record.logical_name,
        generated_on=_generated_on(record.generated_on) or record.issued_at,
        lease_id=record.lease_id,
        lease_duration=record.ttl_seconds,
        lease_expires_at=record.lease_expires_at,
        max_expires_at=record.max_expires_at,
        last_renewed_at=record.last_renewed_at,
        renewals=record.renewals,
        secret_name=facts.secret_name,
        vault_path=f"{facts.record_path_prefix}{record.client_id}",
        created_by=record.created_by.username if record.created_by else None,
        next_action=waiting.next.value if waiting else None,
        next_action_at=waiting.at if waiting else None,
        observed_generation=facts.generation,
        **({"restarts": record.restarts, "last_restarted_at": record.restarted_at} if record.restarts else {}),
    )


def blocked_status(facts: TokenFacts, blocked: Blocked, now: datetime) -> AstraTokenStatus:
    conditions = set_condition(
        _conditions(facts),
        Condition(type=CONDITION_READY, status="False", reason=blocked.reason, message=blocked.message,
                  observed_generation=facts.generation),
        now,
    )
    return AstraTokenStatus(conditions=conditions, observed_generation=facts.generation)


def _conditions(facts: TokenFacts) -> list[Condition]:
    return [Condition.model_validate(raw) for raw in facts.status.get("conditions") or []]


def _generated_on(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)  # Astra's times are UTC

