"""The HTTP session under every Vault call: the token in its header and nothing from ~/.netrc, and
the configured CA file is what verifies Vault's certificate."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from astra_token_operator.vault.auth import TokenAuth
from astra_token_operator.vault.session import VaultSession

SEEN: list[dict[str, str]] = []  # the headers of each request the fake Vault answered


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        SEEN.append({key.lower(): value for key, value in self.headers.items()})
        body = json.dumps({"data": {"keys": []}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def vault_address() -> Iterator[str]:
    SEEN.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_netrc_entry_for_vaults_host_is_not_sent_only_the_token_is(
        vault_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-for-vault\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    session = VaultSession(vault_address, TokenAuth(SecretStr("the-operators-token")))
    session.call("read", "secret/x", lambda client: client.adapter.get("/v1/secret/metadata/x"))
    (headers,) = SEEN
    assert headers["x-vault-token"] == "the-operators-token"
    assert "authorization" not in headers


def test_the_configured_ca_file_is_the_one_that_verifies(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    session = VaultSession("https://127.0.0.1:1", TokenAuth(SecretStr("t")), ca_file=str(missing))
    # requests refuses to send with a CA file that is not there: the file is what it would verify with.
    with pytest.raises(OSError, match=r"no-such-ca\.pem"):
        session.call("read", "secret/x", lambda client: client.adapter.get("/v1/secret/metadata/x"))
