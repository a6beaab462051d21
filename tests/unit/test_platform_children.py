"""The test platform's child processes outlive the thread that asked for them
(PR_SET_PDEATHSIG fires when the forking *thread* exits), and still die with
the test runner."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from testplatform.processes import Child


def test_a_child_started_from_a_thread_that_ends_keeps_running(tmp_path: Path) -> None:
    started: list[Child] = []
    helper = threading.Thread(target=lambda: started.append(Child("sleeper", ["sleep", "30"], tmp_path / "log")))
    helper.start()
    helper.join()
    child = started[0]
    try:
        time.sleep(0.3)  # PDEATHSIG, had it been armed by the helper thread, arrives at once
        assert child.alive(), f"the child died with the thread that started it (exit {child.process.returncode})"
    finally:
        child.stop(timeout=5)
    assert not child.alive()
