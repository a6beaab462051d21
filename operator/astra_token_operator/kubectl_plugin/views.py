"""What the plugin shows: rows of tables and lines of descriptions, made from
the objects as the API returns them (plain dicts) and ``now``. Pure functions,
so every column is unit-tested; nothing here reads a token or a client secret
(objects never hold one, and ledger records reach this module without them)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from astra_token_operator.durations import format_duration
from astra_token_operator.kubectl_plugin.lookups import LABEL_SYNCED_FROM

NONE = "<none>"
Obj = Mapping[str, Any]


# ---------------------------------------------------------------- times


def parse_time(text: object) -> datetime | None:
    """An RFC 3339 time from an object or a record, as an aware UTC datetime; None if absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        # Vault writes nanoseconds (2026-01-02T03:04:05.123456789Z); Python reads microseconds.
        head, _, tail = text.strip().rstrip("Z").partition(".")
        try:
            value = datetime.fromisoformat(f"{head}.{tail[:6]}+00:00" if tail else f"{head}+00:00")
        except ValueError:
            return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def short_duration(delta: timedelta) -> str:
    """How long, as kubectl says it, but in hours from one hour on: 45s, 5m30s, 42m, 1h59m, 5h12m,
    30h, 3d5h, 12d, 2y30d."""
    seconds = int(abs(delta.total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 1:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"


def relative(moment: datetime | None, now: datetime) -> str:
    """'in 42m', '3h ago', 'now'."""
    if moment is None:
        return NONE
    delta = moment - now
    if abs(delta.total_seconds()) < 1:
        return "now"
    return f"in {short_duration(delta)}" if delta.total_seconds() > 0 else f"{short_duration(delta)} ago"


def stamp(moment: datetime | None) -> str:
    """RFC 3339 in UTC to the second, as Kubernetes prints times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else NONE


def both(moment: datetime | None, now: datetime) -> str:
    """'2026-01-02T03:04:05Z (in 42m)'."""
    return f"{stamp(moment)} ({relative(moment, now)})" if moment else NONE


def age(obj: Obj, now: datetime) -> str:
    created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    return short_duration(now - created) if created else NONE


# ---------------------------------------------------------------- objects


def without_managed_fields(obj: Obj) -> dict[str, Any]:
    """The object as `kubectl get -o json` prints it: managedFields are left out."""
    shown = dict(obj)
    if isinstance(shown.get("metadata"), Mapping):
        shown["metadata"] = {k: v for k, v in shown["metadata"].items() if k != "managedFields"}
    return shown


def as_list(items: Sequence[Obj]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": [without_managed_fields(i) for i in items]}


def meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def spec(obj: Obj) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def status(obj: Obj) -> Mapping[str, Any]:
    return obj.get("status") or {}


def qualified(obj: Obj) -> str:
    """namespace/name, or name for a cluster-scoped object."""
    m = meta(obj)
    return f"{m['namespace']}/{m.get('name', '')}" if m.get("namespace") else str(m.get("name", ""))


@dataclass(frozen=True)
class Readiness:
    status: str  # True, False, Unknown
    reason: str
    message: str

    @property
    def ready(self) -> bool:
        return self.status == "True"

    def short(self) -> str:
        return f"{self.status} ({self.reason})" if self.reason else self.status


def condition(obj: Obj, type_: str = "Ready") -> Readiness | None:
    for found in status(obj).get("conditions") or []:
        if found.get("type") == type_:
            return Readiness(str(found.get("status", "Unknown")), str(found.get("reason") or ""),
                             str(found.get("message") or ""))
    return None


def readiness(obj: Obj) -> Readiness:
    return condition(obj) or Readiness("Unknown", "Pending", "the operator has not reported on it yet")


def token_state(obj: Obj) -> str:
    """One word for where the token stands: active (Ready), terminating (being deleted and
    revoked), pending (no token yet) or blocked (a token exists but the operator cannot act)."""
    if meta(obj).get("deletionTimestamp"):
        return "terminating"
    if readiness(obj).ready:
        return "active"
    return "blocked" if status(obj).get("clientId") else "pending"


def next_action(obj: Obj, now: datetime) -> str:
    action = status(obj).get("nextAction")
    if not action:
        return NONE
    return f"{action} {relative(parse_time(status(obj).get('nextActionAt')), now)}"


def or_none(value: object) -> str:
    if value is None or value == "" or value == []:
        return NONE
    return str(value)


# ---------------------------------------------------------------- tables


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def render(self, *, no_headers: bool = False) -> str:
        """Columns padded to their widest cell and three spaces apart, as kubectl prints them."""
        lines = [] if no_headers else [self.headers]
        lines.extend(self.rows)
        if not lines:
            return ""
        widths = [max(len(line[i]) for line in lines) for i in range(len(self.headers))]
        return "\n".join("   ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
                         for line in lines)


def token_table(tokens: Sequence[Obj], now: datetime, *, wide: bool = False, namespaces: bool = False) -> Table:
    """`kubectl astra tokens`: what each token is, where its lease stands, what comes next."""
    headers = ["NAME", "ORG", "ROLE", "LOGICAL NAME", "CLIENT ID", "STATE", "LEASE EXPIRES", "MAX EXPIRY",
               "RENEWALS", "NEXT", "READY"]
    if wide:
        headers = [*headers[:7], "LEASE EXPIRES AT", "MAX EXPIRY", "MAX EXPIRES AT", *headers[8:], "SECRET",
                   "CREATED BY", "AGE"]
    if namespaces:
        headers = ["NAMESPACE", *headers]
    rows = []
    for obj in tokens:
        s, ready = status(obj), readiness(obj)
        expires, max_expires = parse_time(s.get("leaseExpiresAt")), parse_time(s.get("maxExpiresAt"))
        row = [meta(obj).get("name", ""), or_none(spec(obj).get("orgRef")), or_none(s.get("roleName")),
               or_none(s.get("logicalName")), or_none(s.get("clientId")), token_state(obj),
               relative(expires, now) if expires else NONE]
        if wide:
            row += [stamp(expires), relative(max_expires, now) if max_expires else NONE, stamp(max_expires)]
        else:
            row += [relative(max_expires, now) if max_expires else NONE]
        row += [or_none(s.get("renewals")), next_action(obj, now), ready.short()]
        if wide:
            row += [or_none(s.get("secretName")), or_none(s.get("createdBy")), age(obj, now)]
        if namespaces:
            row = [meta(obj).get("namespace", ""), *row]
        rows.append(tuple(str(c) for c in row))
    return Table(tuple(headers), tuple(rows))


def lease_table(tokens: Sequence[Obj], now: datetime, *, wide: bool = False) -> Table:
    """`kubectl astra leases`: the plugin's `vault list sys/leases/lookup/astra/org/token`."""
    headers = ["LEASE ID", "TTL", "RENEWABLE", "EXPIRES", "OWNER"]
    if wide:
        headers += ["ISSUED", "LAST RENEWAL", "MAX EXPIRES AT", "RENEWALS"]
    rows = []
    for obj in tokens:
        lease = lease_view(obj, now)
        if lease is None:
            continue
        row = [lease.lease_id, lease.ttl, "true" if lease.renewable else "false", stamp(lease.expires_at),
               lease.owner]
        if wide:
            row += [stamp(lease.issued_at), stamp(lease.last_renewal), stamp(lease.max_expires_at),
                    str(lease.renewals)]
        rows.append(tuple(row))
    return Table(tuple(headers), tuple(rows))


@dataclass(frozen=True)
class LeaseView:
    """One lease as `vault lease lookup` shows it."""

    lease_id: str
    owner: str
    issued_at: datetime | None
    expires_at: datetime | None
    max_expires_at: datetime | None
    last_renewal: datetime | None
    renewals: int
    ttl_seconds: int

    @property
    def ttl(self) -> str:
        return short_duration(timedelta(seconds=self.ttl_seconds)) if self.ttl_seconds > 0 else "expired"

    @property
    def renewable(self) -> bool:
        """A renewal could still move the end: the lease is live and short of the token's max expiry."""
        return (self.ttl_seconds > 0 and self.expires_at is not None and self.max_expires_at is not None
                and self.expires_at < self.max_expires_at)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.lease_id, "owner": self.owner, "issue_time": stamp(self.issued_at),
                "expire_time": stamp(self.expires_at), "max_expire_time": stamp(self.max_expires_at),
                "last_renewal": stamp(self.last_renewal) if self.last_renewal else None,
                "renewable": self.renewable, "renewals": self.renewals, "ttl": self.ttl_seconds}


def lease_view(obj: Obj, now: datetime) -> LeaseView | None:
    s = status(obj)
    lease_id = s.get("leaseId")
    if not lease_id:
        return None
    expires = parse_time(s.get("leaseExpiresAt"))
    ttl = int((expires - now).total_seconds()) if expires else 0
    return LeaseView(
        lease_id=str(lease_id), owner=f"AstraToken {qualified(obj)}", issued_at=parse_time(s.get("generatedOn")),
        expires_at=expires, max_expires_at=parse_time(s.get("maxExpiresAt")),
        last_renewal=parse_time(s.get("lastRenewedAt")), renewals=int(s.get("renewals") or 0), ttl_seconds=max(ttl, 0))


def lease_lines(lease: LeaseView) -> list[tuple[str, str]]:
    """`kubectl astra lease <id>`, as `vault lease lookup` prints it (Key/Value)."""
    return [("id", lease.lease_id), ("issue_time", stamp(lease.issued_at)), ("expire_time", stamp(lease.expires_at)),
            ("max_expire_time", stamp(lease.max_expires_at)),
            ("last_renewal", stamp(lease.last_renewal) if lease.last_renewal else NONE),
            ("renewable", "true" if lease.renewable else "false"), ("renewals", str(lease.renewals)),
            ("ttl", lease.ttl), ("owner", lease.owner)]


def ledger_lease(lease_id: str, record: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A lease no AstraToken holds any more (superseded, revoked), as its ledger record tells it."""
    expires = parse_time(record.get("leaseExpiresAt"))
    live = record.get("state") in ("active", "superseded") and expires is not None and expires > now
    ttl = int((expires - now).total_seconds()) if live and expires is not None else 0
    return {"id": lease_id, "owner": _owner(record.get("owner")), "state": record.get("state"),
            "issue_time": _time_text(record.get("issuedAt")), "expire_time": _time_text(record.get("leaseExpiresAt")),
            "max_expire_time": _time_text(record.get("maxExpiresAt")), "renewable": False,
            "renewals": record.get("renewals", 0), "ttl": ttl,
            "revoke_after": _time_text(record.get("revokeAfter")) if record.get("revokeAfter") else None,
            "revoked_at": _time_text(record.get("revokedAt")) if record.get("revokedAt") else None,
            "revoked_by": principal(record.get("revokedBy")) if record.get("revokedBy") else None}


def ledger_lease_lines(lease: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``ledger_lease`` as `vault lease lookup` would print it."""
    shown = {**lease, "renewable": "true" if lease.get("renewable") else "false",
             "ttl": short_duration(timedelta(seconds=int(lease["ttl"]))) if lease.get("ttl") else "expired"}
    return [(key, or_none(value)) for key, value in shown.items()]


def org_table(orgs: Sequence[Obj], now: datetime, *, wide: bool = False) -> Table:
    headers = ["NAME", "ORG ID", "LOGICAL NAME", "MODE", "READY", "TOKENS", "ROLES", "ROLE SYNC", "LAST VERIFIED"]
    if wide:
        headers += ["ORG NAME", "URL", "MESSAGE"]
    rows = []
    for obj in orgs:
        s, ready = status(obj), readiness(obj)
        row = [meta(obj).get("name", ""), or_none(spec(obj).get("orgId")), or_none(spec(obj).get("logicalName")),
               str(spec(obj).get("callerMode") or "standard"), ready.short(), or_none(s.get("activeTokens")),
               or_none(s.get("roles")), role_sync_state(obj), relative(parse_time(s.get("lastVerified")), now)]
        if wide:
            row += [or_none(s.get("orgName")), str(spec(obj).get("url") or "https://api.astra.datastax.com"),
                    ready.message or NONE]
        rows.append(tuple(row))
    return Table(tuple(headers), tuple(rows))


def role_sync_state(org: Obj) -> str:
    if not (spec(org).get("roleSync") or {}).get("enabled"):
        return "off"
    synced = condition(org, "RolesSynced")
    return synced.short() if synced else "pending"


def role_table(roles: Sequence[Obj], now: datetime, *, wide: bool = False) -> Table:
    headers = ["NAME", "ORG", "ROLE", "ASTRA ROLE", "TTL", "MAX TTL", "READY", "TOKENS", "SYNCED"]
    if wide:
        headers += ["ROLE ID", "ALLOWED NAMESPACES", "AGE"]
    rows = []
    for obj in roles:
        s = status(obj)
        row = [meta(obj).get("name", ""), or_none(spec(obj).get("orgRef")),
               or_none(s.get("roleName") or spec(obj).get("roleName") or meta(obj).get("name")),
               or_none(s.get("astraRoleName") or spec(obj).get("astraRoleName")), str(spec(obj).get("ttl", "24h")),
               str(spec(obj).get("maxTtl", "24h")), readiness(obj).short(), or_none(s.get("activeTokens")),
               "yes" if (meta(obj).get("labels") or {}).get(LABEL_SYNCED_FROM) else "no"]
        if wide:
            allowed = spec(obj).get("allowedNamespaces")
            row += [or_none(s.get("roleId") or spec(obj).get("roleId")),
                    ",".join(allowed) if allowed else "(the org's)", age(obj, now)]
        rows.append(tuple(row))
    return Table(tuple(headers), tuple(rows))


# ---------------------------------------------------------------- one token, described


def describe_token(obj: Obj, now: datetime, ledger: Mapping[str, Any] | None, ledger_note: str,
                   versions: int | None = None) -> list[tuple[str, str]]:
    """`kubectl astra get`: everything the status and the ledger know, never the secret."""
    s, ready, m = status(obj), readiness(obj), meta(obj)
    created_by = _created_by(m)
    targets = ", ".join(f"{t.get('kind')}/{t.get('name')}" for t in spec(obj).get("rolloutRestartTargets") or [])
    metadata = spec(obj).get("metadata") or {}
    lines = [
        ("Name", str(m.get("name", ""))),
        ("Namespace", str(m.get("namespace", ""))),
        ("Org", f"{spec(obj).get('orgRef', '')} ({s['orgId']})" if s.get("orgId") else str(spec(obj).get("orgRef"))),
        ("Role", f"{spec(obj).get('roleRef', '')} (role name {s['roleName']})" if s.get("roleName")
         else str(spec(obj).get("roleRef"))),
        ("Logical name", or_none(s.get("logicalName") or spec(obj).get("logicalName"))),
        ("Client id", or_none(s.get("clientId"))),
        ("Lease id", or_none(s.get("leaseId"))),
        ("State", token_state(obj)),
        ("Ready", f"{ready.short()}: {ready.message}" if ready.message else ready.short()),
        ("Generated", both(parse_time(s.get("generatedOn")), now)),
        ("Lease expires", both(parse_time(s.get("leaseExpiresAt")), now)),
        ("Lease duration", format_duration(timedelta(seconds=int(s["leaseDuration"])))
         if s.get("leaseDuration") is not None else NONE),
        ("Max expiry", both(parse_time(s.get("maxExpiresAt")), now)),
        ("Last renewed", both(parse_time(s.get("lastRenewedAt")), now)),
        ("Renewals", or_none(s.get("renewals"))),
        ("Next action", next_action(obj, now) if s.get("nextAction") else NONE),
        ("Secret", or_none(s.get("secretName") or (spec(obj).get("secret") or {}).get("name") or m.get("name"))),
        ("Restart targets", targets or NONE),
        ("Metadata", ", ".join(f"{k}={v}" for k, v in sorted(metadata.items())) or NONE),
        ("Created by", created_by or or_none(s.get("createdBy"))),
        ("Created", both(parse_time(m.get("creationTimestamp")), now)),
        ("Vault path", or_none(s.get("vaultPath"))),
    ]
    if ledger is None:
        lines.append(("Ledger", ledger_note))
        return lines
    lines += [
        ("Ledger state", or_none(ledger.get("state"))),
        ("Ledger last action", f"{ledger.get('lastAction', NONE)} by {principal(ledger.get('actor'))}"),
        ("Ledger versions", or_none(versions)),
        ("Issued", both(parse_time(ledger.get("issuedAt")), now)),
        ("Ttl / max ttl", f"{_seconds(ledger.get('ttlSeconds'))} / {_seconds(ledger.get('maxTtlSeconds'))}"),
        ("Astra role id", or_none(ledger.get("roleId"))),
        ("Supersedes", or_none(ledger.get("supersedes"))),
        ("Superseded by", or_none(ledger.get("supersededBy"))),
        ("Owner", _owner(ledger.get("owner"))),
    ]
    return lines


def render_pairs(pairs: Iterable[tuple[str, str]]) -> str:
    listed = list(pairs)
    width = max((len(k) for k, _ in listed), default=0) + 1
    return "\n".join(f"{(key + ':').ljust(width)}  {value}" for key, value in listed)


def principal(value: object) -> str:
    """Who, from a ledger Principal: 'bob', 'astra-token-operator (operator)'."""
    if not isinstance(value, Mapping) or not value.get("username"):
        return NONE
    return f"{value['username']} (operator)" if value.get("kind") == "operator" else str(value["username"])


def _created_by(m: Mapping[str, Any]) -> str:
    raw = (m.get("annotations") or {}).get("astra-tokens.io/created-by")
    if not raw:
        return ""
    try:
        found = json.loads(raw)
    except ValueError:
        return str(raw)
    groups = [g for g in found.get("groups") or [] if g != "system:authenticated"]
    return f"{found.get('username', '')}" + (f" (groups {', '.join(groups)})" if groups else "")


def _owner(value: object) -> str:
    if not isinstance(value, Mapping):
        return NONE
    where = f"{value.get('namespace')}/{value.get('name')}" if value.get("namespace") else str(value.get("name"))
    return f"{value.get('kind', '')} {where} (uid {value.get('uid', '')})"


def _seconds(value: object) -> str:
    return format_duration(timedelta(seconds=int(value))) if isinstance(value, int) else NONE


# ---------------------------------------------------------------- the ledger's history


@dataclass(frozen=True)
class HistoryEntry:
    """One KV version of one record: when, what it recorded, who caused it, what changed."""

    client_id: str
    version: int
    recorded_at: datetime | None
    action: str
    actor: str
    state: str
    changes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"clientId": self.client_id, "version": self.version, "recordedAt": stamp(self.recorded_at),
                "action": self.action, "actor": self.actor, "state": self.state, "changes": list(self.changes)}


# Record keys whose change is worth a line; bookkeeping (lastAction, actor, schemaVersion) is shown apart.
_TIMES = ("leaseExpiresAt", "maxExpiresAt", "revokeAfter", "revokedAt", "lastRenewedAt")
_WATCHED = ("state", "leaseExpiresAt", "maxExpiresAt", "ttlSeconds", "maxTtlSeconds", "renewals", "metadata",
            "supersededBy", "revokeAfter", "revokedAt", "revokedBy", "reason", "secretName", "owner", "roleId")


def history_entries(client_id: str, versions: Sequence[tuple[int, datetime | None, Mapping[str, Any] | None]]
                    ) -> list[HistoryEntry]:
    """Versions (oldest first; data None for a deleted version) as history entries."""
    entries: list[HistoryEntry] = []
    previous: Mapping[str, Any] | None = None
    for version, recorded_at, data in versions:
        if data is None:
            entries.append(HistoryEntry(client_id, version, recorded_at, "(version deleted)", NONE, NONE, ()))
            continue
        changes = tuple(first_version_changes(data) if previous is None else record_changes(previous, data))
        entries.append(HistoryEntry(client_id, version, recorded_at, str(data.get("lastAction") or NONE),
                                    principal(data.get("actor")), str(data.get("state") or NONE), changes))
        previous = data
    return entries


def first_version_changes(data: Mapping[str, Any]) -> list[str]:
    out = [f"{data.get('roleName', '')}/{data.get('logicalName', '')}"]
    if isinstance(data.get("createdBy"), Mapping):
        out.append(f"created by {principal(data['createdBy'])}")
    if data.get("supersedes"):
        out.append(f"replaces {data['supersedes']}")
    out.append(f"lease until {_time_text(data.get('leaseExpiresAt'))}")
    out.append(f"max {_time_text(data.get('maxExpiresAt'))}")
    if data.get("metadata"):
        out.append(f"metadata {_map_text(data['metadata'])}")
    return out


def record_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What one version changed, in words: 'lease until T (+2h)', 'state active -> superseded'."""
    out: list[str] = []
    for key in _WATCHED:
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key == "leaseExpiresAt":
            out.append(f"lease until {_time_text(new)}{_shift(old, new)}")
        elif key in _TIMES:
            out.append(f"{key} {_time_text(new)}")
        elif key == "metadata":
            out.append(f"metadata {_map_text(old or {})} -> {_map_text(new or {})}")
        elif key == "revokedBy":
            out.append(f"revoked by {principal(new)}")
        elif key == "owner":
            out.append(f"owner {_owner(new)}")
        elif old is None:
            out.append(f"{key} {new}")
        else:
            out.append(f"{key} {old} -> {new}")
    return out


def history_table(entries: Sequence[HistoryEntry], *, wide: bool = False) -> Table:
    headers = ("CLIENT ID", "VERSION", "RECORDED", "ACTION", "BY", "STATE", "CHANGES")
    rows = tuple((e.client_id, str(e.version), stamp(e.recorded_at), e.action, e.actor, e.state,
                  "; ".join(e.changes) if wide else _clip("; ".join(e.changes), 100)) for e in entries)
    return Table(headers, rows)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _time_text(value: object) -> str:
    parsed = parse_time(value)
    return stamp(parsed) if parsed else NONE


def _shift(old: object, new: object) -> str:
    before, after = parse_time(old), parse_time(new)
    if before is None or after is None or before == after:
        return ""
    delta = after - before
    return f" ({'+' if delta.total_seconds() > 0 else '-'}{short_duration(delta)})"


def _map_text(value: object) -> str:
    if not isinstance(value, Mapping) or not value:
        return "{}"
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(value.items())) + "}"


# ---------------------------------------------------------------- status of the whole


def count_by(items: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return dict(sorted(counts.items()))


def counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {what}" for what, n in counts.items()) or "none"


@dataclass(frozen=True)
class Peer:
    """A Kopf peering entry: one operator process keeping itself alive."""

    identity: str
    priority: int
    lastseen: datetime | None
    lifetime_seconds: int

    def alive(self, now: datetime) -> bool:
        return self.lastseen is not None and now < self.lastseen + timedelta(seconds=self.lifetime_seconds)


def peers_from(peering: Obj | None) -> list[Peer]:
    found = []
    for identity, info in ((peering or {}).get("status") or {}).items():
        if isinstance(info, Mapping):
            found.append(Peer(str(identity), int(info.get("priority") or 0), parse_time(info.get("lastseen")),
                              int(info.get("lifetime") or 60)))
    return found


def active_peer(peers: Sequence[Peer], now: datetime) -> tuple[Peer | None, str]:
    """Which live peer works (Kopf: the one with the highest priority; equal top priorities all pause)."""
    live = [p for p in peers if p.alive(now)]
    if not live:
        return None, "no live replica in the peering object"
    top = max(p.priority for p in live)
    leaders = [p for p in live if p.priority == top]
    if len(leaders) > 1:
        return None, f"{len(leaders)} replicas share priority {top}: Kopf pauses them all until one is gone"
    standby = len(live) - 1
    return leaders[0], f"{leaders[0].identity} (priority {top}); {standby} standby"
