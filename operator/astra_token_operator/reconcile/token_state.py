"""What this process remembers about one AstraToken between passes. Lost on a
restart and rebuilt from the ledger and the cluster: nothing here is the truth,
only what saves reading it again."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from astra_token_operator.kube import SecretSnapshot
from astra_token_operator.records import MintIntent, VersionedRecord


@dataclass
class LedgerCache:
    """The ledger facts last read or written by this process for the token."""

    slot_holder_uid: str | None = None
    slot_holder: str = ""
    slot_version: int | None = None
    intent: MintIntent | None = None
    current: VersionedRecord | None = None
    previous: VersionedRecord | None = None


@dataclass
class TokenState:
    ledger: LedgerCache | None = None  # None: read the ledger on the next pass
    looked: bool = False  # a pass has looked at the ledger facts (the first one may skip reading them)
    failures: int = 0  # passes in a row that ended blocked
    cas_losses: int = 0  # check-and-sets lost in a row
    slack: timedelta = timedelta(0)  # the next pass may act this early (it wakes from a jittered sleep)
    secret_checked_at: datetime | None = None
    secret_dirty: bool = True  # look at the Secret on the next pass
    secret_resource_version: str | None = None  # of our last Secret write: its watch event is no news
    # While a write of the Secret is in flight: the resourceVersions the watch reported meanwhile. Its
    # own event may come before its answer; only one of another version is news (decided on the answer).
    secret_events_while_writing: set[str] | None = None
    secret_seen: SecretSnapshot | None = None  # as this pass last read it (a write replaces that version)
    last_blocked: tuple[str, str] | None = None  # the last problem told (one Event per distinct problem)
    # What this process last wrote: the watched body can lag behind it, and comparing with a
    # stale body would write the same thing twice.
    written_status: dict[str, Any] = field(default_factory=dict)
    written_labels: dict[str, str] = field(default_factory=dict)
    seen_generation: int | None = None  # the spec generation the daemon last acted on
    handled_requests: dict[str, str] = field(default_factory=dict)  # renew/revoke annotations acted on
    restart_wait_until: datetime | None = None  # its workloads' restart is batched with others' until then
    # (org id, role name) of its live token as its status said when its timer was armed from the
    # status (reconcile/resume.py), until a pass reads the ledger: it still counts as active.
    armed_as: tuple[str, str] | None = None

    def forget_ledger(self) -> None:
        """What was read from the ledger may be stale: the next pass reads it again."""
        self.ledger = None
