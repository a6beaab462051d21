"""Whether a token's first turn in this process may arm its timer from its status alone: pure.

After a restart or a hand-over, every AstraToken's daemon starts again. A token whose status says
it is Ready for its current spec, with its next renewal or rotation planned, needs nothing read to
know when to act: the status is written after the ledger, so a status that lags behind a crash or a
lost write only ever names an earlier time (a pass then reads the ledger and finds out). Such a
token sleeps until its next action, or until its verification (a full pass: the ledger and its
Secret) spread over the drift check interval, whichever comes first. Anything else (no client id,
not Ready, a spec not yet acted on, an open request, workloads to restart, a time already past) gets
a full pass at once. docs/decisions.md (2026-12-06) says why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from astra_token_operator.models import AstraTokenStatus
from astra_token_operator.surface import CONDITION_READY, CONDITION_ROLLED_OUT

# A superseded token is revoked when its grace period ends, counted from the rotation; the new
# token's generatedOn (Astra's clock) can lag a little behind it: wake this much earlier.
GRACE_MARGIN = timedelta(seconds=30)


@dataclass(frozen=True)
class Armed:
    """The token's next turn, and where it stands as its status says."""

    wake_at: datetime
    reason: str  # its Ready condition's reason
    org_id: str
    role_name: str
    lease_expires_at: datetime
    max_expires_at: datetime | None
    renew_before: timedelta  # its next action falls this long before its lease ends (leases.decide)


def arm_from_status(status: AstraTokenStatus, *, generation: int | None, has_requests: bool,
                    has_restart_targets: bool, grace: timedelta | None, now: datetime,
                    verify_at: datetime) -> Armed | None:
    """When the token's next turn is, if its status alone can say; None: a full pass now.
    ``grace``: its spec's rotation grace period (None: unreadable); ``verify_at``: when its
    verification pass is due (the caller spreads these)."""
    ready = next((c for c in status.conditions if c.type == CONDITION_READY), None)
    rolled_out = next((c for c in status.conditions if c.type == CONDITION_ROLLED_OUT), None)
    if (not status.client_id or not status.org_id or not status.role_name
            or ready is None or ready.status != "True" or ready.observed_generation != generation
            or status.observed_generation != generation
            or has_requests or has_restart_targets or grace is None
            or (rolled_out is not None and rolled_out.status != "True")
            or status.next_action_at is None or status.next_action_at <= now
            or status.lease_expires_at is None or status.lease_expires_at <= now):
        return None
    wake_at = min(status.next_action_at, verify_at)
    if status.generated_on is not None:
        # The token it replaced (if any) is revoked at the end of its grace: a pass then does it.
        previous_revoked_by = status.generated_on + grace - GRACE_MARGIN
        if previous_revoked_by > now:
            wake_at = min(wake_at, previous_revoked_by)
    return Armed(wake_at=wake_at, reason=ready.reason, org_id=status.org_id, role_name=status.role_name,
                 lease_expires_at=status.lease_expires_at, max_expires_at=status.max_expires_at,
                 renew_before=status.lease_expires_at - status.next_action_at)
