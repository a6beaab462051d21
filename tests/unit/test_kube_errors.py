"""Kubernetes client failures become typed KubeErrors whose messages keep the
apiserver's words and never a value of the Secret being written."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ValidationError

from astra_token_operator.kube import (
    KubeAlreadyExists,
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeInvalid,
    KubeNotFound,
    KubeUnavailable,
)
from astra_token_operator.kube.errors import scrub, translate

TOKEN = "AstraCS:unitTestToken:0123456789abcdef"
CLIENT_SECRET = "s3cr3t-client-value"
SECRETS = (TOKEN, CLIENT_SECRET, "ab")
WHERE: dict[str, Any] = {"operation": "create", "kind": "Secret", "namespace": "team-a", "name": "app"}


def status_body(code: int, reason: str, message: str, **extra: Any) -> str:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                       "reason": reason, "message": message, **extra})


def api_error(status: int, body: str | None = None, *, reason: str = "Reason",
              headers: dict[str, str] | None = None) -> ApiException:
    exc = ApiException(status=status, reason=reason, body=body)
    exc.headers = headers
    return exc


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def assert_no_secret(error: KubeError) -> None:
    for text in (str(error), repr(error), *map(str, error.args)):
        for value in (TOKEN, CLIENT_SECRET):
            assert value not in text
            assert b64(value) not in text
        assert "AstraCS:unitTestToken" not in text


@pytest.mark.parametrize(("status", "reason", "kind"), [
    (404, "NotFound", KubeNotFound),
    (409, "AlreadyExists", KubeAlreadyExists),
    (409, "Conflict", KubeConflict),
    (401, "Unauthorized", KubeForbidden),
    (403, "Forbidden", KubeForbidden),
    (400, "BadRequest", KubeInvalid),
    (422, "Invalid", KubeInvalid),
    (429, "TooManyRequests", KubeUnavailable),
    (500, "InternalError", KubeUnavailable),
    (503, "ServiceUnavailable", KubeUnavailable),
    (504, "Timeout", KubeUnavailable),
    (410, "Gone", KubeError),
])
def test_each_status_becomes_its_error(status: int, reason: str, kind: type[KubeError]) -> None:
    error = translate(api_error(status, status_body(status, reason, "it said so")), **WHERE)
    assert type(error) is kind
    assert (error.status, error.reason) == (status, reason)
    assert (error.operation, error.kind, error.namespace, error.name) == ("create", "Secret", "team-a", "app")
    assert str(error) == f"create Secret team-a/app: HTTP {status} {reason}: it said so"


def test_a_422_quoting_the_secret_keeps_the_message_and_loses_the_values() -> None:
    message = (f'Secret "app" is invalid: [metadata.labels: Invalid value: "{TOKEN}": must be no more '
               f'than 63 bytes, data[token]: Invalid value: "{b64(CLIENT_SECRET)}", metadata.annotations: '
               f'Invalid value: "ab": nope, metadata.name: Invalid value: "about": fine]')
    body = status_body(422, "Invalid", message, details={"causes": [{"message": TOKEN}]})
    error = translate(api_error(422, body), **WHERE, secrets=SECRETS)

    assert isinstance(error, KubeInvalid)
    assert_no_secret(error)
    assert "metadata.labels: Invalid value" in str(error)
    assert "must be no more than 63 bytes" in str(error)
    assert 'Invalid value: "[redacted]": nope' in str(error)  # a short value, where it stands quoted
    assert '"about"' in str(error)  # ... and only there


def test_the_response_body_beyond_the_message_is_never_kept() -> None:
    body = status_body(409, "Conflict", "Operation cannot be fulfilled", details={"secret": "x" * 50},
                       object={"data": {"token": b64(TOKEN)}})
    error = translate(api_error(409, body), **WHERE)
    assert "x" * 50 not in str(error)
    assert b64(TOKEN) not in str(error)


@pytest.mark.parametrize("body", [
    f"<html>proxy error for {TOKEN}</html>",
    json.dumps({"kind": "Unknown", "message": TOKEN}),
    None,
    "",
])
def test_a_body_that_is_not_a_status_is_not_quoted(body: str | None) -> None:
    error = translate(api_error(502, body, reason="Bad Gateway"), **WHERE, secrets=SECRETS)
    assert isinstance(error, KubeUnavailable)
    assert str(error) == "create Secret team-a/app: HTTP 502: Bad Gateway"


def test_token_shapes_are_scrubbed_even_when_not_announced() -> None:
    body = status_body(422, "Invalid", f"Invalid value: \"{TOKEN}\" and Bearer eyJhbGciOi.payload.sig")
    error = translate(api_error(422, body), **WHERE)
    assert_no_secret(error)
    assert "eyJhbGciOi" not in str(error)


def test_json_escaped_values_are_scrubbed() -> None:
    value = 'line one\nline "two"'
    said = f"Invalid value: {json.dumps(value)}"  # quoted as Go's %q would: \n and \" escaped
    error = translate(api_error(422, status_body(422, "Invalid", said)), **WHERE, secrets=(value,))
    assert "line one" not in str(error)
    assert "line \\" not in str(error)


def test_a_long_message_is_cut() -> None:
    error = translate(api_error(422, status_body(422, "Invalid", "word " * 500)), **WHERE)
    assert len(str(error)) < 400
    assert str(error).endswith("...")


def test_retry_after_and_whether_it_was_applied_are_kept() -> None:
    throttled = translate(api_error(429, status_body(429, "TooManyRequests", "slow down"),
                                    headers={"Retry-After": "3"}), **WHERE)
    failed = translate(api_error(500, status_body(500, "InternalError", "etcd")), **WHERE)
    assert isinstance(throttled, KubeUnavailable)
    assert isinstance(failed, KubeUnavailable)
    assert throttled.retry_after == 3.0
    assert throttled.maybe_applied is False
    assert failed.retry_after is None
    assert failed.maybe_applied is True


def test_client_side_failures_with_status_zero_are_unavailable() -> None:
    error = translate(ApiException(status=0, reason="SSLError\ncertificate verify failed"), **WHERE)
    assert isinstance(error, KubeUnavailable)
    assert "certificate verify failed" in str(error)


# --- transport errors ---------------------------------------------------------------------------


def _refused() -> urllib3.exceptions.MaxRetryError:
    refused = ConnectionRefusedError(111, "Connection refused")
    try:
        raise refused
    except ConnectionRefusedError as cause:
        new = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection")  # type: ignore[arg-type]
        new.__cause__ = cause
    return urllib3.exceptions.MaxRetryError(None, "/api/v1/namespaces/team-a/secrets", new)  # type: ignore[arg-type]


def test_a_refused_connection_is_unavailable_and_certainly_not_applied() -> None:
    error = translate(_refused(), **WHERE)
    assert isinstance(error, KubeUnavailable)
    assert error.maybe_applied is False
    assert str(error) == "create Secret team-a/app: cannot connect (Connection refused)"


@pytest.mark.parametrize("exc", [
    urllib3.exceptions.ReadTimeoutError(None, "/api", "Read timed out. (read timeout=15)"),  # type: ignore[arg-type]
    urllib3.exceptions.MaxRetryError(
        None, "/api", urllib3.exceptions.ReadTimeoutError(None, "/api", "timed out")),  # type: ignore[arg-type]
    TimeoutError("timed out"),
])
def test_a_timeout_is_unavailable_and_may_have_been_applied(exc: BaseException) -> None:
    error = translate(exc, **WHERE)
    assert isinstance(error, KubeUnavailable)
    assert error.maybe_applied is True
    assert str(error) == "create Secret team-a/app: no answer within the request timeout"


def test_a_connection_dropped_mid_request_may_have_been_applied() -> None:
    reset = ConnectionResetError(104, "Connection reset by peer")
    error = translate(urllib3.exceptions.ProtocolError("Connection aborted.", reset), **WHERE)
    assert isinstance(error, KubeUnavailable)
    assert error.maybe_applied is True
    assert "connection failed" in str(error)


def test_arguments_the_client_refuses_are_named_by_place_without_their_values() -> None:
    class Body(BaseModel):
        token: int

    with pytest.raises(ValidationError) as raised:
        Body.model_validate({"token": TOKEN})
    error = translate(raised.value, **WHERE)
    assert isinstance(error, KubeInvalid)
    assert "token" in str(error)
    assert_no_secret(error)


def test_anything_else_is_a_kube_error_naming_only_its_type() -> None:
    error = translate(RuntimeError(TOKEN), **WHERE)
    assert type(error) is KubeError
    assert str(error) == "create Secret team-a/app: unexpected RuntimeError"


def test_a_cluster_scoped_target_is_named_without_a_namespace() -> None:
    error = translate(api_error(404, status_body(404, "NotFound", "x")), operation="get", kind="astraorgs",
                      name="acme")
    assert str(error).startswith("get astraorgs acme: HTTP 404")


# --- scrub ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "secrets", "expected"), [
    ("value abcd here", ["abcd"], "value [redacted] here"),
    (f"value {b64('abcd')} here", ["abcd"], "value [redacted] here"),
    ('short "ab" and about', ["ab"], 'short "[redacted]" and about'),
    ("AstraCS:abc:def, then", [], "[redacted], then"),
    ("a\n  b\tc", [], "a b c"),
    ("nothing to hide", ["", "zz"], "nothing to hide"),
])
def test_scrub(text: str, secrets: list[str], expected: str) -> None:
    assert scrub(text, secrets) == expected
