"""AstraOrg: read the root token, verify it against /v2/currentOrg, publish
the result for the org's roles and tokens, sync its roles, sweep intents whose
AstraToken is gone, reconcile the ledger with Astra's token list (reconcile/sweep.py),
and report it all in status. ``OrgCycle.step`` is one turn of the org's daemon."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from astra_token_operator.astra import (
    AstraClientSettings,
    AstraError,
    AstraForbidden,
    AstraRetryableError,
    AstraUnauthorized,
)
from astra_token_operator.kube import KubeError
from astra_token_operator.lifecycle_log import debug_action, warn_action
from astra_token_operator.models import AstraOrg, AstraOrgStatus, Condition, set_condition, status_patch
from astra_token_operator.policy.role_sync_plan import RoleSyncSchedule, with_roles_synced
from astra_token_operator.policy.tenancy import matches_any
from astra_token_operator.reconcile.events import EventSink
from astra_token_operator.reconcile.intents import sweep_orphan_intents
from astra_token_operator.reconcile.observer import OrgView
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.reconcile.role_sync import sync_roles_if_due
from astra_token_operator.reconcile.sweep import SweepOutcome, sweep_org
from astra_token_operator.reconcile.verified import OrgState
from astra_token_operator.surface import (
    ANNOTATION_SYNC_ROLES,
    CONDITION_READY,
    ORG_PLURAL,
    ROLE_PLURAL,
    OrgReason,
    SweepReason,
)
from astra_token_operator.vault import VaultError, VaultNotFound


@dataclass(frozen=True)
class RootToken:
    value: SecretStr
    version: str  # changes when the token changes: a Secret's resourceVersion, or a digest


class OrgProblem(Exception):
    def __init__(self, reason: OrgReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def root_token_namespaces(deps: Deps) -> list[str]:
    return [deps.config.operator_namespace, *deps.config.root_token_namespaces]


async def read_root_token(deps: Deps, org: AstraOrg) -> RootToken:
    ref = org.spec.root_token_ref
    if ref.secret is not None:
        allowed = root_token_namespaces(deps)
        if not matches_any(ref.secret.namespace, allowed):
            raise OrgProblem(OrgReason.ROOT_TOKEN_MISSING,
                             f"the root token Secret must live in the operator's namespace {allowed}, not in "
                             f"{ref.secret.namespace!r}: tenant namespaces never hold root tokens")
        try:
            secret = await deps.kube.read_secret(ref.secret.namespace, ref.secret.name)
        except KubeError as exc:
            raise OrgProblem(OrgReason.ROOT_TOKEN_MISSING, f"cannot read the root token Secret: {exc}") from None
        where = f"Secret {ref.secret.namespace}/{ref.secret.name}"
        if secret is None:
            raise OrgProblem(OrgReason.ROOT_TOKEN_MISSING, f"{where} does not exist; create it with key "
                                                           f"{ref.secret.key!r} holding the org's AstraCS token")
        value = secret.data.get(ref.secret.key)
        if value is None or not value.get_secret_value().strip():
            raise OrgProblem(OrgReason.ROOT_TOKEN_MISSING, f"{where} has no key {ref.secret.key!r}")
        return RootToken(SecretStr(value.get_secret_value().strip()), secret.resource_version)
    assert ref.vault is not None
    try:
        value = await deps.ledger.read_root_token(ref.vault.path, ref.vault.key)
    except VaultNotFound:
        raise OrgProblem(OrgReason.ROOT_TOKEN_MISSING,
                         f"Vault path {ref.vault.path!r} has no key {ref.vault.key!r}") from None
    except VaultError as exc:
        raise OrgProblem(OrgReason.VAULT_UNAVAILABLE, f"cannot read the root token from Vault: {exc}") from None
    return RootToken(value, "vault")


def client_settings(deps: Deps, org: AstraOrg) -> AstraClientSettings:
    config, limits = deps.config, org.spec.rate_limit
    return AstraClientSettings(
        base_url=org.spec.api_base_url,
        connect_timeout_seconds=config.astra_connect_timeout_seconds,
        read_timeout_seconds=config.astra_read_timeout_seconds,
        deadline_seconds=config.astra_deadline_seconds,
        max_attempts=config.astra_max_attempts,
        requests_per_second=limits.requests_per_second or config.astra_requests_per_second,
        burst=limits.burst or config.astra_burst,
        concurrency=limits.concurrency or config.astra_concurrency,
    )


async def verify_org(deps: Deps, org: AstraOrg) -> OrgState:
    """Everything an AstraOrg's status says; never raises for an Astra or Vault problem."""
    name = org.metadata.name
    try:
        token = await read_root_token(deps, org)
        settings = client_settings(deps, org)
        client = deps.astra.get(org.spec.org_id, token.value, settings)
        info = await client.current_org()
    except OrgProblem as problem:
        return OrgState(name, org.spec, False, problem.reason, problem.message)
    except AstraUnauthorized as exc:
        return OrgState(name, org.spec, False, OrgReason.UNAUTHORIZED,
                        f"Astra refused the root token ({exc}); put a valid Organization Administrator token "
                        "in the referenced Secret")
    except AstraForbidden as exc:
        return OrgState(name, org.spec, False, OrgReason.FORBIDDEN,
                        f"the root token lacks a permission ({exc}); it needs the Organization Administrator role")
    except AstraRetryableError as exc:
        return OrgState(name, org.spec, False, OrgReason.UNREACHABLE, f"Astra is unreachable: {exc}")
    except AstraError as exc:
        return OrgState(name, org.spec, False, OrgReason.UNREACHABLE, f"Astra answered unexpectedly: {exc}")
    except ValueError as exc:  # settings refused, e.g. plain http to a remote host
        return OrgState(name, org.spec, False, OrgReason.UNREACHABLE, str(exc))
    if info.id and info.id != org.spec.org_id:
        return OrgState(name, org.spec, False, OrgReason.FORBIDDEN,
                        f"the root token belongs to org {info.id}, not to spec.orgId {org.spec.org_id}")
    debug_action("verify-org", org=org.spec.org_id, name=name)
    return OrgState(name, org.spec, True, OrgReason.VERIFIED, f"verified as {info.name or info.id}",
                    root_token=token.value, client_settings=settings, org_name=info.name)


