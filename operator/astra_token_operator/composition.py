"""The composition root: the real clients built once from the settings, wired
to the runtime registry, and closed on exit. Nothing else constructs them."""

from __future__ import annotations

from dataclasses import dataclass

from astra_token_operator.astra import AstraClients
from astra_token_operator.config import OperatorConfig
from astra_token_operator.kube import Kube
from astra_token_operator.reconcile.ledger_view import ViewedLedger
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.reconcile.runtime import Runtime
from astra_token_operator.vault import Ledger


@dataclass(frozen=True)
class Assembly:
    deps: Deps
    ledger: Ledger
    astra: AstraClients
    kube: Kube

    async def aclose(self) -> None:
        await self.astra.aclose_all()
        await self.ledger.aclose()
        await self.kube.aclose()


def assemble(config: OperatorConfig) -> Assembly:
    runtime = Runtime()
    listener = runtime.wakeups.call_finished  # every client's answers wake whoever waits on that system
    # Records wait until the start-up handler has checked (and migrated) the ledger's layout.
    ledger = Ledger.from_config(config, listener=listener, layout_checked=False)
    astra = AstraClients(listener=listener)
    kube = Kube.from_environment(listener=listener)
    # Every ledger read and write passes through the view the sweep keeps (reconcile/ledger_view.py).
    viewed = ViewedLedger(ledger, runtime.ledger_view)
    return Assembly(deps=Deps(config=config, ledger=viewed, astra=astra, kube=kube, runtime=runtime),
                    ledger=ledger, astra=astra, kube=kube)
