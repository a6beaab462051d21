"""No root token, issued token or client secret ever shows in a log line (at
any level, from any logger), an exception's message or traceback, or a repr
or str: drive every path, capture everything, search it."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from astra_contract_support import ORG_ID, ClientFactory
from pydantic import SecretStr

from astra_token_operator.astra import AstraClients, AstraError
from astra_token_operator.fake_astra import BUILTIN_ROLE_IDS, FakeAstra, ScriptedResponse, make_admin_token

RO_USER = BUILTIN_ROLE_IDS["RO User"]
ORG_ADMIN = BUILTIN_ROLE_IDS["Organization Administrator"]


class Evidence:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.errors = 0

    def note(self, *objects: object) -> None:
        for item in objects:
            self.texts += [repr(item), str(item)]

    async def error(self, call: Awaitable[object]) -> None:
        try:
            await call
        except AstraError as error:
            self.errors += 1
            self.note(error, error.args, vars(error))
            self.texts.append("".join(traceback.format_exception(error)))
        else:
            raise AssertionError("expected an AstraError")


def secret_forms(token: str) -> list[str]:
    return [token, token.rsplit(":", 1)[-1]]


async def test_no_secret_reaches_logs_errors_or_reprs(
    make_client: ClientFactory, fake: FakeAstra, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    evidence = Evidence()
    root = fake.admin_token(ORG_ID)
    admin = make_client(max_attempts=2)

    # Every successful call, and the objects they return.
    created = await admin.create_token(role_ids=[RO_USER], description="intent-a")
    issued, secret = created.token.get_secret_value(), created.secret.get_secret_value()
    evidence.note(created, created.model_dump(), created.model_dump_json(), admin, admin.settings)
    evidence.note(await admin.list_tokens(), await admin.list_roles(), await admin.current_org(),
                  await admin.get_role(RO_USER), await admin.revoke_token(created.client_id),
                  await admin.revoke_token(created.client_id))

    # Root tokens that fail: revoked (401), unknown (401), read-only (403), malformed (403).
    minted = await admin.create_token(role_ids=[ORG_ADMIN], description="second root")
    revoked_root = minted.token.get_secret_value()
    await admin.revoke_token(minted.client_id)
    read_only_root = fake.issue_token(ORG_ID, ["RO User"])
    unknown_root = make_admin_token()
    malformed_root = "AstraCS:malformed:" + "f" * 40
    for bad_root in (revoked_root, unknown_root, read_only_root, malformed_root):
        bad = make_client(bad_root)
        evidence.note(bad)
        await evidence.error(bad.list_tokens())
        await evidence.error(bad.create_token(role_ids=[RO_USER], description="m"))

    # Every status on every endpoint in every body shape, with Astra echoing tokens back.
    echo = f"token {root} and {issued} were refused"
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "GET /v2/clientIdSecrets": lambda: admin.list_tokens(),
        "POST /v2/clientIdSecrets": lambda: admin.create_token(role_ids=[RO_USER], description="m"),
        "DELETE /v2/clientIdSecrets/{clientId}": lambda: admin.revoke_token("SomeClientIdAbcdefghijkl"),
        "GET /v2/organizations/roles": lambda: admin.list_roles(),
        "GET /v2/organizations/roles/{roleId}": lambda: admin.get_role(RO_USER),
        "GET /v2/currentOrg": lambda: admin.current_org(),
    }
    for status in (400, 401, 403, 404, 409, 429, 500, 501, 502, 503, 504):
        for body in ("json", "text", "json_string", "empty"):
            for endpoint, call in calls.items():
                if endpoint.startswith("DELETE") and status == 404:
                    continue  # a 404 there is success (already gone)
                fake.set_faults(script=[ScriptedResponse(
                    status=status, endpoint=endpoint, message=echo, body=body, retry_after="0", times=2,
                )])
                await evidence.error(call())

    # Expiry refused, dropped and hanging creates, then Astra unreachable.
    fake.set_faults(reject_token_expiry=True)
    await evidence.error(admin.create_token(
        role_ids=[RO_USER], description="m", token_expiry=datetime.now(UTC) + timedelta(hours=1)
    ))
    fake.set_faults(drop_create_responses=1)
    await evidence.error(admin.create_token(role_ids=[RO_USER], description="intent-drop"))
    fake.set_faults(drop_create_responses=1, drop_mode="hang", hang_seconds=30)
    impatient = make_client(read_timeout_seconds=0.2)
    await evidence.error(impatient.create_token(role_ids=[RO_USER], description="intent-hang"))
    fake.set_faults()
    pool = AstraClients()
    evidence.note(pool.get(ORG_ID, SecretStr(root), admin.settings), pool)
    await pool.aclose_all()
    unreachable = make_client(max_attempts=2)
    await fake.stop()
    await evidence.error(unreachable.list_tokens())
    await evidence.error(unreachable.create_token(role_ids=[RO_USER], description="m"))

    assert evidence.errors > 250
    records = caplog.records
    assert any(r.levelno == logging.DEBUG for r in records)
    assert any(r.levelno >= logging.WARNING for r in records)
    haystack = "\n".join([
        caplog.text,
        *evidence.texts,
        *(f"{r.getMessage()} {r.args!r} {vars(r)!r}" for r in records),
    ])
    for token in (root, issued, revoked_root, unknown_root, read_only_root, malformed_root):
        for form in secret_forms(token):
            assert form not in haystack, "a token leaked"
    assert secret not in haystack, "a client secret leaked"
