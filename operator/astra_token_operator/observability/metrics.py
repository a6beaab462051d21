"""The operator's Prometheus metrics: every name below is in docs/metrics.md.

``OperatorMetrics`` is both the clients' call listener (Astra, Vault and
Kubernetes calls) and the reconcile layer's ``Observer`` (lifecycle counters,
per-token and per-org state, ledger intents, admission verdicts). Counters and
histograms are prometheus_client's; what is one value per token or org is
kept in plain dicts and turned into samples at scrape time, so a token's series
go when the token is forgotten, and nothing is computed when nobody scrapes.

Labels carry names, ids, reasons and HTTP statuses only: never a token, a
client secret or a root token (the suite's secret scan reads the scrape)."""

from __future__ import annotations

import math
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from astra_token_operator.calls import CallRecord
from astra_token_operator.reconcile.observer import Lifecycle, LifecycleOutcome, OrgView, TokenView

PREFIX = "astra_token_operator"
# Astra answers in tens to hundreds of milliseconds; Vault and the apiserver in milliseconds.
ASTRA_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# A scheduled renewal is due renewBefore ahead of the lease's end: seconds late are fine, minutes are not.
LATENESS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
VAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
TOKEN_LABELS = ("org", "role", "namespace", "name")
COUNTED_LIFECYCLE = {
    Lifecycle.MINT: "mints",
    Lifecycle.RENEWAL: "renewals",
    Lifecycle.ROTATION: "rotations",
    Lifecycle.REVOCATION: "revocations",
    Lifecycle.SECRET_RESTORE: "secret_restores",
    Lifecycle.WORKLOAD_RESTART: "workload_restarts",
}


def _timestamp(at: datetime | None) -> float | None:
    """Whole seconds, as the status and the Secret show the same instant (RFC 3339, no fraction)."""
    return float(math.floor(at.timestamp())) if at is not None else None


@dataclass
class _Token:
    view: TokenView
    lease_expires_at: float | None
    max_expires_at: float | None
    renew_before: float | None


