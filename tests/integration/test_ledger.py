"""The ledger against a real OpenBao dev server: records and their history,
check-and-set, uniqueness slots, intents, root tokens, auth methods, the audit
log, and what happens when Vault is down or silent."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from astra_token_operator.config import OperatorConfig
from astra_token_operator.records import (
    MintIntent,
    OwnerRef,
    Principal,
    RecordAction,
    RecordState,
    SlotClaim,
    SlotStatus,
    TokenRecord,
)
from astra_token_operator.vault import (
    AppRoleAuth,
    Ledger,
    VaultCasMismatch,
    VaultForbidden,
    VaultNotFound,
    VaultSession,
    VaultUnavailable,
)
from testplatform.openbao import OpenBao, start_openbao

pytestmark = pytest.mark.integration

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


# --- fixtures ------------------------------------------------------------------------------------



@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"  # each test its own corner of the ledger


def config_for(addr: str, **settings: Any) -> OperatorConfig:
    defaults: dict[str, Any] = {"vault_addr": addr, "vault_timeout_seconds": 5.0, "vault_workers": 4}
    return OperatorConfig(**{**defaults, **settings})


@pytest.fixture
async def ledger(bao: OpenBao, prefix: str) -> AsyncIterator[Ledger]:
    config = config_for(bao.addr, vault_token=SecretStr(bao.token), vault_prefix=prefix)
    async with Ledger.from_config(config) as it:
        yield it


@pytest.fixture
def silent_vault() -> Iterator[str]:
    """An address that accepts connections and never answers (a hung Vault)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def owner(name: str = "billing", uid: str | None = None) -> OwnerRef:
    return OwnerRef(kind="AstraToken", namespace="team-a", name=name, uid=uid or str(uuid.uuid4()))


def new_record(org_id: str = "org-1", **changes: Any) -> TokenRecord:
    client_id = changes.pop("client_id", str(uuid.uuid4()))
    fields: dict[str, Any] = {
        "token": SecretStr(f"AstraCS:{client_id[:8]}:{secrets.token_hex(32)}"),
        "client_secret": SecretStr(secrets.token_urlsafe(24)),
        "client_id": client_id, "org_id": org_id, "role_name": "reader", "role_id": "role-uuid",
        "logical_name": "billing", "ttl_seconds": 3600, "max_ttl_seconds": 86400,
        "issued_at": NOW, "lease_expires_at": NOW + timedelta(hours=1),
        "max_expires_at": NOW + timedelta(days=1),
        "created_by": Principal(username="alice", uid="u-alice", groups=["devs"]),
        "actor": Principal(username="alice", uid="u-alice"), "owner": owner(),
    }
    fields.update(changes)
    return TokenRecord(**fields)


def claim(client_id: str, holder: OwnerRef) -> SlotClaim:
    return SlotClaim(client_id=client_id, owner=holder, claimed_at=NOW)


SLOT = ("org-1", "reader", "billing")


def secret_values(record: TokenRecord) -> tuple[str, str]:
    return record.token.get_secret_value(), record.client_secret.get_secret_value()


# --- records -------------------------------------------------------------------------------------


async def test_every_change_to_a_record_is_a_version_in_its_history(ledger: Ledger) -> None:
    minted = new_record()
    v1 = await ledger.write_record(minted, expected_version=0)
    renewed = minted.model_copy(update={
        "last_action": RecordAction.RENEWED, "renewals": 1, "actor": Principal.operator(),
        "lease_expires_at": NOW + timedelta(hours=2),
    })
    v2 = await ledger.write_record(renewed, expected_version=v1)
    bob = Principal(username="bob", uid="u-bob")
    revoked = renewed.model_copy(update={
        "state": RecordState.REVOKED, "last_action": RecordAction.REVOKED, "revoked_by": bob, "actor": bob,
        "revoked_at": NOW + timedelta(hours=1), "reason": "AstraToken deleted",
    })
    v3 = await ledger.write_record(revoked, expected_version=v2)

    latest = await ledger.read_record(minted.org_id, minted.client_id)
    history = await ledger.record_history(minted.org_id, minted.client_id)

    assert (v1, v2, v3) == (1, 2, 3)
    assert latest is not None
    assert latest.version == 3
    assert latest.record == revoked.model_copy(update={"token": None, "client_secret": None})
    with_credentials = await ledger.read_record(minted.org_id, minted.client_id, credentials=True)
    assert with_credentials is not None
    assert with_credentials.record == revoked
    assert all(h.record.credentials is None for h in history)  # no version of the history holds a secret
    assert [(h.version, h.record.last_action) for h in history] == [
        (1, RecordAction.MINTED), (2, RecordAction.RENEWED), (3, RecordAction.REVOKED)]
    assert history[0].record.created_by == Principal(username="alice", uid="u-alice", groups=["devs"])
    assert history[2].record.revoked_by == bob
    assert history[0].created_time <= history[1].created_time <= history[2].created_time


