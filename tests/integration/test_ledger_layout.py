"""The ledger's layout against a real OpenBao: a record holds no secret (the
token and client secret live apart, under credentials/), so the auditor policy
of docs/audit.md reads every version of every record and no token, while the
operator's reads both; a ledger of the first layout (secrets inline) is split
in place, once, its history kept, and a migration cut short is finished."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import pytest
from pydantic import SecretStr

from astra_token_operator.config import OperatorConfig
from astra_token_operator.records import OwnerRef, Principal, RecordAction, RecordState, TokenRecord
from astra_token_operator.vault import Ledger, VaultForbidden, VaultUnavailable
from astra_token_operator.vault.layout import RecordLayout
from testplatform.openbao import OpenBao
from testplatform.paths import REPO_ROOT, venv_tool

pytestmark = pytest.mark.integration

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DOCS = REPO_ROOT / "docs"



@pytest.fixture
def prefix() -> str:
    return f"l-{uuid.uuid4().hex[:10]}"


def policy_from(doc: Path, name: str, prefix: str) -> str:
    """The policy as the doc gives it (a ```hcl block starting `# <name>.hcl`), for this prefix."""
    blocks = [b for b in re.findall(r"```hcl\n(.*?)```", doc.read_text(), re.S) if b.startswith(f"# {name}.hcl")]
    assert len(blocks) == 1, f"{doc.name} should give the policy {name}.hcl once"
    return blocks[0].replace("secret/data/astra-tokens/", f"secret/data/{prefix}/").replace(
        "secret/metadata/astra-tokens/", f"secret/metadata/{prefix}/")


def token_with(root: hvac.Client, prefix: str, name: str) -> str:
    root.sys.create_or_update_policy(f"{prefix}-{name}", policy_from(DOCS / "audit.md", name, prefix))
    created = root.auth.token.create(policies=[f"{prefix}-{name}"], ttl="1h")
    return str(created["auth"]["client_token"])


def config_for(bao: OpenBao, prefix: str, token: str) -> OperatorConfig:
    return OperatorConfig(vault_addr=bao.addr, vault_token=SecretStr(token), vault_prefix=prefix,
                          vault_timeout_seconds=5.0, vault_workers=2)


@pytest.fixture
async def operator_ledger(bao: OpenBao, root: hvac.Client, prefix: str) -> AsyncIterator[Ledger]:
    """The ledger as the operator runs it: with a token of the operator's policy from the docs."""
    async with Ledger.from_config(config_for(bao, prefix, token_with(root, prefix, "astra-token-operator"))) as it:
        yield it


def run_bao(bao: OpenBao, token: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BAO_ADDR": bao.addr, "BAO_TOKEN": token, "HOME": str(home)}
    return subprocess.run([str(venv_tool("bao")), *args], env=env, capture_output=True, text=True, timeout=30,
                          check=False)


def new_record(org_id: str = "org-1", **changes: Any) -> TokenRecord:
    client_id = changes.pop("client_id", uuid.uuid4().hex[:24])
    fields: dict[str, Any] = {
        "token": SecretStr(f"AstraCS:{client_id[:8]}:{secrets.token_hex(32)}"),
        "client_secret": SecretStr(secrets.token_urlsafe(24)), "client_id": client_id, "org_id": org_id,
        "role_name": "reader", "role_id": "role-uuid", "logical_name": "billing", "ttl_seconds": 3600,
        "max_ttl_seconds": 86400, "issued_at": NOW, "lease_expires_at": NOW + timedelta(hours=1),
        "max_expires_at": NOW + timedelta(days=1), "created_by": Principal(username="alice", uid="u-alice"),
        "actor": Principal.operator(),
        "owner": OwnerRef(kind="AstraToken", namespace="team-a", name="billing", uid=str(uuid.uuid4())),
    }
    fields.update(changes)
    return TokenRecord(**fields)


def life_of(record: TokenRecord) -> list[TokenRecord]:
    """Minted, renewed twice, revoked: four versions."""
    renewed = record.renewed(NOW + 2 * timedelta(hours=1), record.max_expires_at, at=NOW, actor=Principal.operator())
    again = renewed.renewed(NOW + 3 * timedelta(hours=1), record.max_expires_at, at=NOW, actor=Principal.operator())
    revoked = again.revoked(at=NOW, actor=Principal(username="bob"), reason="AstraToken deleted")
    return [record, renewed, again, revoked]


def secret_values(record: TokenRecord) -> list[str]:
    assert record.token is not None
    assert record.client_secret is not None
    return [record.token.get_secret_value(), record.client_secret.get_secret_value()]


# --- the two policies ----------------------------------------------------------------------------

def test_install_and_audit_docs_give_the_same_two_policies() -> None:
    for name in ("astra-token-operator", "astra-token-auditor"):
        assert policy_from(DOCS / "install.md", name, "p") == policy_from(DOCS / "audit.md", name, "p")


async def test_the_auditor_policy_reads_every_version_of_every_record_and_no_token(
    bao: OpenBao, root: hvac.Client, prefix: str, operator_ledger: Ledger, tmp_path: Path,
) -> None:
    versions = life_of(new_record())
    version = 0
    for record in versions:
        version = await operator_ledger.write_record(record, expected_version=version)
    record = versions[0]
    path = f"secret/{prefix}/orgs/{record.org_id}/tokens/{record.client_id}"
    credentials = f"secret/{prefix}/credentials/{record.org_id}/{record.client_id}"
    auditor = token_with(root, prefix, "astra-token-auditor")
    operator = token_with(root, prefix, "astra-token-operator")

    # The auditor: every version, its history, the listings; never a secret.
    seen = []
    for number in range(1, len(versions) + 1):
        got = run_bao(bao, auditor, tmp_path, "kv", "get", "-format=json", f"-version={number}", path)
        assert got.returncode == 0, got.stderr
        assert not any(value in got.stdout for value in secret_values(record))
        data = json.loads(got.stdout)["data"]["data"]
        assert "token" not in data
        assert "clientSecret" not in data
        seen.append(data["lastAction"])
    assert seen == ["minted", "renewed", "renewed", "revoked"]
    history = run_bao(bao, auditor, tmp_path, "kv", "metadata", "get", "-format=json", path)
    assert history.returncode == 0, history.stderr
    assert sorted(json.loads(history.stdout)["data"]["versions"], key=int) == ["1", "2", "3", "4"]
    tokens = f"secret/{prefix}/orgs/{record.org_id}/tokens"
    listed = run_bao(bao, auditor, tmp_path, "kv", "list", "-format=json", tokens)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [record.client_id]
    for refused in (("kv", "get", credentials), ("kv", "get", "-version=1", credentials),
                    ("kv", "list", f"secret/{prefix}/credentials")):
        denied = run_bao(bao, auditor, tmp_path, *refused)
        assert denied.returncode != 0
        assert "permission denied" in denied.stderr
        assert not any(value in denied.stdout + denied.stderr for value in secret_values(record))
    async with Ledger.from_config(config_for(bao, prefix, auditor)) as audit_ledger:
        assert [v.record.last_action for v in await audit_ledger.record_history(record.org_id, record.client_id)] \
            == [RecordAction.MINTED, RecordAction.RENEWED, RecordAction.RENEWED, RecordAction.REVOKED]
        with pytest.raises(VaultForbidden):
            await audit_ledger.read_record(record.org_id, record.client_id, credentials=True)

    # The operator: both.
    got = run_bao(bao, operator, tmp_path, "kv", "get", "-format=json", credentials)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["data"]["data"]["token"] == secret_values(record)[0]
    found = await operator_ledger.read_record(record.org_id, record.client_id, credentials=True)
    assert found is not None
    assert secret_values(found.record) == secret_values(record)
    assert found.record.state is RecordState.REVOKED


# --- the first layout, migrated ------------------------------------------------------------------

def first_layout(root: hvac.Client, prefix: str, versions: list[TokenRecord]) -> None:
    """Write a record's versions as the first layout did: the token and client secret in each."""
    record = versions[0]
    key = f"{prefix}/orgs/{record.org_id}/tokens/{record.client_id}"
    token, client_secret = secret_values(record)
    for number, version in enumerate(versions):
        data = {**version.audit_storage(), "schemaVersion": 1, "token": token, "clientSecret": client_secret}
        root.secrets.kv.v2.create_or_update_secret(path=key, secret=data, cas=number, mount_point="secret")


def raw_versions(root: hvac.Client, prefix: str, record: TokenRecord) -> list[dict[str, Any]]:
    key = f"{prefix}/orgs/{record.org_id}/tokens/{record.client_id}"
    meta = root.secrets.kv.v2.read_secret_metadata(path=key, mount_point="secret")["data"]
    return [root.secrets.kv.v2.read_secret_version(path=key, version=int(n), mount_point="secret",
                                                   raise_on_deleted_version=False)["data"]
            for n in sorted(meta["versions"], key=int)]


def keys_under(root: hvac.Client, path: str) -> list[str]:
    try:
        return list(root.secrets.kv.v2.list_secrets(path=path, mount_point="secret")["data"]["keys"])
    except hvac.exceptions.InvalidPath:
        return []


async def test_a_ledger_of_the_first_layout_is_split_in_place_once_keeping_its_history(
    bao: OpenBao, root: hvac.Client, prefix: str,
) -> None:
    live, dead = new_record(), new_record(org_id="org-2")
    live_versions, dead_versions = life_of(live)[:3], life_of(dead)
    first_layout(root, prefix, live_versions)
    first_layout(root, prefix, dead_versions)
    recorded = [v["metadata"]["created_time"] for v in raw_versions(root, prefix, live)]

    config = config_for(bao, prefix, bao.token)
    async with Ledger.from_config(config, layout_checked=False) as ledger:
        with pytest.raises(VaultUnavailable, match="layout"):
            await ledger.read_record(live.org_id, live.client_id)  # nothing is read while it may move
        migration = await ledger.migrate_layout()
        assert (migration.already, migration.split) == (False, 2)

        for record, versions in ((live, live_versions), (dead, dead_versions)):
            stored = raw_versions(root, prefix, record)
            assert [v["data"]["lastAction"] for v in stored] == [v.last_action.value for v in versions]
            assert all("token" not in v["data"] and "clientSecret" not in v["data"] for v in stored)
            assert not any(value in json.dumps(stored) for value in secret_values(record))
            found = await ledger.read_record(record.org_id, record.client_id, credentials=True)
            assert found is not None
            assert secret_values(found.record) == secret_values(record)  # from its credentials now
        history = await ledger.record_history(live.org_id, live.client_id)
        assert [h.created_time for h in history] == [datetime.fromisoformat(t) for t in recorded]
        assert await ledger.list_client_ids(live.org_id) == [live.client_id]
        assert keys_under(root, f"{prefix}/migrations") == []  # nothing staged is left behind

    async with Ledger.from_config(config, layout_checked=False) as restarted:
        again = await restarted.migrate_layout()
        assert again.already  # one read at each later start-up
        found = await restarted.read_record(live.org_id, live.client_id)
        assert found is not None
        assert found.version == len(live_versions)


async def test_a_migration_cut_short_is_finished_from_its_staged_copy(
    bao: OpenBao, root: hvac.Client, prefix: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    record = new_record()
    versions = life_of(record)
    first_layout(root, prefix, versions)
    write_back = RecordLayout._write_back

    def dies_after_one_version(self: RecordLayout, org_id: str, client_id: str, staged: list[dict[str, Any]]
                               ) -> None:
        write_back(self, org_id, client_id, staged[:1])  # deleted, one version written back, then the crash
        raise VaultUnavailable("Vault migrate-layout: connection reset", operation="migrate-layout", path="?")

    config = config_for(bao, prefix, bao.token)
    async with Ledger.from_config(config, layout_checked=False) as ledger:
        monkeypatch.setattr(RecordLayout, "_write_back", dies_after_one_version)
        with pytest.raises(VaultUnavailable):
            await ledger.migrate_layout()
        monkeypatch.setattr(RecordLayout, "_write_back", write_back)
        assert len(raw_versions(root, prefix, record)) == 1  # the record is half rewritten...

        migration = await ledger.migrate_layout()  # ...and the next start-up finishes it

        assert migration.split == 1
        stored = raw_versions(root, prefix, record)
        assert [v["data"]["lastAction"] for v in stored] == ["minted", "renewed", "renewed", "revoked"]
        assert not any(value in json.dumps(stored) for value in secret_values(record))
        found = await ledger.read_record(record.org_id, record.client_id, credentials=True)
        assert found is not None
        assert secret_values(found.record) == secret_values(record)
