"""At start-up: bring the ledger to its current layout (records without their
token and client secret, which live apart as credentials; see vault/layout.py),
in the background. Until that is done the ledger answers every call that
touches a record with VaultUnavailable, so tokens wait as they do for a Vault
outage and are woken when it ends; nothing is ever minted again for it."""

from __future__ import annotations

from astra_token_operator.lifecycle_log import log_action, warn_action
from astra_token_operator.reconcile.errors import backoff_seconds
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.reconcile.wakeups import VAULT
from astra_token_operator.vault import LayoutMigration, VaultError, VaultUnavailable


async def migrate_ledger_layout(deps: Deps) -> LayoutMigration:
    """Until it succeeds: woken as soon as Vault answers again after an outage."""
    failures = 0
    while True:
        try:
            migration = await deps.ledger.migrate_layout()
        except VaultError as exc:
            failures += 1
            warn_action("migrate-layout", message=f"the ledger's layout could not be checked; retrying: {exc}")
            cause = VAULT if isinstance(exc, VaultUnavailable) else None
            await deps.runtime.wakeups.wait_for(cause, backoff_seconds(failures, cap=60))
            continue
        if not migration.already:
            log_action("migrate-layout", message=f"{migration.split} record(s) split into record and credentials")
        return migration
