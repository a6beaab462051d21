"""The fake's token shapes and timestamp formats (astra-devops-api.md §3)."""

import hashlib
import re
from datetime import UTC, datetime

from astra_token_operator.fake_astra import TOKEN_PATTERN, make_admin_token
from astra_token_operator.fake_astra.tokens import (
    SECRET_ALPHABET,
    epoch_nanos,
    format_nanos,
    make_client_id,
    make_secret,
    parse_token,
    token_for,
)


def test_admin_tokens_are_well_formed_and_distinct() -> None:
    tokens = {make_admin_token() for _ in range(20)}
    assert len(tokens) == 20
    assert all(TOKEN_PATTERN.match(t) and len(t) == 97 for t in tokens)


def test_token_is_client_id_and_sha256_of_the_secret() -> None:
    client_id, secret = make_client_id(), make_secret()
    assert re.fullmatch(r"[A-Za-z]{24}", client_id)
    assert len(secret) == 128
    assert set(secret) <= set(SECRET_ALPHABET)
    token = token_for(client_id, secret)
    assert token == f"AstraCS:{client_id}:{hashlib.sha256(secret.encode()).hexdigest()}"
    parsed = parse_token(token)
    assert parsed is not None
    assert parsed.client_id == client_id


def test_malformed_tokens_do_not_parse() -> None:
    good = make_admin_token()
    bad_tokens = (
        good.upper(), good[:-1], good.replace("AstraCS", "AstraXX"), "", "AstraCS:abc:def", good + "0",
    )
    for bad in bad_tokens:
        assert parse_token(bad) is None


def test_generated_on_has_nine_digits_on_create_and_three_on_list() -> None:
    nanos = epoch_nanos(datetime(2022, 9, 21, 17, 48, 15, 260897, tzinfo=UTC), 295)
    assert format_nanos(nanos, 9) == "2022-09-21T17:48:15.260897295Z"
    assert format_nanos(nanos, 3) == "2022-09-21T17:48:15.260Z"