async def test_a_record_keeps_its_history_past_the_kv_default_of_ten_versions(ledger: Ledger) -> None:
    record = new_record()
    version = await ledger.write_record(record, expected_version=0)
    for renewals in range(1, 15):
        record = record.model_copy(update={"renewals": renewals, "last_action": RecordAction.RENEWED})
        version = await ledger.write_record(record, expected_version=version)

    history = await ledger.record_history(record.org_id, record.client_id)

    assert [h.record.renewals for h in history] == list(range(15))


async def test_history_skips_versions_deleted_by_hand(ledger: Ledger, root: hvac.Client) -> None:
    record = new_record()
    for renewals in range(3):
        await ledger.write_record(record.model_copy(update={"renewals": renewals}))
    root.secrets.kv.v2.delete_secret_versions(
        path=ledger.paths.record(record.org_id, record.client_id), versions=[2], mount_point="secret")

    history = await ledger.record_history(record.org_id, record.client_id)

    assert [h.version for h in history] == [1, 3]


async def test_a_stale_writer_loses_check_and_set_and_learns_nothing_secret(ledger: Ledger) -> None:
    record = new_record()
    await ledger.write_record(record, expected_version=0)
    await ledger.write_record(record.model_copy(update={"renewals": 1}), expected_version=1)

    with pytest.raises(VaultCasMismatch) as stale:
        await ledger.write_record(record.model_copy(update={"renewals": 2}), expected_version=1)
    with pytest.raises(VaultCasMismatch):
        await ledger.write_record(record, expected_version=0)  # a "new" mint over an existing record

    assert ledger.paths.record(record.org_id, record.client_id) in str(stale.value)
    assert not any(value in str(stale.value) for value in secret_values(record))
    latest = await ledger.read_record(record.org_id, record.client_id)
    assert latest is not None
    assert latest.record.renewals == 1


async def test_missing_records_read_as_none_and_lists_show_what_exists(ledger: Ledger) -> None:
    assert await ledger.read_record("org-1", "no-such-client") is None
    assert await ledger.record_history("org-1", "no-such-client") == []
    assert await ledger.list_client_ids("org-1") == []

    first, second = new_record(), new_record(org_id="org-2")
    await ledger.write_record(first)
    await ledger.write_record(second)

    assert await ledger.list_client_ids("org-1") == [first.client_id]
    assert await ledger.list_org_ids() == ["org-1", "org-2"]


async def test_many_concurrent_writes_all_land(ledger: Ledger) -> None:
    records = [new_record() for _ in range(100)]

    started = time.monotonic()
    versions = await asyncio.gather(*(ledger.write_record(r, expected_version=0) for r in records))
    elapsed = time.monotonic() - started

    assert versions == [1] * 100
    assert sorted(await ledger.list_client_ids("org-1")) == sorted(r.client_id for r in records)
    print(f"\n100 new records (2 KV calls each) through 4 workers: {elapsed:.2f}s")


# --- slots ---------------------------------------------------------------------------------------


