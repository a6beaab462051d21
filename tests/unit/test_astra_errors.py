"""Error bodies read leniently, statuses mapped to typed errors, messages that
help and never carry a token."""

import pytest

from astra_token_operator.astra import (
    AstraBadRequest,
    AstraConflict,
    AstraError,
    AstraForbidden,
    AstraNotFound,
    AstraRetryableError,
    AstraUnauthorized,
    redact_token,
)
from astra_token_operator.astra.error_bodies import ErrorBody, parse_error_body
from astra_token_operator.astra.errors import error_class_for_status
from astra_token_operator.astra.redaction import scrub

TOKEN = "AstraCS:zjCEYwRGWocLfQJHBNQxvorr:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"errors":[{"ID":340018,"message":"Resource not found"}]}',
         ErrorBody(340018, "Resource not found")),
        (b'{"errors":[{"id":"340012","Message":"invalid token format"}]}',
         ErrorBody(340012, "invalid token format")),
        (b'{"errors":[{"ID":1,"message":"a"},{"ID":2,"message":"b"}]}', ErrorBody(1, "a; b")),
        (b'"role not found"', ErrorBody(None, "role not found")),
        (b"plain text failure\n", ErrorBody(None, "plain text failure")),
        (b"", ErrorBody(None, None)),
        (b"   ", ErrorBody(None, None)),
        (b'{"message":"denied","ID":7}', ErrorBody(7, "denied")),
        (b"{}", ErrorBody(None, None)),
        (b"<html><body>Bad Gateway</body></html>", ErrorBody(None, "<html><body>Bad Gateway</body></html>")),
    ],
)
def test_error_bodies_of_every_shape_are_read(body: bytes, expected: ErrorBody) -> None:
    assert parse_error_body(body) == expected


def test_tokens_in_an_error_body_are_scrubbed() -> None:
    body = f'{{"errors":[{{"ID":340018,"message":"token {TOKEN} not found"}}]}}'.encode()
    parsed = parse_error_body(body)
    assert parsed.message is not None
    assert TOKEN not in parsed.message
    assert "0123456789abcdef" not in parsed.message


def test_known_secrets_and_bearer_values_are_scrubbed_from_any_text() -> None:
    text = scrub("root=s3cr3t-value header Authorization: Bearer abc.def", ["s3cr3t-value"])
    assert "s3cr3t-value" not in text
    assert "abc.def" not in text


def test_long_error_text_is_cut_to_a_readable_length() -> None:
    assert len(scrub("x" * 5000)) <= 300


def test_redacted_token_shows_only_prefix_and_last_four() -> None:
    shown = redact_token(TOKEN)
    assert shown.startswith("AstraCS:")
    assert shown.endswith(TOKEN[-4:])
    assert TOKEN[8:-4] not in shown


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, AstraBadRequest),
        (401, AstraUnauthorized),
        (403, AstraForbidden),
        (404, AstraNotFound),
        (409, AstraConflict),
        (429, AstraRetryableError),
        (500, AstraRetryableError),
        (502, AstraRetryableError),
        (503, AstraRetryableError),
        (504, AstraRetryableError),
        (501, AstraError),
        (418, AstraError),
    ],
)
def test_each_status_maps_to_its_error_type(status: int, error_class: type[AstraError]) -> None:
    assert error_class_for_status(status) is error_class


def test_error_message_names_org_endpoint_status_and_astras_words() -> None:
    error = AstraUnauthorized(
        "unauthorized", org_id="org-1", endpoint="GET /v2/clientIdSecrets", status=401,
        error_id=340018, astra_message="Resource not found",
    )
    text = str(error)
    for part in ("org-1", "GET /v2/clientIdSecrets", "401", "340018", "Resource not found"):
        assert part in text
    assert repr(error).startswith("AstraUnauthorized(")


def test_retryable_error_keeps_astras_retry_after_hint() -> None:
    error = AstraRetryableError("rate limited", org_id="o", endpoint="GET /v2/x", status=429, retry_after=3.0,
                                attempts=5)
    assert error.retry_after == 3.0
    assert "after 5 attempts" in str(error)
