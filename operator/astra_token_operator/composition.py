"""The composition root: the real clients built once from the settings, wired
to the runtime registry and to what watches them (metrics, health), and closed
on exit. Nothing else constructs them."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from astra_token_operator.astra import AstraClients
from astra_token_operator.calls import CallListener, fan_out
from astra_token_operator.config import OperatorConfig
from astra_token_operator.kube import Kube
from astra_token_operator.observability.health import Health
from astra_token_operator.observability.metrics import OperatorMetrics, process_collectors
from astra_token_operator.observability.server import OpsServer
from astra_token_operator.reconcile.ledger_view import ViewedLedger
from astra_token_operator.reconcile.observer import IGNORE, Observer
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.reconcile.runtime import Runtime
from astra_token_operator.reconcile.secret_census import run_census
from astra_token_operator.vault import Ledger


@dataclass
class Assembly:
    deps: Deps
    ledger: Ledger
    astra: AstraClients
    kube: Kube
    health: Health
    metrics: OperatorMetrics | None
    server: OpsServer | None = None
    _heartbeat: asyncio.Task[None] | None = field(default=None, repr=False)
    _census: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self) -> None:
        """The ops port (/metrics, /livez, /readyz), the heartbeat and the Secret census; on the
        running event loop."""
        config = self.deps.config
        self.server = OpsServer(config.metrics_listen_addr, config.metrics_port, self.health,
                                self.metrics.registry if self.metrics is not None else None)
        self.server.start()
        loop = asyncio.get_running_loop()
        self._heartbeat = loop.create_task(self.health.run(self.ledger.ping), name="astra-heartbeat")
        self._census = loop.create_task(run_census(self.deps), name="secret-census")

    async def aclose(self) -> None:
        for task in (self._heartbeat, self._census):
            if task is not None:
                task.cancel()
                # Whatever ended a task, the clients below are still closed.
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.server is not None:
            self.server.stop()
        await self.astra.aclose_all()
        await self.ledger.aclose()
        await self.kube.aclose()


def assemble(config: OperatorConfig) -> Assembly:
    runtime = Runtime()
    health = Health(stall_seconds=config.event_loop_stall_seconds, webhook_expected=config.webhook_enabled)
    metrics: OperatorMetrics | None = None
    observer: Observer = IGNORE
    # Every client's answers wake whoever waits on that system, tell readiness whether Vault
    # answers, and (with metrics on) are counted.
    listeners: list[CallListener] = [runtime.wakeups.call_finished, health.call_finished]
    if config.metrics_enabled:
        metrics = OperatorMetrics(mints_in_flight=lambda: len(runtime.in_flight_intents))
        process_collectors(metrics.registry)
        listeners.append(metrics.call_finished)
        observer = metrics
    listener = fan_out(*listeners)
    # Records wait until the start-up handler has checked (and migrated) the ledger's layout.
    ledger = Ledger.from_config(config, listener=listener, layout_checked=False)
    astra = AstraClients(listener=listener)
    kube = Kube.from_environment(listener=listener)
    # Every ledger read and write passes through the view the sweep keeps (reconcile/ledger_view.py).
    viewed = ViewedLedger(ledger, runtime.ledger_view)
    deps = Deps(config=config, ledger=viewed, astra=astra, kube=kube, runtime=runtime, observer=observer)
    return Assembly(deps=deps, ledger=ledger, astra=astra, kube=kube, health=health, metrics=metrics)