async def test_only_one_of_many_concurrent_claims_wins_the_slot(ledger: Ledger) -> None:
    claims = [claim(f"client-{n}", owner(f"token-{n}")) for n in range(8)]

    outcomes = await asyncio.gather(*(ledger.claim_slot(*SLOT, c) for c in claims))

    winners = [o for o in outcomes if o.status is SlotStatus.CLAIMED]
    assert len(winners) == 1
    winner = winners[0].holder
    losers = [o for o in outcomes if o is not winners[0]]
    assert all(o.status is SlotStatus.HELD_BY and not o.ours for o in losers)
    assert all(o.holder.owner == winner.owner and o.holder.client_id == winner.client_id for o in losers)
    stored = await ledger.read_slot(*SLOT)
    assert stored is not None
    assert stored.claim == winner
    assert (stored.claim.org_id, stored.claim.role_name, stored.claim.logical_name) == SLOT


async def test_claiming_again_for_the_same_owner_is_idempotent(ledger: Ledger) -> None:
    mine = owner()
    first = claim("client-1", mine)
    await ledger.claim_slot(*SLOT, first)

    again = await ledger.claim_slot(*SLOT, claim("client-2", mine))

    assert again.status is SlotStatus.ALREADY_OURS
    assert again.ours
    assert again.holder.client_id == "client-1"  # the slot still names what was recorded first


async def test_a_freed_slot_can_be_claimed_again_but_only_its_holder_frees_it(ledger: Ledger) -> None:
    alice, bob = owner("a"), owner("b")
    await ledger.claim_slot(*SLOT, claim("c-a", alice))

    assert await ledger.free_slot(*SLOT, owner_uid=bob.uid) is False
    held = await ledger.claim_slot(*SLOT, claim("c-b", bob))
    assert held.status is SlotStatus.HELD_BY

    assert await ledger.free_slot(*SLOT, owner_uid=alice.uid) is True
    taken = await ledger.claim_slot(*SLOT, claim("c-b", bob))
    assert taken.status is SlotStatus.CLAIMED
    assert await ledger.free_slot(*SLOT, owner_uid=bob.uid) is True
    assert await ledger.free_slot(*SLOT, owner_uid=bob.uid) is False  # already free


async def test_a_soft_delete_would_block_the_next_claim_so_free_slot_removes_the_key(
    ledger: Ledger, root: hvac.Client
) -> None:
    # What OpenBao does: a soft-deleted key keeps its version, and cas=0 is refused.
    key = f"{ledger.paths.prefix}/soft-delete-probe"
    root.secrets.kv.v2.create_or_update_secret(path=key, secret={"x": "1"}, cas=0, mount_point="secret")
    root.secrets.kv.v2.delete_latest_version_of_secret(path=key, mount_point="secret")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="check-and-set"):
        root.secrets.kv.v2.create_or_update_secret(path=key, secret={"x": "2"}, cas=0, mount_point="secret")

    # What the ledger does: free_slot leaves no key at all behind.
    mine = owner()
    await ledger.claim_slot(*SLOT, claim("c1", mine))
    await ledger.free_slot(*SLOT, owner_uid=mine.uid)
    slot_key = ledger.paths.slot(*SLOT)
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.secrets.kv.v2.read_secret_metadata(path=slot_key, mount_point="secret")

    # And a slot someone soft-deleted by hand (`bao kv delete`) is still claimable.
    await ledger.claim_slot(*SLOT, claim("c1", mine))
    root.secrets.kv.v2.delete_latest_version_of_secret(path=slot_key, mount_point="secret")
    retaken = await ledger.claim_slot(*SLOT, claim("c2", owner()))
    assert retaken.status is SlotStatus.CLAIMED


async def test_rotation_moves_the_slot_to_the_new_client_only_for_its_holder(ledger: Ledger) -> None:
    mine = owner()
    await ledger.claim_slot(*SLOT, claim("old", mine))

    moved = await ledger.update_slot(*SLOT, claim("new", mine))
    refused = await ledger.update_slot(*SLOT, claim("intruder", owner()))

    assert moved.status is SlotStatus.CLAIMED
    assert moved.version == 2
    assert refused.status is SlotStatus.HELD_BY
    assert refused.holder.client_id == "new"
    stored = await ledger.read_slot(*SLOT)
    assert stored is not None
    assert stored.claim.client_id == "new"


# --- intents -------------------------------------------------------------------------------------


