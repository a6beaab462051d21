"""Child processes that are always torn down: own process group, stdin kept
open so a child can notice its parent died, SIGTERM then SIGKILL.

Every child is started from one long-lived thread of its own (``_SPAWNER``).
PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the
process: a child started from a short-lived helper thread (a test restarting
the operator from a ThreadPoolExecutor, say) would get SIGTERM the moment that
thread ended. The spawner thread lives until the interpreter exits, so the
signal means what it should: the test runner is gone."""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL("libc.so.6", use_errno=True)  # loaded before any fork
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="child-spawner")  # never shut down early


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends SIGTERM when the test
    runner dies, even by SIGKILL, so no server outlives it."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_LOWEST_PORT = 10_000
_handed_out: set[int] = set()
# Its own source: a test that seeds the random module (as hypothesis does while it runs) must never
# make two xdist workers draw the same ports.
_PICK = random.SystemRandom()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32_768, 60_999


def free_port() -> int:
    """A loopback port nobody listens on now, for a server started soon. Chosen below the kernel's
    ephemeral range when there is room: a port from that range (what binding port 0 gives) may be
    taken meanwhile as the local end of any outgoing connection (kubectl, the apiserver, a client of
    another xdist worker), and the server then fails with EADDRINUSE. Random, and never handed out
    twice by this process, so sessions side by side rarely pick the same one (a source of its own:
    never the test run's seeded one); when they do, the bind check of the second sees the first once
    it listens."""
    low, _ = _ephemeral_range()
    if low - _LOWEST_PORT < 1_000:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
            return port
    for _ in range(1_000):
        port = _PICK.randrange(_LOWEST_PORT, low)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free loopback port between {_LOWEST_PORT} and {low}")


class Child:
    """One server process whose stderr goes to a log file."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None,
                 stdout: int | None = subprocess.PIPE) -> None:
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 (closed in stop())
        self.process = _SPAWNER.submit(
            subprocess.Popen,
            argv,
            stdin=subprocess.PIPE,
            stdout=stdout if stdout is not None else self._log,
            stderr=self._log,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            preexec_fn=_die_with_parent,
        ).result()

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 20.0) -> None:
        if self.alive():
            self.signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self._log.close()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, child: Child | None = None,
               interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if child is not None and not child.alive():
            raise RuntimeError(f"{child.name} exited while waiting for {what}:\n{child.log_tail()}")
        time.sleep(interval)
    tail = f"\n{child.log_tail()}" if child is not None else ""
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")
