"""What the lifecycle benchmark reads to count work: a process group's CPU and
memory from /proc, new lines of append-only JSON logs (OpenBao's audit log,
the apiserver's Secret audit log, the operator's JSON log), the apiserver's
own request counters, and the fake Astra's counters.

Every probe takes a cheap snapshot; a window between two snapshots gives the
counts. Nothing here changes what it observes (except resetting a peak RSS)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from astra_token_operator.fake_astra import FakeAstraThread

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


# ------------------------------------------------------------------ processes


@dataclass(frozen=True)
class ProcessUsage:
    cpu_seconds: float  # utime + stime of every process in the group
    rss_kib: int  # VmRSS of the group leader
    peak_rss_kib: int  # VmHWM of the group leader (since start or the last reset)


def _stat_fields(pid: str) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ")".
    return raw[raw.rindex(")") + 2:].split()


def group_cpu_seconds(pgid: int) -> float:
    """CPU of every live process in the process group: a child started in its
    own session (testplatform's Child) may be a wrapper around the real server."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(entry)
        # After the name: state(0) ppid(1) pgrp(2) ... utime(11) stime(12).
        if fields is not None and int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_usage(pid: int, group: int | None = None) -> ProcessUsage:
    """CPU of the process group ``group`` (default: the one ``pid`` leads), memory of ``pid``."""
    return ProcessUsage(cpu_seconds=group_cpu_seconds(group or pid), rss_kib=_status_kib(pid, "VmRSS"),
                        peak_rss_kib=_status_kib(pid, "VmHWM"))


def reset_peak_rss(pid: int) -> bool:
    """Start VmHWM again from the current RSS (Linux clear_refs 5), so a phase's
    peak is its own. False when the kernel refuses it."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# ---------------------------------------------------------- append-only logs


def complete_size(path: Path) -> int:
    """The offset just past the last complete line: a writer may be half-way
    through the next one."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    with path.open("rb") as handle:
        start = max(0, size - (1 << 20))
        handle.seek(start)
        tail = handle.read(size - start)
    cut = tail.rfind(b"\n")
    return start + cut + 1 if cut >= 0 else start


def json_lines(path: Path, start: int, end: int) -> Iterator[dict[str, Any]]:
    """The JSON objects on the lines in [start, end); other lines are skipped."""
    if end <= start:
        return
    with path.open("rb") as handle:
        handle.seek(start)
        chunk = handle.read(end - start)
    for line in chunk.splitlines():
        if not line.startswith(b"{"):
            continue
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict):
            yield found


def count_lines(path: Path, start: int, end: int, key: Callable[[dict[str, Any]], str | None]) -> Counter[str]:
    """How many lines in [start, end) fall under each key (None: not counted)."""
    counts: Counter[str] = Counter()
    for entry in json_lines(path, start, end):
        name = key(entry)
        if name is not None:
            counts[name] += 1
    return counts


_LEDGER_WORDS = {"data", "metadata", "orgs", "tokens", "slots", "intents", "deletions", "astra-tokens",
                 "credentials", "layout", "migrations"}


def vault_path_shape(path: str) -> str:
    """A ledger path with its ids replaced by '*': secret/data/astra-tokens/orgs/*/tokens/*."""
    parts = path.split("/")
    if not path.startswith("secret/"):
        return path
    return "/".join([parts[0], *(p if p in _LEDGER_WORDS else "*" for p in parts[1:])])


def vault_request_key(entry: dict[str, Any]) -> str | None:
    """OpenBao's audit log holds one 'request' and one 'response' line per call: count requests."""
    if entry.get("type") != "request":
        return None
    request = entry.get("request") or {}
    return f"{request.get('operation', '?')} {vault_path_shape(str(request.get('path', '?')))}"


def vault_error_key(entry: dict[str, Any]) -> str | None:
    if entry.get("type") != "response" or not entry.get("error"):
        return None
    request = entry.get("request") or {}
    error = str(entry["error"]).splitlines()[0][:80]
    return f"{request.get('operation', '?')} {vault_path_shape(str(request.get('path', '?')))}: {error}"


