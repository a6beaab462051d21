"""Which AstraToken holds which (org, role, logical name), for the CREATE review's uniqueness check.

Kept from the AstraToken watch events this process handles anyway, not by a Kopf index: with an
index on AstraTokens, Kopf 1.45 holds every worker at start-up until each listed object is
indexed, and each of those objects wakes every waiting worker (at 10,000 tokens a restart handled
nothing in half an hour; bench/README.md). The review is a courtesy: the ledger's slot is what
makes a logical name unique, so a holder the watch has not delivered yet is caught there."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from astra_token_operator.models import logical_name_of
from astra_token_operator.policy.admission_rules import Holder

HolderKey = tuple[str, str, str]  # (orgRef, roleRef, effective logical name)


def holder_key(spec: Mapping[str, Any], name: str) -> HolderKey:
    logical = spec.get("logicalName")
    return (str(spec.get("orgRef", "")), str(spec.get("roleRef", "")),
            logical_name_of(logical if isinstance(logical, str) else None, name))


@dataclass
class Holders:
    _by_key: dict[HolderKey, dict[str, Holder]] = field(default_factory=dict)
    _key_of: dict[str, HolderKey] = field(default_factory=dict)

    def seen(self, key: HolderKey, holder: Holder) -> None:
        """An AstraToken as its latest event shows it (a key it held before is let go)."""
        previous = self._key_of.get(holder.uid)
        if previous is not None and previous != key:
            self._drop(previous, holder.uid)
        self._key_of[holder.uid] = key
        self._by_key.setdefault(key, {})[holder.uid] = holder

    def gone(self, uid: str) -> None:
        key = self._key_of.pop(uid, None)
        if key is not None:
            self._drop(key, uid)

    def holding(self, key: HolderKey) -> list[Holder]:
        return list(self._by_key.get(key, {}).values())

    def __len__(self) -> int:
        return len(self._key_of)

    def _drop(self, key: HolderKey, uid: str) -> None:
        holders = self._by_key.get(key)
        if holders is None:
            return
        holders.pop(uid, None)
        if not holders:
            del self._by_key[key]
