"""Loaded by the operator's interpreter at start-up when the benchmark puts this directory on its
PYTHONPATH (`bench/lifecycle.py --memory-profile DIR`); never part of the operator or its image.

On the first SIGUSR2 it starts tracemalloc (ASTRA_BENCH_MEMORY_FRAMES frames per allocation,
default 12; 0: no tracing, the figures alone). Started with the interpreter, tracing made the
operator's imports take over a minute, so what was allocated before that first signal (the modules,
the start-up) is not traced. On every SIGUSR2 it writes into ASTRA_BENCH_MEMORY_DIR a tracemalloc
snapshot (`<label>.snapshot`, when tracing) and a small JSON file (`<label>.json`) with what
tracemalloc cannot see: the process's VmRSS and VmHWM, glibc's own account of its heap (mallinfo2,
summed over all its arenas), the number of threads, and pymalloc's arenas (sys._debugmallocstats,
which says nothing while tracemalloc traces: run with frames 0 for them). The label is read from
`ASTRA_BENCH_MEMORY_DIR/next-label`, which the benchmark writes before it sends the signal.
bench/memory_report.py reads them."""

from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path

_DIR = os.environ.get("ASTRA_BENCH_MEMORY_DIR")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _mallinfo() -> dict[str, int]:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return {name: int(getattr(info, name)) for name, _ in _MallInfo2._fields_}


def _pymalloc() -> dict[str, int]:
    """pymalloc's arenas, from sys._debugmallocstats (it writes to the C stderr, fd 2)."""
    with tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(capture.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode(errors="replace")
    found: dict[str, int] = {}
    for key, pattern in (("arenas_allocated_current", r"# arenas allocated current\s*=\s*([\d,]+)"),
                         ("arenas_bytes", r"(\d[\d,]*) arenas \* \d+ bytes/arena\s*=\s*([\d,]+)"),
                         ("bytes_in_allocated_blocks", r"# bytes in allocated blocks\s*=\s*([\d,]+)"),
                         ("bytes_in_available_blocks", r"# bytes in available blocks\s*=\s*([\d,]+)"),
                         ("bytes_lost_to_pool_headers", r"# bytes lost to pool headers\s*=\s*([\d,]+)"),
                         ("bytes_in_unused_pools", r"(\d[\d,]*) unused pools \* \d+ bytes\s*=\s*([\d,]+)")):
        match = re.search(pattern, text)
        if match:
            found[key] = int(match.groups()[-1].replace(",", ""))
    return found


def _census(top: int = 30) -> list[tuple[str, int, int]]:
    """The objects the garbage collector tracks, by type: (type, count, bytes by sys.getsizeof, the
    object alone). Dicts and tuples of atomic values only are not tracked, so not counted."""
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for obj in gc.get_objects():
        kind = type(obj)
        name = f"{kind.__module__}.{kind.__qualname__}"
        counts[name] += 1
        sizes[name] += sys.getsizeof(obj)
    return [(name, counts[name], size) for name, size in sizes.most_common(top)]


def _dump(_signum: int, _frame: object) -> None:
    assert _DIR is not None
    directory = Path(_DIR)
    label_file = directory / "next-label"
    label = label_file.read_text().strip() if label_file.exists() else f"at-{time.time():.0f}"
    started = time.monotonic()
    frames = int(os.environ.get("ASTRA_BENCH_MEMORY_FRAMES", "12"))
    if frames and not tracemalloc.is_tracing():
        tracemalloc.start(frames)
    current, peak = tracemalloc.get_traced_memory()
    facts = {
        "label": label, "time": time.time(), "rss_kib": _status_kib("VmRSS"), "hwm_kib": _status_kib("VmHWM"),
        "threads": threading.active_count(), "os_threads": len(os.listdir("/proc/self/task")),
        "traced_current": current, "traced_peak": peak, "tracemalloc_overhead": tracemalloc.get_tracemalloc_memory(),
        "mallinfo2": _mallinfo(), "pymalloc": _pymalloc(), "census": _census(),
    }
    if frames:
        snapshot = tracemalloc.take_snapshot()
        snapshot.dump(str(directory / f"{label}.snapshot"))
        del snapshot
        tracemalloc.reset_peak()  # the next label's peak is its own
    if label.endswith("deleted"):
        # What glibc would give back if asked: malloc_trim(0) returns the free pages of all its
        # arenas to the system (pymalloc's arenas are not glibc's: they go back only when empty).
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        facts["rss_after_malloc_trim_kib"] = _status_kib("VmRSS")
        # And after a full collection: cyclic garbage (asyncio's transports and their 256 KiB SSL
        # buffers among it) waits for one, which a process at rest may not run for a long time.
        facts["gc_collected"] = gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        time.sleep(6)  # an allocator preloaded in glibc's place gives pages back after its decay time
        facts["rss_after_gc_kib"] = _status_kib("VmRSS")
    facts["dump_seconds"] = round(time.monotonic() - started, 2)
    (directory / f"{label}.json.part").write_text(json.dumps(facts, indent=1))
    (directory / f"{label}.json.part").rename(directory / f"{label}.json")  # the benchmark waits for it


if _DIR:
    signal.signal(signal.SIGUSR2, _dump)