def secret_request_key(entry: dict[str, Any]) -> str | None:
    """The apiserver audits Secret requests at Metadata level; a request is
    done at stage ResponseComplete (a watch also logs ResponseStarted)."""
    if entry.get("stage") != "ResponseComplete":
        return None
    user = (entry.get("user") or {}).get("username", "?")
    code = (entry.get("responseStatus") or {}).get("code", "?")
    return f"{user} {entry.get('verb', '?')} {code}"


def operator_log_key(entry: dict[str, Any]) -> str | None:
    """Kopf's JSON log lines carry a severity."""
    level = entry.get("severity") or entry.get("level") or entry.get("levelname")
    return str(level).upper() if level else None


# ------------------------------------------------------------- the apiserver


@dataclass(frozen=True)
class ApiserverCounts:
    requests: Counter[str]  # apiserver_request_total by 'VERB resource[/subresource] [non-2xx code]', all clients
    webhook_calls: Counter[str]  # admission webhook calls by 'webhook OPERATION'
    webhook_seconds: dict[str, float]  # their summed latency, as the apiserver measured it


def _sample(line: str) -> tuple[dict[str, str], float]:
    labels_text, _, value = line.rpartition("} ")
    return dict(_LABEL.findall(labels_text)), float(value)


def apiserver_counts(kubectl: Path, kubeconfig: Path) -> ApiserverCounts:
    """The apiserver's own counters (a watch is counted when it ends)."""
    scraped = subprocess.run([str(kubectl), f"--kubeconfig={kubeconfig}", "get", "--raw", "/metrics"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
    requests: Counter[str] = Counter()
    webhook_calls: Counter[str] = Counter()
    webhook_seconds: dict[str, float] = {}
    for line in scraped.splitlines():
        if line.startswith("apiserver_request_total{"):
            labels, value = _sample(line)
            resource, subresource = labels.get("resource", ""), labels.get("subresource", "")
            if not resource:  # a path such as /openapi/v3 or /apis (discovery)
                resource = f"(non-resource) {subresource}".rstrip()
            elif subresource:
                resource += "/" + subresource
            code = labels.get("code", "")
            failed = "" if code.startswith("2") else f" {code}"  # conflicts and errors show apart
            requests[f"{labels.get('verb', '?')} {resource}{failed}"] += int(value)
        elif line.startswith(("apiserver_admission_webhook_admission_duration_seconds_count{",
                              "apiserver_admission_webhook_admission_duration_seconds_sum{")):
            labels, value = _sample(line)
            key = f"{labels.get('name', '?')} {labels.get('operation', '?')}"
            if "_count{" in line:
                webhook_calls[key] += int(value)
            else:
                webhook_seconds[key] = webhook_seconds.get(key, 0.0) + value
    return ApiserverCounts(requests, webhook_calls, webhook_seconds)


# -------------------------------------------------------------- the fake Astra


def astra_requests(fake: FakeAstraThread) -> Counter[str]:
    """/v2 requests the fake answered, by 'METHOD route status'."""
    counts: Counter[str] = Counter()
    for entry in fake.counters().requests:
        counts[f"{entry.endpoint} {entry.status}"] += entry.count
    return counts


def endpoint_total(counts: Counter[str], method_and_route: str, *, succeeded: bool = False) -> int:
    """Requests to one route (keys are 'METHOD route status'); only 2xx answers with ``succeeded``."""
    total = 0
    for key, n in counts.items():
        route, _, status = key.rpartition(" ")
        if route == method_and_route and (not succeeded or status.startswith("2")):
            total += n
    return total


def difference(after: Counter[str], before: Counter[str]) -> Counter[str]:
    return Counter({key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)})


# -------------------------------------------------------- the operator's own


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples of one series name in a Prometheus text exposition (the operator's /metrics),
    each as (labels, value); ``name`` is matched exactly (``..._count`` is a name of its own)."""
    found: list[tuple[dict[str, str], float]] = []
    for line in text.splitlines():
        if line.startswith(name + "{"):
            found.append(_sample(line))
        elif line.startswith(name + " "):
            found.append(({}, float(line.split()[1])))
    return found