async def test_intents_live_from_before_the_mint_until_it_is_recorded(ledger: Ledger) -> None:
    assert await ledger.list_intents() == []
    first, second = (
        MintIntent(intent_id=uuid.uuid4().hex, owner=owner(), org_id="org-1", role_id="role-uuid",
                   role_name="reader", logical_name="billing", marker=f"astra-tokens.io/intent={n}",
                   created_at=NOW + timedelta(seconds=n), token_expiry=NOW + timedelta(days=1))
        for n in (2, 1)
    )
    await ledger.write_intent(first)
    await ledger.write_intent(second)

    assert await ledger.list_intents() == [second, first]  # oldest first
    assert await ledger.read_intent(first.intent_id) == first
    with pytest.raises(VaultCasMismatch):
        await ledger.write_intent(first)  # an intent id is never reused

    await ledger.delete_intent(first.intent_id)
    await ledger.delete_intent(first.intent_id)  # gone already: fine
    assert await ledger.read_intent(first.intent_id) is None
    assert await ledger.list_intents() == [second]


# --- root tokens ---------------------------------------------------------------------------------


async def test_root_token_is_read_from_a_vault_path(ledger: Ledger, root: hvac.Client, prefix: str) -> None:
    root_token = f"AstraCS:root:{secrets.token_hex(32)}"
    root.secrets.kv.v2.create_or_update_secret(path=f"{prefix}-orgs/prod", mount_point="secret",
                                               secret={"token": root_token, "other": "x"})
    mount = f"{prefix}-teams/a"
    root.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    root.secrets.kv.v2.create_or_update_secret(path="astra/root", mount_point=mount,
                                               secret={"value": root_token})

    by_mount = await ledger.read_root_token(f"secret/{prefix}-orgs/prod")
    relative = await ledger.read_root_token(f"{prefix}-orgs/prod")  # relative to the ledger's mount
    nested = await ledger.read_root_token(f"{mount}/astra/root", key="value")  # a mount two segments deep

    assert {t.get_secret_value() for t in (by_mount, relative, nested)} == {root_token}
    assert root_token not in repr(by_mount)
    with pytest.raises(VaultNotFound, match="has no key 'tokens'") as no_key:
        await ledger.read_root_token(f"secret/{prefix}-orgs/prod", key="tokens")
    with pytest.raises(VaultNotFound, match="no such secret"):
        await ledger.read_root_token(f"secret/{prefix}-orgs/staging")
    assert root_token not in str(no_key.value)


# --- auth methods --------------------------------------------------------------------------------


@dataclass
class AppRole:
    role_id: str
    secret_id: str
    logins: list[str] = field(default_factory=list)


def approle_for(root: hvac.Client, prefix: str, token_ttl: str = "1h") -> AppRole:  # noqa: S107
    if "approle/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("approle")
    root.sys.create_or_update_policy(prefix, f"""
path "secret/data/{prefix}/*" {{ capabilities = ["create", "read", "update", "delete", "list"] }}
path "secret/metadata/{prefix}/*" {{ capabilities = ["create", "read", "update", "delete", "list"] }}
""")
    root.write_data(f"auth/approle/role/{prefix}", data={"token_policies": [prefix], "token_ttl": token_ttl})
    role_id = root.read(f"auth/approle/role/{prefix}/role-id")["data"]["role_id"]
    secret_id = root.write_data(f"auth/approle/role/{prefix}/secret-id")["data"]["secret_id"]
    return AppRole(role_id=role_id, secret_id=secret_id)


def approle_config(bao: OpenBao, prefix: str, role: AppRole, secret_id: str | None = None) -> OperatorConfig:
    return config_for(bao.addr, vault_auth="approle", vault_prefix=prefix, vault_approle_role_id=role.role_id,
                      vault_approle_secret_id=SecretStr(secret_id or role.secret_id))


async def test_approle_identity_logs_in_again_after_its_token_is_revoked(
    bao: OpenBao, root: hvac.Client, prefix: str
) -> None:
    role = approle_for(root, prefix)
    async with Ledger.from_config(approle_config(bao, prefix, role)) as ledger:
        record = new_record()
        await ledger.write_record(record, expected_version=0)

        root.sys.revoke_prefix("auth/approle/login")  # every token AppRole ever issued is now dead

        found = await ledger.read_record(record.org_id, record.client_id, credentials=True)
        assert found is not None
        assert found.record == record


