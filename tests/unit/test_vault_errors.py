"""hvac and requests exceptions become ledger errors that say what failed, and never what was secret."""

from __future__ import annotations

import hvac.exceptions
import pytest
import requests

from astra_token_operator.vault import VaultCasMismatch, VaultError, VaultForbidden, VaultNotFound, VaultUnavailable
from astra_token_operator.vault.errors import scrub, translate

PATH = "secret/astra-tokens/orgs/o1/tokens/c1"
TOKEN = "AstraCS:c1:deadbeefdeadbeefdeadbeefdeadbeef"
URL = "http://127.0.0.1:8200/v1/secret/data/astra-tokens/orgs/o1/tokens/c1"


def hvac_error(
    cls: type[hvac.exceptions.VaultError], *errors: str, text: str = ""
) -> hvac.exceptions.VaultError:
    return cls(errors=list(errors) or None, method="post", url=URL, text=text)


def test_lost_check_and_set_is_a_cas_mismatch() -> None:
    exc = hvac_error(hvac.exceptions.InvalidRequest,
                     "check-and-set parameter did not match the current version")

    error = translate(exc, operation="write", path=PATH)

    assert isinstance(error, VaultCasMismatch)
    assert str(error).startswith(f"Vault write {PATH}: check-and-set lost")
    assert (error.operation, error.path, error.status) == ("write", PATH, 400)


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (hvac.exceptions.Forbidden, VaultForbidden),
        (hvac.exceptions.Unauthorized, VaultForbidden),
        (hvac.exceptions.InvalidPath, VaultNotFound),
        (hvac.exceptions.InternalServerError, VaultUnavailable),
        (hvac.exceptions.BadGateway, VaultUnavailable),
        (hvac.exceptions.VaultDown, VaultUnavailable),
        (hvac.exceptions.RateLimitExceeded, VaultUnavailable),
        (hvac.exceptions.VaultNotInitialized, VaultUnavailable),
        (hvac.exceptions.UnexpectedError, VaultUnavailable),
    ],
)
def test_each_vault_status_maps_to_what_the_operator_must_do(
    cls: type[hvac.exceptions.VaultError], expected: type[VaultError]
) -> None:
    error = translate(hvac_error(cls, "something"), operation="read", path=PATH)

    assert type(error) is expected
    assert PATH in str(error)


def test_sealed_vault_says_so() -> None:
    error = translate(hvac_error(hvac.exceptions.VaultDown, "Vault is sealed"), operation="read", path=PATH)

    assert "sealed" in str(error)


def test_secret_values_in_vault_error_text_are_scrubbed() -> None:
    vault_token = "s.AbCdEfGhIjKlMnOpQrStUvWx"
    exc = hvac_error(hvac.exceptions.InternalServerError,
                     f"failed to persist {{token: {TOKEN}, secret: my-client-secret}} for {vault_token}")

    error = translate(exc, operation="write", path=PATH, secrets=["my-client-secret"])

    message = str(error)
    assert TOKEN not in message
    assert "my-client-secret" not in message
    assert vault_token not in message
    assert "failed to persist" in message


def test_raw_response_bodies_are_never_quoted() -> None:
    # A proxy's HTML error page: hvac puts the whole body in the message.
    exc = hvac_error(hvac.exceptions.BadGateway, text=f"<html>upstream said {TOKEN}</html>")
    exc.args = (exc.text,)

    error = translate(exc, operation="read", path=PATH)

    assert TOKEN not in str(error)
    assert "upstream" not in str(error)


def test_connection_refused_names_the_cause_not_the_url() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as cause:
            raise requests.exceptions.ConnectionError(f"Max retries exceeded with url: {URL}") from cause
    except requests.exceptions.ConnectionError as exc:
        error = translate(exc, operation="read", path=PATH)

    assert isinstance(error, VaultUnavailable)
    assert str(error) == f"Vault read {PATH}: Connection refused"


def test_timeouts_are_unavailable() -> None:
    error = translate(requests.exceptions.ReadTimeout("read timed out"), operation="read", path=PATH)

    assert isinstance(error, VaultUnavailable)
    assert "timeout" in str(error)


def test_scrub_keeps_messages_short_and_on_one_line() -> None:
    text = scrub("1 error occurred:\n\t* permission denied\n\n" + "x" * 1000)

    assert "\n" not in text
    assert len(text) <= 300
    assert text.startswith("1 error occurred: * permission denied")
