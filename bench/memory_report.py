"""What the operator's memory holds, from the files `bench/lifecycle.py --memory-profile DIR` leaves:

    .venv/bin/python bench/memory_report.py DIR [--top 25]

For each label (a moment of the benchmark, e.g. `n2000-1-ready`), in the order they were taken: the
process's RSS and peak; what tracemalloc traced (every Python object and every PyMem buffer allocated
since the first label and still alive, by the stack that allocated it); glibc's heap (mallinfo2:
bytes taken from the system, of them in use and free) and pymalloc's arenas. Then the traced bytes by
part (the innermost frame that belongs to a library or to the operator, so a dict that json.loads
made for Kopf counts for Kopf) and the top allocation sites. Tracing starts at the first label
(before the ramp), so what is traced is what the tokens added and the operator still holds. The
growth of RSS beyond the traced bytes is what tracemalloc cannot see: C libraries' own mallocs
(OpenSSL, pydantic-core), thread stacks, free memory held in glibc's arenas and pymalloc's."""

from __future__ import annotations

import argparse
import json
import sys
import sysconfig
import tracemalloc
from collections import Counter
from pathlib import Path

MIB = 1024 * 1024
STDLIB = sysconfig.get_paths()["stdlib"]
# Libraries by a part of their path; the first that matches names the part.
PARTS = (
    ("/astra_token_operator/", "operator"),
    ("/kopf/", "kopf"),
    ("/kubernetes/", "kubernetes client"),
    ("/urllib3/", "urllib3"),
    ("/hvac/", "hvac"),
    ("/requests/", "requests"),
    ("/pydantic_core/", "pydantic"),
    ("/pydantic/", "pydantic"),
    ("/pydantic_settings/", "pydantic"),
    ("/prometheus_client/", "prometheus_client"),
    ("/aiohttp/", "aiohttp"),
    ("/httpx/", "httpx"),
    ("/httpcore/", "httpx"),
    ("/jinja2/", "jinja2"),
    ("/multidict/", "aiohttp"),
    ("/yarl/", "aiohttp"),
    ("/cryptography/", "cryptography"),
    ("/site-packages/", "other library"),
)
# Standard-library modules that own what they allocate (others, like json or copy, only build
# objects for their caller, who is named instead).
OWNING_STDLIB = ("asyncio", "logging", "threading", "concurrent", "ssl", "http", "email", "socket", "selectors")


def part_of(filename: str) -> str | None:
    for needle, part in PARTS:
        if needle in filename:
            if part == "operator":
                module = filename.split("/astra_token_operator/", 1)[1].removesuffix(".py")
                return f"operator:{module.split('/')[0]}"
            return part
    if filename.startswith("<frozen"):
        return "imports"
    if filename.startswith(STDLIB):
        module = filename[len(STDLIB):].lstrip("/").split("/")[0].removesuffix(".py")
        return f"stdlib:{module}" if module in OWNING_STDLIB else None
    return None


def classify(traceback: tracemalloc.Traceback) -> tuple[str, str]:
    """(part, site): the innermost frame that names a part, and that frame's line (with the line
    that allocated, when they differ)."""
    frames = list(traceback)  # oldest first
    innermost = frames[-1]
    for frame in reversed(frames):
        part = part_of(frame.filename)
        if part is not None:
            site = f"{short(frame.filename)}:{frame.lineno}"
            if frame is not innermost:
                site += f" <- {short(innermost.filename)}:{innermost.lineno}"
            return part, site
    return "unattributed", f"{short(innermost.filename)}:{innermost.lineno}"