async def test_approle_identity_is_refused_outside_its_policy_without_login_loops(
    bao: OpenBao, root: hvac.Client, prefix: str
) -> None:
    role = approle_for(root, prefix)
    async with Ledger.from_config(approle_config(bao, prefix, role)) as ledger:
        await ledger.write_record(new_record())
        audit_lines_before = len(bao.audit_log.read_text().splitlines())

        with pytest.raises(VaultForbidden) as refused:
            await ledger.read_root_token("secret/somebody-elses/root")

        assert "secret/somebody-elses/root" in str(refused.value)
        assert role.secret_id not in str(refused.value)
        new_lines = bao.audit_log.read_text().splitlines()[audit_lines_before:]
        logins = [line for line in new_lines if '"auth/approle/login"' in line]
        assert logins == []  # a working token lacking a policy is not a reason to log in again


async def test_wrong_approle_secret_is_forbidden_and_never_echoed(
    bao: OpenBao, root: hvac.Client, prefix: str
) -> None:
    role = approle_for(root, prefix)
    wrong = str(uuid.uuid4())
    async with Ledger.from_config(approle_config(bao, prefix, role, secret_id=wrong)) as ledger:
        with pytest.raises(VaultForbidden) as refused:
            await ledger.read_record("org-1", "c1")

    assert "auth/approle/login" in str(refused.value)
    assert wrong not in str(refused.value)


async def test_approle_token_is_replaced_before_it_expires(
    bao: OpenBao, root: hvac.Client, prefix: str
) -> None:
    role = approle_for(root, prefix, token_ttl="1h")
    logins: list[float] = []

    @dataclass(frozen=True)
    class CountingAppRole(AppRoleAuth):
        def login(self, client: hvac.Client) -> Any:
            logins.append(now)
            return super().login(client)

    now = 1000.0
    auth = CountingAppRole(role_id=role.role_id, secret_id=SecretStr(role.secret_id))
    session = VaultSession(bao.addr, auth, clock=lambda: now)
    async with Ledger(session, prefix=prefix, workers=2) as ledger:
        await ledger.read_record("org-1", "c1")
        now += 30 * 60  # half the token's hour: keep it
        await ledger.read_record("org-1", "c1")
        now += 20 * 60  # 50 minutes in: past 80%, log in again before Vault refuses it
        await ledger.read_record("org-1", "c1")

    assert logins == [1000.0, 1000.0 + 50 * 60]


async def test_kubernetes_login_failure_does_not_leak_the_service_account_token(
    bao: OpenBao, root: hvac.Client, prefix: str, tmp_path: Path
) -> None:
    # The success path needs a real kube-apiserver for TokenReview; the platform tests cover it.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
          .serial_number(1).not_valid_before(NOW).not_valid_after(datetime.now(UTC) + timedelta(days=1))
          .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    mount = f"k8s-{prefix}"
    root.sys.enable_auth_method("kubernetes", path=mount)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        unreachable = f"https://127.0.0.1:{closed.getsockname()[1]}"
    root.write_data(f"auth/{mount}/config", data={
        "kubernetes_host": unreachable, "kubernetes_ca_cert": ca, "disable_local_ca_jwt": True})
    root.write_data(f"auth/{mount}/role/operator", data={
        "bound_service_account_names": ["astra-token-operator"],
        "bound_service_account_namespaces": ["astra-token-operator"], "token_policies": ["default"]})
    claims = {"iss": "kubernetes/serviceaccount",
              "sub": "system:serviceaccount:astra-token-operator:astra-token-operator",
              "kubernetes.io/serviceaccount/namespace": "astra-token-operator",
              "kubernetes.io/serviceaccount/service-account.name": "astra-token-operator"}
    signature = secrets.token_urlsafe(64)
    jwt = ".".join([_b64(b'{"alg":"RS256"}'), _b64(json.dumps(claims).encode()), signature])
    token_file = tmp_path / "token"
    token_file.write_text(jwt)

    config = config_for(bao.addr, vault_auth="kubernetes", vault_role="operator", vault_prefix=prefix,
                        vault_kubernetes_mount=mount, vault_sa_token_path=str(token_file))
    async with Ledger.from_config(config) as ledger:
        with pytest.raises(VaultForbidden) as refused:  # TokenReview failed: OpenBao says "permission denied"
            await ledger.read_record("org-1", "c1")

    assert f"auth/{mount}/login" in str(refused.value)
    assert jwt not in str(refused.value)
    assert signature not in str(refused.value)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- audit ---------------------------------------------------------------------------------------


