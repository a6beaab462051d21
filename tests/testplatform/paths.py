"""Where the platform keeps things: built binaries in a cache outside the repo."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(
    os.environ.get("ASTRA_TOKEN_OPERATOR_CACHE", Path.home() / ".cache" / "astra-token-operator")
)
VENV_BIN = Path(sys.executable).parent


def venv_tool(name: str) -> Path:
    """A console script installed beside the running interpreter (bao, kubectl)."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found beside {sys.executable} nor on PATH; run `make venv`")
    return Path(found)


@contextlib.contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """Hold an exclusive lock on CACHE_DIR/<name>.lock: the suite's xdist workers (and suites
    of other worktrees) that would build the same thing wait for the first one, then find it
    cached, instead of all building it at once."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / f"{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
