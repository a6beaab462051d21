"""Which tokens' Secrets are no longer as this process last saw them, judged from one
metadata-only list of the managed Secrets (their names and resourceVersions). Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownSecret:
    """A token's Secret as this process last read or wrote it."""

    owner_uid: str
    namespace: str
    name: str
    resource_version: str


def unconfirmed(known: Iterable[KnownSecret], listed: Mapping[tuple[str, str], str]) -> list[KnownSecret]:
    """The known Secrets the list (``(namespace, name)`` -> resourceVersion) does not show at the
    version last seen: changed since, deleted, or no longer labelled as managed (the list selects by
    that label). Each owner looks again."""
    return [secret for secret in known if listed.get((secret.namespace, secret.name)) != secret.resource_version]