async def test_audit_log_shows_the_ledgers_writes_but_no_secret_value(
    bao: OpenBao, ledger: Ledger, root: hvac.Client
) -> None:
    record = new_record()
    await ledger.write_record(record, expected_version=0)
    await ledger.claim_slot(*SLOT, claim(record.client_id, owner()))

    log = bao.audit_log.read_text()
    requests = [json.loads(line)["request"] for line in log.splitlines() if '"type":"request"' in line]
    written = {r["path"] for r in requests if r["operation"] in ("create", "update")}
    assert f"secret/data/{ledger.paths.record(record.org_id, record.client_id)}" in written
    assert f"secret/data/{ledger.paths.slot(*SLOT)}" in written
    for value in secret_values(record):
        assert value not in log
        # ...but it is there, HMAC'd: an auditor holding a value can find where it went.
        hashed = root.write_data("sys/audit-hash/main", data={"input": value})["data"]["hash"]
        assert hashed in log


# --- Vault down, hung, or busy -------------------------------------------------------------------


async def test_stopped_vault_fails_fast_with_vault_unavailable_and_no_secret(tmp_path: Path) -> None:
    server = start_openbao(tmp_path / "openbao")
    try:
        config = config_for(server.addr, vault_token=SecretStr(server.token), vault_timeout_seconds=5.0)
        async with Ledger.from_config(config) as ledger:
            record = new_record()
            await ledger.write_record(record, expected_version=0)
            server.stop()

            started = time.monotonic()
            with pytest.raises(VaultUnavailable) as down:
                await ledger.write_record(record.model_copy(update={"renewals": 1}), expected_version=1)
            elapsed = time.monotonic() - started
    finally:
        server.stop()

    message = str(down.value)
    assert elapsed < 1.0  # refused at once; the 5 s timeout is for a Vault that does not answer
    assert ledger.paths.record(record.org_id, record.client_id) in message
    assert "write" in message
    assert server.token not in message
    assert not any(value in message for value in secret_values(record))
    assert down.value.__context__ is None
    assert down.value.__cause__ is None
    print(f"\nVault stopped: VaultUnavailable after {elapsed * 1000:.0f} ms ({message})")


async def test_vault_that_never_answers_times_out_within_the_setting(silent_vault: str) -> None:
    config = config_for(silent_vault, vault_token=SecretStr("any"), vault_timeout_seconds=0.5)
    async with Ledger.from_config(config) as ledger:
        started = time.monotonic()
        with pytest.raises(VaultUnavailable, match="no answer within the timeout"):
            await ledger.read_record("org-1", "c1")
        elapsed = time.monotonic() - started

    assert 0.4 <= elapsed < 2.0
    print(f"\nsilent Vault, timeout 0.5 s: VaultUnavailable after {elapsed:.2f}s")


async def test_waiting_on_vault_never_blocks_the_event_loop(silent_vault: str) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    config = config_for(silent_vault, vault_token=SecretStr("any"), vault_timeout_seconds=1.0)
    async with Ledger.from_config(config) as ledger:
        task = asyncio.create_task(ticker())
        results = await asyncio.gather(*(ledger.read_record("org-1", f"c{n}") for n in range(4)),
                                       return_exceptions=True)
        task.cancel()

    assert all(isinstance(r, VaultUnavailable) for r in results)
    assert ticks >= 20  # about 100 in the second Vault kept us waiting; a blocked loop would manage none
