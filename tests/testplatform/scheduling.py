"""How `make test` spreads the suite over pytest-xdist workers (`-n N`, any --dist).

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

Groups are `xdist_group` marks. pytest-xdist 3.8 would put them in the node ids, which pytest 9.2
no longer lets it change, so each worker writes its items' groups to a file the controller reads
(`configure_node`, `publish_groups`): without them the scheduler refuses to run, rather than
start two nodes at once.

Units are handed out longest first, so that no long module starts last: by durations.json beside
this file (seconds each unit took in a serial run, from `--durations=0`; only an order, so refresh
it when a module's time changes much), the node group first among units it does not name."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest

EACH_WORKER_LAST = "each-worker-last-"  # xdist_group prefix: "<prefix><worker id>"
NODE_GROUP = "node"
DURATIONS_HINT = Path(__file__).with_name("durations.json")
GROUPS_DIR_KEY = "astra_suite_groups_dir"  # in each worker's workerinput
GROUPS_DIR = pytest.StashKey[Path]()


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


def group_of(item: pytest.Item) -> str | None:
    mark = item.get_closest_marker("xdist_group")
    if mark is None:
        return None
    return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))


def configure_node(config: pytest.Config, node: Any) -> None:
    """Controller side: tell each worker where to write its items' groups."""
    if GROUPS_DIR not in config.stash:
        config.stash[GROUPS_DIR] = Path(tempfile.mkdtemp(prefix="astra-suite-groups-"))
    node.workerinput[GROUPS_DIR_KEY] = str(config.stash[GROUPS_DIR])


def publish_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Worker side, at the end of collection (before the controller hears it is done)."""
    workerinput = getattr(config, "workerinput", None)
    if not workerinput or GROUPS_DIR_KEY not in workerinput:
        return
    groups = {item.nodeid: group for item in items if (group := group_of(item)) is not None}
    target = Path(workerinput[GROUPS_DIR_KEY]) / f"{workerinput['workerid']}.json"
    partial = target.with_name(target.name + ".partial")
    partial.write_text(json.dumps(groups))
    os.replace(partial, target)


def _durations_hint() -> dict[str, float]:
    loaded = json.loads(DURATIONS_HINT.read_text())
    return {str(k): float(v) for k, v in loaded.items()}


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class SuiteScheduling(LoadScopeScheduling):  # type: ignore[misc, valid-type]
        def __init__(self, config: pytest.Config, log: Any) -> None:
            super().__init__(config, log)
            self.finals: dict[str, tuple[str, dict[str, bool]]] = {}  # worker id -> its last unit
            self.groups: dict[str, str] = {}  # node id -> its xdist_group

        def _split_scope(self, nodeid: str) -> str:
            at, bracket = nodeid.rfind("@"), nodeid.rfind("]")
            if at > bracket:  # an xdist_group in the node id (not an "@" inside parameters)
                return nodeid[at + 1:]
            return self.groups.get(nodeid) or nodeid.split("::", 1)[0]  # its group, else its module

        def _read_groups(self) -> None:
            directory = self.config.stash.get(GROUPS_DIR, None)
            assert directory is not None, "no worker was told where to write its groups"
            for node in self.registered_collections:
                written = directory / f"{node.gateway.id}.json"
                assert written.exists(), f"worker {node.gateway.id} wrote no groups (tests/conftest.py)"
                self.groups.update(json.loads(written.read_text()))
            shutil.rmtree(directory, ignore_errors=True)

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
            self._read_groups()
            units: dict[str, dict[str, bool]] = OrderedDict()
            for nodeid in self.collection:
                units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            for scope in [s for s in units if s.startswith(EACH_WORKER_LAST)]:
                self.finals[scope[len(EACH_WORKER_LAST):]] = (scope, units.pop(scope))
            known = _durations_hint()
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

    return SuiteScheduling(config, log)
