"""What reconciliation tells whoever watches it (the metrics), without knowing who.

The composition root hands ``Deps`` an implementation (observability/metrics.py);
unit tests and anything else get ``IGNORE``. Every method is called on the event
loop, must be cheap and must never raise: it is a report, not a step of the work.
Nothing passed here is secret: names, ids, reasons and times only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol


class Lifecycle(StrEnum):
    """The work counted per org and outcome."""

    MINT = "mint"  # a token created in Astra (first, rotation or replacement)
    RENEWAL = "renewal"  # a lease extended (by schedule or on request)
    ROTATION = "rotation"  # a mint that replaces a token (max expiry near, revoke request, expired, lost)
    REVOCATION = "revocation"  # a token revoked in Astra and recorded so
    SECRET_RESTORE = "secret_restore"  # noqa: S105 (a name) a deleted or edited Secret put back
    WORKLOAD_RESTART = "workload_restart"  # a rolloutRestartTargets entry restarted


LifecycleOutcome = Literal["ok", "error", "not_found"]


@dataclass(frozen=True)
class TokenView:
    """Where one AstraToken stands after a pass. ``org`` and ``role`` are the names its spec
    refers to. Lease fields are None when no live token is known (then the last known values
    are kept: an unreadable ledger does not make a lease disappear)."""

    namespace: str
    name: str
    org: str
    role: str
    ready: bool
    reason: str
    lease_expires_at: datetime | None = None
    max_expires_at: datetime | None = None
    renew_before_seconds: float | None = None


@dataclass(frozen=True)
class OrgView:
    name: str  # the AstraOrg's metadata.name
    org_id: str
    ready: bool
    reason: str
    verified_at: datetime | None  # the last successful verification (None: never)


class Observer(Protocol):
    def lifecycle(self, action: Lifecycle, org_id: str, outcome: LifecycleOutcome) -> None: ...

    def token_seen(self, uid: str, view: TokenView) -> None: ...

    def token_forgotten(self, uid: str) -> None: ...

    def org_named(self, name: str, org_id: str) -> None: ...

    def org_seen(self, view: OrgView) -> None: ...

    def org_forgotten(self, name: str) -> None: ...

    def intents_listed(self, org_id: str, created_at: Iterable[datetime]) -> None: ...

    def admission(self, webhook: str, verdict: Literal["allowed", "denied", "error"]) -> None: ...

    def renewal_late(self, seconds: float) -> None: ...


class IgnoreObserver:
    """Watches nothing: the observer of a Deps built without one."""

    def lifecycle(self, action: Lifecycle, org_id: str, outcome: LifecycleOutcome) -> None:
        pass

    def token_seen(self, uid: str, view: TokenView) -> None:
        pass

    def token_forgotten(self, uid: str) -> None:
        pass

    def org_named(self, name: str, org_id: str) -> None:
        pass

    def org_seen(self, view: OrgView) -> None:
        pass

    def org_forgotten(self, name: str) -> None:
        pass

    def intents_listed(self, org_id: str, created_at: Iterable[datetime]) -> None:
        pass

    def admission(self, webhook: str, verdict: Literal["allowed", "denied", "error"]) -> None:
        pass

    def renewal_late(self, seconds: float) -> None:
        pass


IGNORE = IgnoreObserver()
