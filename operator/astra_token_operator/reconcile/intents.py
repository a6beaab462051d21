"""Mint intents whose AstraToken is gone (deleted while a crashed mint was in
flight): settled per org by revoking whatever they left in Astra."""

from __future__ import annotations

from astra_token_operator.lifecycle_log import log_action
from astra_token_operator.reconcile.minting import resolve_intent
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.reconcile.verified import OrgState
from astra_token_operator.surface import TOKEN_PLURAL


async def sweep_orphan_intents(deps: Deps, org: OrgState) -> int:
    """Resolve this org's intents whose owner no longer exists; return how many of its intents
    are left in the ledger besides those of mints running here. Intents of live AstraTokens are
    left to their own daemons, and those of mints running in this process are never touched."""
    if org.root_token is None:
        return 0
    client = deps.astra.get(org.org_id, org.root_token, org.client_settings)
    left = []  # when each intent still in the ledger was written, for the observer
    owners_alive = 0  # intents left to their own AstraToken's pass
    for intent in await deps.ledger.list_intents():
        if intent.org_id != org.org_id:
            continue
        if intent.intent_id in deps.runtime.in_flight_intents:
            left.append(intent.created_at)
            continue
        owner = intent.owner
        found = await deps.kube.get_object(TOKEN_PLURAL, owner.name, owner.namespace)
        if found is not None and found.get("metadata", {}).get("uid") == owner.uid:
            left.append(intent.created_at)
            owners_alive += 1
            continue
        result = await resolve_intent(deps, intent, client, owner_gone=True)
        await deps.ledger.free_slot(intent.org_id, intent.role_name, intent.logical_name, owner.uid)
        log_action("sweep-intent", org=org.org_id, role=intent.role_name, logical_name=intent.logical_name,
                   namespace=owner.namespace, name=owner.name, message=f"revoked {list(result.revoked)}")
    deps.observer.intents_listed(org.org_id, left)
    return owners_alive
