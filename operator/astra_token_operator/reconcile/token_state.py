"""What a token's daemon remembers between passes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from astra_token_operator.records import VersionedRecord


@dataclass
class TokenMemory:
    """What a token's daemon remembers between passes (lost on restart, rebuilt from the ledger)."""

    current: VersionedRecord | None = None
    loaded: bool = False  # the slot was read since start-up
    superseded: VersionedRecord | None = None
    superseded_loaded: bool = False
    failures: int = 0
    slack: timedelta = timedelta(0)
    secret_checked_at: datetime | None = None
    secret_dirty: bool = True  # look at the Secret on the next pass
    expect_secret_change: bool = False  # True: the next Secret write publishes a change of ours (not a restore)
    last_blocked: tuple[str, str] | None = None
    # What this process last wrote: the watched body can lag behind it, and comparing
    # with a stale body would write the same thing twice.
    written_status: dict[str, Any] = field(default_factory=dict)
    written_labels: dict[str, str] = field(default_factory=dict)
    secret_resource_version: str | None = None  # of our last Secret write: its watch event is no news
    seen_generation: int | None = None  # the spec generation the daemon last acted on
    handled_requests: dict[str, str] = field(default_factory=dict)  # renew/revoke annotations acted on
    cas_losses: int = 0  # check-and-sets lost in a row

    def forget_ledger(self) -> None:
        """What was read from the ledger may be stale: the next pass reads it again."""
        self.current, self.loaded = None, False
        self.superseded, self.superseded_loaded = None, False


