"""What a token's daemon remembers between passes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from astra_token_operator.vault import VersionedRecord


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