class OperatorMetrics:
    """The registry and everything that feeds it. ``clock`` is Unix time (scrape-time ages)."""

    def __init__(self, registry: CollectorRegistry | None = None, *, clock: Callable[[], float] = time.time,
                 mints_in_flight: Callable[[], int] = lambda: 0) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._clock = clock
        self._mints_in_flight = mints_in_flight
        self._tokens: dict[str, _Token] = {}
        self._orgs: dict[str, OrgView] = {}
        self._org_names: dict[str, str] = {}  # Astra org id -> AstraOrg name
        self._intents: dict[str, list[float]] = {}  # Astra org id -> when each intent left was written
        r = self.registry
        self._lifecycle = {
            action: Counter(f"{PREFIX}_{name}", f"AstraToken {action.value.replace('_', ' ')}s, by org and outcome",
                            ["org", "outcome"], registry=r)
            for action, name in COUNTED_LIFECYCLE.items()}
        self._admission = Counter(f"{PREFIX}_admission_reviews", "Admission reviews answered, by webhook and verdict",
                                  ["webhook", "verdict"], registry=r)
        self._astra_calls = Counter(f"{PREFIX}_astra_calls", "Astra DevOps API calls, by org, route and HTTP status "
                                    "(retries included in one call)", ["org", "route", "status"], registry=r)
        self._astra_seconds = Histogram(f"{PREFIX}_astra_call_duration_seconds",
                                        "Astra DevOps API call latency (retries and rate-limit waits included)",
                                        ["org", "route"], buckets=ASTRA_BUCKETS, registry=r)
        self._astra_retries = Counter(f"{PREFIX}_astra_retries", "Astra requests sent again after a network "
                                      "error, 429 or 5xx", ["org", "route"], registry=r)
        self._astra_waits = Counter(f"{PREFIX}_astra_rate_limit_waits", "Astra calls that waited for the org's "
                                    "rate limit", ["org"], registry=r)
        self._astra_waited = Counter(f"{PREFIX}_astra_rate_limit_wait_seconds", "Time Astra calls waited for "
                                     "the org's rate limit", ["org"], registry=r)
        self._vault_calls = Counter(f"{PREFIX}_vault_calls", "Vault ledger calls, by operation and outcome",
                                    ["operation", "outcome"], registry=r)
        self._vault_seconds = Histogram(f"{PREFIX}_vault_call_duration_seconds", "Vault ledger call latency",
                                        ["operation"], buckets=VAULT_BUCKETS, registry=r)
        self._kube_calls = Counter(f"{PREFIX}_kube_calls", "Kubernetes API calls, by verb, resource and outcome",
                                   ["verb", "resource", "outcome"], registry=r)
        self._renewal_lateness = Histogram(f"{PREFIX}_renewal_lateness_seconds", "How long after it fell due "
                                           "each scheduled renewal was decided", buckets=LATENESS_BUCKETS, registry=r)
        r.register(_StateCollector(self))

    # --- the clients' listener -----------------------------------------------------------------

    def call_finished(self, call: CallRecord) -> None:
        if call.system == "astra":
            org = self.org_name(call.org)
            self._astra_calls.labels(org, call.operation, str(call.status) if call.status else "none").inc()
            self._astra_seconds.labels(org, call.operation).observe(call.seconds)
            if call.attempts > 1:
                self._astra_retries.labels(org, call.operation).inc(call.attempts - 1)
            if call.rate_limited_seconds > 0.001:  # a wait worth the name, not the bucket's bookkeeping
                self._astra_waits.labels(org).inc()
                self._astra_waited.labels(org).inc(call.rate_limited_seconds)
        elif call.system == "vault":
            self._vault_calls.labels(call.operation, call.outcome).inc()
            self._vault_seconds.labels(call.operation).observe(call.seconds)
        else:
            verb, _, resource = call.operation.rpartition(" ")
            self._kube_calls.labels(verb or call.operation, resource, call.outcome).inc()

    # --- the reconcile layer's observer --------------------------------------------------------

    def lifecycle(self, action: Lifecycle, org_id: str, outcome: LifecycleOutcome) -> None:
        self._lifecycle[action].labels(self.org_name(org_id), outcome).inc()

    def renewal_late(self, seconds: float) -> None:
        self._renewal_lateness.observe(seconds)

    def token_seen(self, uid: str, view: TokenView) -> None:
        known = self._tokens.get(uid)
        lease, most = _timestamp(view.lease_expires_at), _timestamp(view.max_expires_at)
        if lease is None and known is not None and known.view.org == view.org:
            lease, most = known.lease_expires_at, known.max_expires_at  # unknown now is not gone
        renew_before = view.renew_before_seconds
        if renew_before is None and known is not None:
            renew_before = known.renew_before
        self._tokens[uid] = _Token(view, lease, most, renew_before)

    def token_forgotten(self, uid: str) -> None:
        self._tokens.pop(uid, None)

    def org_named(self, name: str, org_id: str) -> None:
        self._org_names[org_id] = name

    def org_seen(self, view: OrgView) -> None:
        self._orgs[view.name] = view
        self._org_names[view.org_id] = view.name

    def org_forgotten(self, name: str) -> None:
        view = self._orgs.pop(name, None)
        if view is not None:
            self._intents.pop(view.org_id, None)

    def intents_listed(self, org_id: str, created_at: Iterable[datetime]) -> None:
        self._intents[org_id] = [at.timestamp() for at in created_at]

    def admission(self, webhook: str, verdict: Literal["allowed", "denied", "error"]) -> None:
        self._admission.labels(webhook, verdict).inc()

    def org_name(self, org_id: str) -> str:
        """The AstraOrg's name for an Astra org id (the id itself until the org was verified)."""
        return self._org_names.get(org_id, org_id)

    # --- at scrape time ------------------------------------------------------------------------

    def _state(self) -> Iterator[Metric]:
        now = self._clock()
        lease = GaugeMetricFamily(f"{PREFIX}_token_lease_expiry_timestamp_seconds",
                                  "When the lease of the AstraToken's current token ends (Unix time)",
                                  labels=TOKEN_LABELS)
        most = GaugeMetricFamily(f"{PREFIX}_token_max_expiry_timestamp_seconds",
                                 "When the AstraToken's current token reaches its max ttl (Unix time)",
                                 labels=TOKEN_LABELS)
        before = GaugeMetricFamily(f"{PREFIX}_token_renew_before_seconds",
                                   "How long before its lease ends the token is renewed (or rotated)",
                                   labels=TOKEN_LABELS)
        ready = GaugeMetricFamily(f"{PREFIX}_token_ready", "1 when the AstraToken is Ready, else 0; the reason "
                                  "label is its Ready condition's reason", labels=(*TOKEN_LABELS, "reason"))
        states: Tally[tuple[str, str, str]] = Tally()
        waiting: Tally[tuple[str, str]] = Tally()
        for token in list(self._tokens.values()):
            view = token.view
            labels = [view.org, view.role, view.namespace, view.name]
            if token.lease_expires_at is not None:
                lease.add_metric(labels, token.lease_expires_at)
            if token.max_expires_at is not None:
                most.add_metric(labels, token.max_expires_at)
            if token.renew_before is not None:
                before.add_metric(labels, token.renew_before)
            ready.add_metric([*labels, view.reason], 1.0 if view.ready else 0.0)
            states[(view.org, view.role, "ready" if view.ready else "not_ready")] += 1
            if token.lease_expires_at is None:
                if not view.ready:
                    waiting[(view.org, "mint")] += 1
            elif token.renew_before is not None and now >= token.lease_expires_at - token.renew_before:
                waiting[(view.org, "renewal")] += 1
        yield from (lease, most, before, ready)

        tokens = GaugeMetricFamily(f"{PREFIX}_tokens", "AstraTokens this replica works on, by org, role and "
                                   "state (ready, not_ready)", labels=("org", "role", "state"))
        for (org, role, state), count in sorted(states.items()):
            tokens.add_metric([org, role, state], count)
        yield tokens
        yield GaugeMetricFamily(f"{PREFIX}_mints_in_flight", "Mints between their ledger intent and their record "
                                "right now (an Astra create may be under way)", value=self._mints_in_flight())
        queue = GaugeMetricFamily(f"{PREFIX}_org_queue_depth", "AstraTokens waiting for a mint (no live token, "
                                  "not Ready) or a renewal (due and not done), by org", labels=("org", "action"))
        for org_view in list(self._orgs.values()):  # every known org has both series, zero included
            for action in ("mint", "renewal"):
                queue.add_metric([org_view.name, action], waiting.pop((org_view.name, action), 0))
        for (org, action), count in sorted(waiting.items()):
            queue.add_metric([org, action], count)
        yield queue

        org_ready = GaugeMetricFamily(f"{PREFIX}_org_ready", "1 when the AstraOrg is Ready, else 0; the reason "
                                      "label is its Ready condition's reason", labels=("org", "reason"))
        verified = GaugeMetricFamily(f"{PREFIX}_org_last_verified_timestamp_seconds",
                                     "When the AstraOrg was last verified against Astra (Unix time)", labels=("org",))
        age = GaugeMetricFamily(f"{PREFIX}_org_seconds_since_verified",
                                "Seconds since the AstraOrg was last verified against Astra", labels=("org",))
        for org_view in list(self._orgs.values()):
            org_ready.add_metric([org_view.name, org_view.reason], 1.0 if org_view.ready else 0.0)
            at = _timestamp(org_view.verified_at)
            if at is not None:
                verified.add_metric([org_view.name], at)
                age.add_metric([org_view.name], max(0.0, now - at))
        yield from (org_ready, verified, age)

        intents = GaugeMetricFamily(f"{PREFIX}_ledger_oldest_intent_age_seconds",
                                    "Age of the oldest mint intent left in the ledger, as of the org's last intent "
                                    "sweep (0: none)", labels=("org",))
        for org_id, written in list(self._intents.items()):
            intents.add_metric([self.org_name(org_id)], max(0.0, now - min(written)) if written else 0.0)
        yield intents


class _StateCollector(Collector):
    def __init__(self, metrics: OperatorMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return list(self._metrics._state())  # one consistent pass, on the scraping thread

    def describe(self) -> Iterable[Metric]:
        return []  # state families vary with what exists; described at collect time


def process_collectors(registry: CollectorRegistry) -> None:
    """CPU, memory, file descriptors and the Python version, under prometheus_client's own names."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
