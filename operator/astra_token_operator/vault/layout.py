"""Moving a ledger of the first layout (each record held its token and client
secret) to the second (a record holds none; its credentials live apart).
Synchronous: the ledger runs this on a worker thread, at start-up.

One record is split in this order, so that a crash anywhere loses nothing:
write its credentials (from the latest version that held them); stage its
whole history without secrets at ``migrations/<org>/<client>``; delete the
record (every version) and write the staged versions back, in order, each
with ``recordedAt`` (when Vault first recorded it); delete the staged copy.
A run that finds a staged copy finishes that record from it first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import hvac

from astra_token_operator.records import SCHEMA_VERSION, SECRET_KEYS, TokenCredentials
from astra_token_operator.times import from_rfc3339, to_rfc3339
from astra_token_operator.vault import kv
from astra_token_operator.vault.errors import VaultCasMismatch, VaultDataError
from astra_token_operator.vault.paths import LedgerPaths
from astra_token_operator.vault.stored import parse_stored

LAYOUT_VERSION = 2
RECORDED_AT = "recordedAt"  # on a version the migration rewrote: when Vault first recorded it


@dataclass(frozen=True)
class LayoutMigration:
    already: bool  # the ledger said it was migrated: nothing was looked at
    split: int = 0  # records split into record and credentials


def recorded_at(version: kv.KvVersion) -> datetime:
    """When a version was recorded: its own time, or the one it had before the migration."""
    raw = version.data.get(RECORDED_AT)
    if isinstance(raw, str):
        try:
            return from_rfc3339(raw)
        except ValueError:
            pass
    return version.created_time


def without_secrets(data: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v for k, v in data.items() if k not in SECRET_KEYS}, "schemaVersion": SCHEMA_VERSION}


class RecordLayout:
    def __init__(self, client: hvac.Client, mount: str, paths: LedgerPaths, max_versions: int) -> None:
        self.client, self.mount, self.paths, self.max_versions = client, mount, paths, max_versions

    def _cas_lost(self, key: str, why: str) -> VaultCasMismatch:
        where = self.paths.display(key)
        return VaultCasMismatch(f"Vault migrate-layout {where}: check-and-set lost ({why})",
                                operation="migrate-layout", path=where)

    def split(self, org_id: str, client_id: str) -> bool:
        """Split one record if any of its versions holds a secret; True when it did."""
        client, mount = self.client, self.mount
        key = self.paths.record(org_id, client_id)
        meta = kv.metadata(client, mount, key)
        if meta is None:
            return False
        found = (kv.read(client, mount, key, version=v.version) for v in meta.versions if not v.deleted)
        versions = [v for v in found if v is not None]
        holding = [v for v in versions if any(k in v.data for k in SECRET_KEYS)]
        if not holding:
            return False
        latest = holding[-1].data
        where = self.paths.display(key)
        stored = {"clientId": client_id, "orgId": org_id, "token": latest.get("token"),
                  "clientSecret": latest.get("clientSecret")}
        credentials = parse_stored(TokenCredentials, stored, operation="migrate-layout", path=where)
        self._write_credentials(credentials)
        staged = [{"version": v.version, RECORDED_AT: to_rfc3339(recorded_at(v), fraction=True),
                   "data": without_secrets(v.data)} for v in versions]
        staging = self.paths.migration(org_id, client_id)
        if kv.try_write(client, mount, staging, {"orgId": org_id, "clientId": client_id, "versions": staged},
                        cas=0) is None:
            raise self._cas_lost(staging, "another migration of this record is under way")
        self._rewrite(org_id, client_id, staged)
        return True

    def _write_credentials(self, credentials: TokenCredentials) -> None:
        key = self.paths.credentials(credentials.org_id, credentials.client_id)
        if kv.try_write(self.client, self.mount, key, credentials.to_storage(), cas=0) is None:
            existing = kv.read(self.client, self.mount, key)
            if existing is None or existing.data.get("token") != credentials.to_storage()["token"]:
                raise self._cas_lost(key, "other credentials are stored for this client id")

    def _rewrite(self, org_id: str, client_id: str, staged: list[dict[str, Any]]) -> None:
        self._write_back(org_id, client_id, staged)
        kv.delete_all(self.client, self.mount, self.paths.migration(org_id, client_id))

    def _write_back(self, org_id: str, client_id: str, staged: list[dict[str, Any]]) -> None:
        """The record deleted, and the staged versions written again in order."""
        client, mount = self.client, self.mount
        key = self.paths.record(org_id, client_id)
        kv.delete_all(client, mount, key)
        for written, entry in enumerate(staged):
            data = {**entry["data"], RECORDED_AT: entry[RECORDED_AT]}
            if kv.try_write(client, mount, key, data, cas=written) is None:
                raise self._cas_lost(key, "the record was written while it was being migrated")
            if written == 0:
                kv.set_max_versions(client, mount, key, self.max_versions)

    def finish_staged(self) -> int:
        """Records a migration staged and did not finish (it was interrupted): rewrite them from
        the staged copy. Returns how many."""
        client, mount = self.client, self.mount
        folder = f"{self.paths.prefix}/migrations"
        finished = 0
        for org in (k.rstrip("/") for k in kv.list_keys(client, mount, folder) if k.endswith("/")):
            for client_id in kv.list_keys(client, mount, f"{folder}/{org}"):
                found = kv.read(client, mount, self.paths.migration(org, client_id))
                if found is None:
                    continue
                staged = found.data.get("versions")
                if not isinstance(staged, list):
                    where = self.paths.display(self.paths.migration(org, client_id))
                    raise VaultDataError(f"Vault migrate-layout {where}: the staged history is invalid",
                                         operation="migrate-layout", path=where)
                self._rewrite(org, client_id, staged)
                finished += 1
        return finished
