"""How `make test` spreads the suite over pytest-xdist workers (`-n N --dist loadgroup`).

Each worker is a pytest session of its own, with its own platform (control plane, OpenBao,
fake Astra, operator), so the unit of work is what shares session and module state:

- a test module (its module-scoped fixtures, an operator restarted with other timers, a
  helm release, an OpenBao of its own, are set up once, on one worker);
- a named group (`xdist_group`): the tests that run pods on the node, which binds
  fixed host resources (a node named 127.0.0.1, hostNetwork pods), run on one worker;
- the last test of each worker (`EACH_WORKER_LAST`, below): the scan for leaked secrets
  reads what its own session produced (its operator's logs, metrics, Events, custom
  resources, `kubectl astra` outputs, ledger), so it is collected once per worker
  (`worker_parametrize`) and each copy is sent to its worker after everything else.

Units are handed out longest first, so that no long module starts last: their durations in
this machine's last run (kept in the build cache), else in durations.json beside this file
(seconds of a serial run; a hint, refresh it when a module's time changes much)."""

from __future__ import annotations

import contextlib
import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest

from testplatform.paths import CACHE_DIR

EACH_WORKER_LAST = "each-worker-last-"  # xdist_group prefix: "<prefix><worker id>"
NODE_GROUP = "node"
DURATIONS_FILE = CACHE_DIR / "suite-durations.json"
DURATIONS_HINT = Path(__file__).with_name("durations.json")


def worker_count() -> int:
    """How many workers this session is one of (1 without xdist)."""
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)


def this_worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER") or "gw0"


def worker_parametrize(metafunc: pytest.Metafunc, argname: str) -> None:
    """Collect the test once per worker (ids gw0, gw1, ...), each copy the last of its worker.
    Without xdist it is not parametrized: a fixture of that name gives "gw0"."""
    count = worker_count()
    if count == 1:
        return
    metafunc.parametrize(argname, [
        pytest.param(f"gw{i}", id=f"gw{i}", marks=pytest.mark.xdist_group(f"{EACH_WORKER_LAST}gw{i}"))
        for i in range(count)])


def _load_durations(path: Path = DURATIONS_FILE) -> dict[str, float]:
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(path.read_text())
        if isinstance(loaded, dict):
            return {str(k): float(v) for k, v in loaded.items()}
    return {}


def _save_durations(durations: dict[str, float]) -> None:
    """Atomically, merged into what is there (other worktrees' suites share the cache)."""
    with contextlib.suppress(OSError):
        merged = {**_load_durations(), **durations}
        DURATIONS_FILE.parent.mkdir(parents=True, exist_ok=True)
        partial = DURATIONS_FILE.with_name(f"{DURATIONS_FILE.name}.partial-{os.getpid()}")
        partial.write_text(json.dumps(merged, indent=0, sort_keys=True))
        os.replace(partial, DURATIONS_FILE)


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class SuiteScheduling(LoadScopeScheduling):  # type: ignore[misc, valid-type]
        def __init__(self, config: pytest.Config, log: Any) -> None:
            super().__init__(config, log)
            self.finals: dict[str, tuple[str, dict[str, bool]]] = {}  # worker id -> its last unit
            self.durations: dict[str, float] = {}

        def _split_scope(self, nodeid: str) -> str:
            at, bracket = nodeid.rfind("@"), nodeid.rfind("]")
            if at > bracket:  # an xdist_group (not an "@" inside parameters)
                return nodeid[at + 1:]
            return nodeid.split("::", 1)[0]  # the module

        def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
            nodeid = self.registered_collections[node][item_index]
            scope = self._split_scope(nodeid)
            self.durations[scope] = self.durations.get(scope, 0.0) + duration
            super().mark_test_complete(node, item_index, duration)

        def _reschedule(self, node: Any) -> None:
            if node.shutting_down:
                return
            if self.workqueue:
                if self._pending_of(self.assigned_work[node]) <= 2:
                    self._assign_work_unit(node)
                return
            final = self.finals.pop(node.gateway.id, None)
            if final is not None:  # behind whatever it still has to run: it runs last
                scope, unit = final
                self.assigned_work[node][scope] = unit
                collection = self.registered_collections[node]
                node.send_runtest_some([collection.index(nodeid) for nodeid in unit])
                return
            node.shutdown()

        def schedule(self) -> None:
            assert self.collection_is_completed
            if self.collection is not None:
                for node in self.nodes:
                    self._reschedule(node)
                return
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            self.collection = list(next(iter(self.registered_collections.values())))
            if not self.collection:
                return
            units: dict[str, dict[str, bool]] = OrderedDict()
            for nodeid in self.collection:
                units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            for scope in [s for s in units if s.startswith(EACH_WORKER_LAST)]:
                self.finals[scope[len(EACH_WORKER_LAST):]] = (scope, units.pop(scope))
            known = {**_load_durations(DURATIONS_HINT), **_load_durations()}
            order = sorted(units, key=lambda s: (-known.get(s, 0.0), s != NODE_GROUP))  # stable otherwise
            for scope in order:
                self.workqueue[scope] = units[scope]
            for node in self.nodes:
                self._reschedule(node)
            for node in self.nodes:
                self._reschedule(node)

        @property
        def tests_finished(self) -> bool:
            return not self.finals and bool(super().tests_finished)

        @property
        def has_pending(self) -> bool:
            return bool(self.finals) or bool(super().has_pending)

        def remove_node(self, node: Any) -> str | None:
            crashed: str | None = super().remove_node(node)
            if not self.assigned_work:  # the last worker is done
                _save_durations(self.durations)
            return crashed

    return SuiteScheduling(config, log)