def short(filename: str) -> str:
    for marker in ("/site-packages/", "/operator/", STDLIB + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def grouped(path: Path) -> tuple[Counter[str], Counter[tuple[str, str]], int]:
    snapshot = tracemalloc.Snapshot.load(str(path))
    parts: Counter[str] = Counter()
    sites: Counter[tuple[str, str]] = Counter()
    total = 0
    for stat in snapshot.statistics("traceback"):
        part, site = classify(stat.traceback)
        parts[part] += stat.size
        sites[(part, site)] += stat.size
        total += stat.size
    return parts, sites, total


def mib(value: float) -> str:
    return f"{value / MIB:7.1f}"


def report(directory: Path, top: int) -> None:
    facts = sorted((json.loads(p.read_text()) for p in directory.glob("*.json")), key=lambda f: f["time"])
    if not facts:
        print(f"no memory probes in {directory}")
        return
    print(f"\n=== operator memory (MiB), {directory} ===")
    print(f"{'label':<22} {'RSS':>7} {'peak':>7} {'traced':>7} {'tr.peak':>7} {'glibc':>7} {'in use':>7} "
          f"{'free':>7} {'pymall.':>7} {'py used':>7} {'thr':>4}")
    for f in facts:
        info, py = f["mallinfo2"], f["pymalloc"]
        print(f"{f['label']:<22} {mib(f['rss_kib'] * 1024)} {mib(f['hwm_kib'] * 1024)} {mib(f['traced_current'])} "
              f"{mib(f['traced_peak'])} {mib(info['arena'] + info['hblkhd'])} {mib(info['uordblks'] + info['hblkhd'])} "
              f"{mib(info['fordblks'])} {mib(py.get('arenas_bytes', 0))} {mib(py.get('bytes_in_allocated_blocks', 0))} "
              f"{f['os_threads']:>4}")
    for f in facts:
        if "rss_after_malloc_trim_kib" in f:
            after_gc = (f", after gc.collect() ({f['gc_collected']} objects) and malloc_trim(0) again "
                        f"{mib(f['rss_after_gc_kib'] * 1024).strip()} MiB" if "rss_after_gc_kib" in f else "")
            print(f"{f['label']}: RSS {mib(f['rss_kib'] * 1024).strip()} MiB, after malloc_trim(0) "
                  f"{mib(f['rss_after_malloc_trim_kib'] * 1024).strip()} MiB{after_gc}")
    print("(traced: tracemalloc now, and its peak since the previous label; glibc: its heap from the system "
          "(mallinfo2 arena + mmapped), in use and free of it; pymalloc: its arenas and the blocks in use. "
          "tracemalloc's own tables, not in 'traced', add to RSS: "
          f"{mib(facts[-1]['tracemalloc_overhead'])} MiB at the last label.)")
    first = {name: (count, size) for name, count, size in facts[0].get("census", [])}
    for f in facts[1:]:
        if f.get("census"):
            print(f"\n--- {f['label']}: objects the garbage collector tracks, by type (count, MiB; "
                  f"added since {facts[0]['label']}) ---")
            for name, count, size in f["census"][:top]:
                was_count, was_size = first.get(name, (0, 0))
                print(f"  {count:>9} {mib(size)}  (+{count - was_count:>8} {mib(size - was_size)})  {name}")
    if not (directory / f"{facts[0]['label']}.snapshot").exists():
        return  # ASTRA_BENCH_MEMORY_FRAMES=0: the figures alone
    base_parts, base_sites, base_total = grouped(directory / f"{facts[0]['label']}.snapshot")
    for f in facts[1:]:
        parts, sites, total = grouped(directory / f"{f['label']}.snapshot")
        print(f"\n--- {f['label']}: traced {mib(total)} MiB, {mib(total - base_total)} MiB more than "
              f"{facts[0]['label']} ---")
        print(f"{'part':<34} {'MiB':>7} {'added':>7}")
        for part in sorted(parts, key=lambda p: parts[p] - base_parts.get(p, 0), reverse=True)[:top]:
            print(f"{part:<34} {mib(parts[part])} {mib(parts[part] - base_parts.get(part, 0))}")
        print(f"top sites by what they added since {facts[0]['label']} (MiB):")
        added = Counter({key: size - base_sites.get(key, 0) for key, size in sites.items()})
        for (part, site), size in added.most_common(top):
            print(f"  {mib(size)}  {part:<24} {site}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    report(args.directory, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
