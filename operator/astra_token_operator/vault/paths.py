"""Where the ledger keeps things, relative to its KV v2 mount. Pure functions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def slot_key(org_id: str, role_name: str, logical_name: str) -> str:
    """The uniqueness slot's key: one per (org, role, logical name), of fixed
    length and free of characters a KV path cannot hold."""
    return hashlib.sha256(f"{org_id}:{role_name}:{logical_name}".encode()).hexdigest()


def _segment(what: str, value: str) -> str:
    """Ids become path segments: refuse what could climb or split a path."""
    if not value or "/" in value or value in (".", "..") or any(c.isspace() for c in value):
        raise ValueError(f"{what} {value!r} cannot be used in a Vault path")
    return value


@dataclass(frozen=True)
class LedgerPaths:
    """Keys under the ledger's prefix. ``mount`` only appears in ``display``."""

    mount: str = "secret"
    prefix: str = "astra-tokens"

    def __post_init__(self) -> None:
        object.__setattr__(self, "mount", self.mount.strip("/"))
        object.__setattr__(self, "prefix", self.prefix.strip("/"))
        if not self.mount or not self.prefix:
            raise ValueError("the ledger's mount and prefix must not be empty")

    def tokens_dir(self, org_id: str) -> str:
        return f"{self.prefix}/orgs/{_segment('org id', org_id)}/tokens"

    def record(self, org_id: str, client_id: str) -> str:
        return f"{self.tokens_dir(org_id)}/{_segment('client id', client_id)}"

    def orgs_dir(self) -> str:
        return f"{self.prefix}/orgs"

    def credentials(self, org_id: str, client_id: str) -> str:
        """A token's secret material, apart from its record: outside orgs/, so a policy that reads
        every record (orgs/*) reads no token."""
        return f"{self.credentials_dir()}/{_segment('org id', org_id)}/{_segment('client id', client_id)}"

    def credentials_dir(self) -> str:
        return f"{self.prefix}/credentials"

    def layout(self) -> str:
        """Which layout the ledger is in (written once a migration is complete)."""
        return f"{self.prefix}/layout"

    def migration(self, org_id: str, client_id: str) -> str:
        """A record's history as it is being rewritten without its secrets (kept until done, so a
        crash midway loses nothing); outside orgs/, since it is read by the operator only."""
        return f"{self.prefix}/migrations/{_segment('org id', org_id)}/{_segment('client id', client_id)}"

    def slot(self, org_id: str, role_name: str, logical_name: str) -> str:
        slot = slot_key(org_id, role_name, logical_name)
        return f"{self.prefix}/orgs/{_segment('org id', org_id)}/slots/{slot}"

    def intents_dir(self) -> str:
        return f"{self.prefix}/intents"

    def intent(self, intent_id: str) -> str:
        return f"{self.intents_dir()}/{_segment('intent id', intent_id)}"

    def deletion(self, owner_uid: str) -> str:
        return f"{self.prefix}/deletions/{_segment('owner uid', owner_uid)}"

    def display(self, key: str) -> str:
        """The path as `bao kv get` takes it: <mount>/<key>."""
        return f"{self.mount}/{key}"


def split_secret_path(path: str, mount_from_vault: str | None, ledger_mount: str) -> tuple[str, str]:
    """Split a root-token path into (mount, key).

    ``mount_from_vault`` is the mount OpenBao reported for the path (the same
    look-up `bao kv get <path>` does), or None when the path lies under no
    mount the operator can see: then the path is relative to the ledger's mount."""
    cleaned = path.strip().strip("/")
    if not cleaned:
        raise ValueError("a Vault path for a root token must not be empty")
    if mount_from_vault:
        mount = mount_from_vault.strip("/")
        if cleaned == mount or not cleaned.startswith(mount + "/"):
            raise ValueError(f"Vault path {path!r} names the mount {mount!r} but no key under it")
        return mount, cleaned[len(mount) + 1 :]
    return ledger_mount.strip("/"), cleaned
