"""What a request's result is, read from the objects before and after it (and
the operator's Events): has the operator handled it, and what came of it.
Pure functions; the commands poll and call these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from astra_token_operator.kubectl_plugin.views import meta, parse_time, readiness, relative, spec, status
from astra_token_operator.surface import ANNOTATION_RESTARTED_AT

Obj = Mapping[str, Any]
EVENT_SLACK = timedelta(seconds=5)  # clocks of this machine and the operator's may differ a little


def annotation(obj: Obj, key: str) -> str | None:
    value = (meta(obj).get("annotations") or {}).get(key)
    return None if value is None else str(value)


def pending(obj: Obj, key: str) -> bool:
    """The request is still on the object: the operator has not handled it yet."""
    return annotation(obj, key) is not None


def events_since(events: Sequence[Obj], reasons: Sequence[str], since: datetime) -> list[Obj]:
    """The object's Events with one of ``reasons``, newest last, from ``since`` on."""
    found = []
    for event in events:
        when = parse_time(event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp"))
        if event.get("reason") in reasons and when is not None and when >= since - EVENT_SLACK:
            found.append((when, event))
    return [event for _, event in sorted(found, key=lambda pair: pair[0])]


@dataclass(frozen=True)
class Outcome:
    """What came of a request: ``ok`` False means refused or failed (the command exits 1)."""

    ok: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def renew_outcome(before: Obj, after: Obj, events: Sequence[Obj], since: datetime, key: str,
                  now: datetime | None = None) -> Outcome | None:
    """A renew request's result once handled: the lease moved, or the operator refused; None while waiting."""
    if pending(after, key):
        return None
    old, new = status(before).get("leaseExpiresAt"), status(after).get("leaseExpiresAt")
    refused = events_since(events, ("RenewRefused",), since)
    if new and new != old:
        expires, max_expires = parse_time(new), parse_time(status(after).get("maxExpiresAt"))
        capped = expires is not None and expires == max_expires
        summary = f"lease renewed until {new} ({relative(expires, now or since)})" + (
            ", capped at the token's max expiry" if capped else "")
        return Outcome(True, summary, {"leaseExpiresAt": new, "previousLeaseExpiresAt": old,
                                       "maxExpiresAt": status(after).get("maxExpiresAt"), "cappedAtMaxExpiry": capped,
                                       "renewals": status(after).get("renewals")})
    if refused:
        return Outcome(False, f"renewal refused: {refused[-1].get('message', '')}",
                       {"leaseExpiresAt": old, "reason": "RenewRefused"})
    return None


def replaced_outcome(before: Obj, after: Obj, key: str, verb: str) -> Outcome | None:
    """A revoke (or rotate) request's result: a new client id is Ready; None while waiting."""
    if pending(after, key):
        return None
    old, new = status(before).get("clientId"), status(after).get("clientId")
    ready = readiness(after)
    if not new or new == old or not ready.ready:
        return None
    secret = status(after).get("secretName") or meta(after).get("name")
    details = {"previousClientId": old, "clientId": new, "secretName": secret, "leaseId": status(after).get("leaseId")}
    return Outcome(True, f"{verb}: token {old or '<none>'} -> {new}, published in Secret {secret}", details)


@dataclass(frozen=True)
class Restart:
    kind: str
    namespace: str
    name: str
    tokens: tuple[str, ...]

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def restart_targets(tokens: Sequence[Obj]) -> list[Restart]:
    """Each workload the tokens name in rolloutRestartTargets, once, with the tokens naming it."""
    found: dict[tuple[str, str, str], list[str]] = {}
    for token in tokens:
        for target in spec(token).get("rolloutRestartTargets") or []:
            key = (str(target.get("kind")), str(meta(token).get("namespace")), str(target.get("name")))
            found.setdefault(key, []).append(str(meta(token).get("name")))
    return [Restart(kind, ns, name, tuple(names)) for (kind, ns, name), names in sorted(found.items())]


def restarted_with(workload: Obj | None, value: str) -> bool:
    """The workload's pod template carries this rotation's restart stamp: it was restarted for it."""
    template = ((workload or {}).get("spec") or {}).get("template") or {}
    return ((template.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_RESTARTED_AT) == value


# ---------------------------------------------------------------- role import


@dataclass(frozen=True)
class RoleChanges:
    created: tuple[str, ...]
    updated: tuple[tuple[str, str], ...]  # (name, what changed)
    pruned: tuple[str, ...]
    unchanged: int

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.pruned)

    def as_dict(self) -> dict[str, Any]:
        return {"created": list(self.created), "updated": [{"name": n, "changes": c} for n, c in self.updated],
                "pruned": list(self.pruned), "unchanged": self.unchanged}


def role_changes(before: Sequence[Obj], after: Sequence[Obj]) -> RoleChanges:
    """The synced AstraRoles an import created, changed and pruned (compared by uid and spec)."""
    old = {str(meta(r).get("name")): r for r in before}
    new = {str(meta(r).get("name")): r for r in after}
    created = tuple(sorted(n for n in new if n not in old or meta(old[n]).get("uid") != meta(new[n]).get("uid")))
    pruned = tuple(sorted(n for n in old if n not in new))
    updated = []
    for name in sorted(set(old) & set(new)):
        if name in created:
            continue
        diffs = [f"{k} {spec(old[name]).get(k)} -> {spec(new[name]).get(k)}"
                 for k in sorted(set(spec(old[name])) | set(spec(new[name])))
                 if spec(old[name]).get(k) != spec(new[name]).get(k)]
        if (meta(old[name]).get("annotations") or {}) != (meta(new[name]).get("annotations") or {}):
            diffs.append("Astra role name")
        if diffs:
            updated.append((name, ", ".join(diffs)))
    unchanged = len(set(old) & set(new)) - len(updated) - len([n for n in created if n in old])
    return RoleChanges(created, tuple(updated), pruned, unchanged)