async def root_token_version(deps: Deps, org: AstraOrg) -> str | None:
    """A cheap look at whether the root token changed (one Secret GET); None when unknown."""
    ref = org.spec.root_token_ref
    if ref.secret is None:
        return None
    try:
        secret = await deps.kube.read_secret(ref.secret.namespace, ref.secret.name)
    except KubeError:
        return None
    return "missing" if secret is None else secret.resource_version


async def list_orgs_and_roles(deps: Deps) -> None:
    """Before any token is looked at: which AstraOrgs and AstraRoles exist, so that one not
    verified yet (its daemon has not run) is never taken for one that does not exist."""
    orgs = await deps.kube.list_objects(ORG_PLURAL)
    roles = await deps.kube.list_objects(ROLE_PLURAL)
    deps.runtime.verified.record_listing({str(o["metadata"]["name"]) for o in orgs},
                                      {str(r["metadata"]["name"]) for r in roles})


ROOT_TOKEN_CHECK_SECONDS = 15.0  # one Secret GET: notices a rotated root token quickly
NOT_READY_RETRY_SECONDS = 15.0
SWEEP_RETRY_SECONDS = 60.0  # a sweep that could not see tries again this soon (or at its interval, if sooner)


class OrgCycle:
    """One org daemon's turns: a full verification (root token, /v2/currentOrg, role sync, intent
    sweep, status) every org_verify_interval, at once after a spec change or wake-up, every 15 s
    while not Ready; between verifications, a cheap look at the root token Secret and the counts.
    The sweep against Astra's token list runs once the org is first verified, then every
    spec.sweep.interval while it is Ready."""

    def __init__(self, deps: Deps, events: EventSink) -> None:
        self.deps, self.events = deps, events
        self.role_sync = RoleSyncSchedule()
        self.roles_synced: Condition | None = None
        self.next_verify = 0.0  # time.monotonic()
        self.next_sweep = 0.0
        self.intent_listings = 0  # listings of the ledger's intents in this cycle
        self.intents_left = 0  # this org's intents the last listing left to their AstraTokens
        self.root_version: str | None = None
        self.ready = False
        self.handled_sync_request: str | None = None  # the astra-tokens.io/sync-roles value last handled
        self.next_astra_sweep = 0.0  # time.monotonic(); 0: the start-up pass is due
        self.last_astra_sweep: float | None = None
        self.told_sweep = ""  # the last sweep problem posted as an Event (each is told once)
        # What this cycle last wrote to the status: the watched body can lag behind it, and a list
        # (the conditions) written from a stale body would undo the previous write.
        self.written: dict[str, Any] = {}
        self.verified_at: datetime | None = None  # the last verification that found the org Ready

    async def step(self, body: dict[str, Any], woken: bool) -> float:
        """One turn; returns the seconds to sleep before the next (a wake-up cuts it short)."""
        org = AstraOrg.model_validate(body)
        now = time.monotonic()
        request = org.metadata.annotations.get(ANNOTATION_SYNC_ROLES)
        if request is None:
            self.handled_sync_request = None
        elif request != self.handled_sync_request:
            # A sync-roles request (kubectl astra roles import): the sync is due now, once per value.
            self.role_sync.reset()
            woken = True
        if not woken and self.ready and now < self.next_verify:
            version = await root_token_version(self.deps, org)
            if version == self.root_version:
                await self._refresh_counts(org)
                await self._sweep_if_due(org, now)
                return self._sleep(now)
        return await self._verify(org, now)

    async def _verify(self, org: AstraOrg, now: float) -> float:
        deps = self.deps
        deps.observer.org_named(org.metadata.name, org.spec.org_id)  # its calls are counted under its name
        state = await verify_org(deps, org)
        if state.ready:
            self.verified_at = deps.clock()
        deps.observer.org_seen(OrgView(state.name, state.org_id, state.ready, state.reason, self.verified_at))
        if deps.runtime.verified.publish_org(state):
            deps.runtime.wakeups.wake_kind("role", "token")  # they wait on this org's readiness
            (self.events.info if state.ready else self.events.warning)(state.reason, state.message)
        self.ready = state.ready
        try:
            self.roles_synced = await sync_roles_if_due(deps, org, state, self.role_sync, self.roles_synced, now)
            await self._report(org, state)
            request = org.metadata.annotations.get(ANNOTATION_SYNC_ROLES)
            if request is not None and request != self.handled_sync_request:  # done: RolesSynced says how
                await deps.kube.patch_metadata(ORG_PLURAL, org.metadata.name, annotations={ANNOTATION_SYNC_ROLES: None})
                self.handled_sync_request = request
            if state.ready and now >= self.next_sweep:
                if self._intents_may_be_left(state.org_id):
                    self.intents_left = await sweep_orphan_intents(deps, state)
                    self.intent_listings += 1
                else:  # none can be there: the oldest-intent gauge must not keep a finished mint's age
                    deps.observer.intents_listed(state.org_id, [])
                self.next_sweep = now + deps.config.intent_sweep_interval_seconds
            if state.ready:
                await self._sweep_if_due(org, now)
        except (KubeError, VaultError, AstraError) as exc:
            # A report or sweep that failed is retried; the daemon itself never dies of it.
            warn_action("verify-org", org=state.org_id, name=state.name, message=f"will retry: {exc}")
            self.ready = False
            return NOT_READY_RETRY_SECONDS
        if not state.ready:
            return NOT_READY_RETRY_SECONDS
        self.root_version = await root_token_version(deps, org)
        self.next_verify = now + deps.config.org_verify_interval_seconds
        return self._sleep(now)

    def _intents_may_be_left(self, org_id: str) -> bool:
        """Whether listing the ledger's intents can find one of this org: the first two times in
        this cycle (a process or a replica taking over lists what others left; the second, an
        interval later, finds what a replica paused meanwhile wrote before its cancelled turns
        ended), then only while the last listing left some or this process has written one it has
        not deleted. At rest: no Vault call."""
        return (self.intent_listings < 2 or self.intents_left > 0
                or self.deps.runtime.ledger_view.has_open_intents(org_id))

    async def _sweep_if_due(self, org: AstraOrg, now: float) -> None:
        """The sweep against Astra's token list, when due (the interval counts from the last one, so
        an edited spec.sweep.interval applies at once)."""
        interval = org.spec.sweep.interval_delta.total_seconds()
        due = self.next_astra_sweep if self.last_astra_sweep is None else min(
            self.next_astra_sweep, self.last_astra_sweep + interval)
        if now < due:
            return
        state = self.deps.runtime.verified.org(org.metadata.name)
        if state is None or not state.ready:
            self.next_astra_sweep = now + NOT_READY_RETRY_SECONDS
            return
        outcome = await sweep_org(self.deps, state)
        self.last_astra_sweep = now
        self.next_astra_sweep = now + (interval if outcome.complete else min(interval, SWEEP_RETRY_SECONDS))
        self._tell_sweep(outcome)
        wanted = AstraOrgStatus(conditions=set_condition(self._base(org).conditions,
                                                         outcome.condition(org.metadata.generation),
                                                         self.deps.clock()),
                                sweep=outcome.status())
        with contextlib.suppress(KubeError):  # a report: the next sweep writes it again
            await self._write(org, wanted)

    def _tell_sweep(self, outcome: SweepOutcome) -> None:
        if outcome.orphans_revoked:
            self.events.warning(SweepReason.ORPHAN_REVOKED,
                                f"revoked {len(outcome.orphans_revoked)} token(s) whose description names this "
                                f"cluster but that the ledger does not hold: {', '.join(outcome.orphans_revoked)}")
        if outcome.stale_slots_freed:
            self.events.warning(SweepReason.STALE_SLOT_FREED,
                                "revoked the tokens of AstraTokens gone from the cluster and freed their names: "
                                f"{', '.join(outcome.stale_slots_freed)}")
        problem = "" if outcome.complete else outcome.condition(None).message
        if problem and problem != self.told_sweep:
            condition = outcome.condition(None)
            self.events.warning(condition.reason, problem)
        self.told_sweep = problem

    def _sleep(self, now: float) -> float:
        deadline = min(self.next_verify, self.next_astra_sweep)
        sync_at = self.role_sync.wake_at()
        if sync_at is not None:
            deadline = min(deadline, sync_at)
        return max(0.0, min(ROOT_TOKEN_CHECK_SECONDS, deadline - now))

    async def _refresh_counts(self, org: AstraOrg) -> None:
        """TOKENS and ROLES move between verifications; written only when they change."""
        wanted = AstraOrgStatus(active_tokens=self.deps.runtime.active_tokens(org_id=org.spec.org_id),
                                roles=len(self.deps.runtime.verified.roles_of(org.metadata.name)))
        with contextlib.suppress(KubeError):  # counts; the next turn writes them again
            await self._write(org, wanted)

    def _base(self, org: AstraOrg) -> AstraOrgStatus:
        """The status as the body shows it, overlaid with what this cycle wrote since."""
        return AstraOrgStatus.model_validate({**org.status.model_dump(mode="json", by_alias=True), **self.written})

    async def _write(self, org: AstraOrg, wanted: AstraOrgStatus) -> None:
        have = {**org.status.model_dump(mode="json", by_alias=True), **self.written}
        patch = status_patch(have, wanted)
        if patch:
            await self.deps.kube.patch_status(ORG_PLURAL, org.metadata.name, patch)
            self.written.update(patch)

    async def _report(self, org: AstraOrg, state: OrgState) -> None:
        deps = self.deps
        now = deps.clock()
        conditions = set_condition(self._base(org).conditions, Condition(
            type=CONDITION_READY, status="True" if state.ready else "False", reason=state.reason,
            message=state.message, observed_generation=org.metadata.generation), now)
        conditions = with_roles_synced(conditions, self.roles_synced, now)
        wanted = AstraOrgStatus(
            conditions=conditions, observed_generation=org.metadata.generation,
            active_tokens=deps.runtime.active_tokens(org_id=org.spec.org_id),
            roles=len(deps.runtime.verified.roles_of(org.metadata.name)))
        if state.ready:  # a verification at rest costs one small write per interval, and says when it happened
            wanted = AstraOrgStatus(**{**wanted.model_dump(exclude_unset=True), "org_name": state.org_name,
                                       "last_verified": now})
        await self._write(org, wanted)
