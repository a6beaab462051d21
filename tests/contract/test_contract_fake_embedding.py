"""The fake runs where tests need it: in a background thread for synchronous
code, and as its own process from the command line."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import httpx
from astra_contract_support import ORG_ID, OTHER_ORG_ID, quick_settings
from pydantic import SecretStr

from astra_token_operator.astra import AstraClient
from astra_token_operator.fake_astra import BUILTIN_ROLE_IDS, TOKEN_PATTERN, FakeAstraThread, make_admin_token


def test_threaded_fake_serves_synchronous_callers() -> None:
    root = make_admin_token()
    with FakeAstraThread({ORG_ID: root}) as fake:
        response = httpx.get(f"{fake.url}/v2/currentOrg", headers={"Authorization": f"Bearer {root}"})
        assert response.json()["id"] == ORG_ID
        fake.set_faults(rate_503=1.0)
        refused = httpx.get(f"{fake.url}/v2/currentOrg", headers={"Authorization": f"Bearer {root}"})
        assert refused.status_code == 503
        assert fake.counters().count(org=ORG_ID) == 2
        other_root = fake.add_org(OTHER_ORG_ID)
        assert fake.verify(other_root).valid


def test_threaded_fake_serves_an_async_client_in_another_loop() -> None:
    root = make_admin_token()
    with FakeAstraThread({ORG_ID: root}) as fake:

        async def mint_and_revoke() -> str:
            client = AstraClient(ORG_ID, SecretStr(root), quick_settings(fake.url))
            try:
                created = await client.create_token(role_ids=[BUILTIN_ROLE_IDS["RO User"]], description="t")
                await client.revoke_token(created.client_id)
                return created.token.get_secret_value()
            finally:
                await client.aclose()

        token = asyncio.run(mint_and_revoke())
        assert fake.verify(token).reason == "revoked"


def test_command_line_prints_its_url_first_and_serves_until_interrupted() -> None:
    root = make_admin_token()
    # Output to a pipe is block-buffered unless the fake flushes its first line.
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    process = subprocess.Popen(
        [sys.executable, "-m", "astra_token_operator.fake_astra", "--port", "0", "--org", f"{ORG_ID}={root}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("listening on http://127.0.0.1:")
        url = first.removeprefix("listening on ")
        assert int(url.rsplit(":", 1)[1]) > 0
        response = httpx.get(f"{url}/v2/currentOrg", headers={"Authorization": f"Bearer {root}"})
        assert response.json()["id"] == ORG_ID
        assert httpx.get(f"{url}/_fake/counters").json()["requests"][0]["org"] == ORG_ID
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]


def test_command_line_makes_admin_tokens_and_refuses_bad_org_arguments() -> None:
    made = subprocess.run(
        [sys.executable, "-m", "astra_token_operator.fake_astra", "--new-admin-token"],
        capture_output=True, text=True, check=True,
    )
    assert TOKEN_PATTERN.match(made.stdout.strip())
    refused = subprocess.run(
        [sys.executable, "-m", "astra_token_operator.fake_astra", "--org", "no-equals-sign"],
        capture_output=True, text=True, check=False,
    )
    assert refused.returncode == 2
    assert "expected <orgId>=<adminToken>" in refused.stderr
    malformed = subprocess.run(
        [sys.executable, "-m", "astra_token_operator.fake_astra", "--org", f"{ORG_ID}=AstraCS:short:abc"],
        capture_output=True, text=True, check=False,
    )
    assert malformed.returncode == 2
    assert "AstraCS:short:abc" not in malformed.stderr
    assert "is not AstraCS:<24 letters>" in malformed.stderr
