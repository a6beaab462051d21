"""The fake against astra-devops-api.md, spoken to with raw httpx (not our
client): shapes, formats, status codes, error bodies, key casing, expiry,
permissions, limits, and its admin API."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from astra_contract_support import ORG_ID, OTHER_ORG_ID

from astra_token_operator.fake_astra import BUILTIN_ROLE_IDS, DOCUMENTED_ROLE_IDS, FakeAstra, make_admin_token

TOKEN_FORMAT = re.compile(r"^AstraCS:[A-Za-z]{24}:[0-9a-f]{64}$")
CREATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$")
LIST_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
RO_USER = BUILTIN_ROLE_IDS["RO User"]


@pytest.fixture
async def http(fake: FakeAstra) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.url) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create(http: httpx.AsyncClient, token: str, **body: Any) -> httpx.Response:
    return await http.post("/v2/clientIdSecrets", json={"roles": [RO_USER], **body}, headers=bearer(token))


def only_error(response: httpx.Response) -> dict[str, Any]:
    errors = response.json()["errors"]
    assert len(errors) == 1
    assert set(errors[0]) == {"ID", "message"}
    return errors[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", ["/v2/clientIdSecrets", "/v2/tokens"])
async def test_create_answers_200_with_a_realistic_token(
    http: httpx.AsyncClient, fake: FakeAstra, path: str
) -> None:
    response = await http.post(path, json={"roles": [RO_USER]}, headers=bearer(fake.admin_token(ORG_ID)))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"clientId", "secret", "orgId", "roles", "token", "generatedOn"}
    assert TOKEN_FORMAT.match(body["token"])
    assert len(body["token"]) == 97
    assert re.fullmatch(r"[A-Za-z]{24}", body["clientId"])
    assert len(body["secret"]) == 128
    secret_hash = hashlib.sha256(body["secret"].encode()).hexdigest()
    assert body["token"] == f"AstraCS:{body['clientId']}:{secret_hash}"
    assert CREATE_TIME.match(body["generatedOn"])
    assert (body["orgId"], body["roles"]) == (ORG_ID, [RO_USER])


async def test_list_shows_description_and_expiry_with_three_digit_times_and_no_secrets(
    http: httpx.AsyncClient, fake: FakeAstra
) -> None:
    root = fake.admin_token(ORG_ID)
    await create(http, root, description="with expiry", tokenExpiry="2099-08-19T14:30:00Z")
    await create(http, root)
    response = await http.get("/v2/clientIdSecrets", headers=bearer(root))
    assert response.status_code == 200
    clients = response.json()["clients"]
    assert len(clients) == 3  # the admin token is a token of the org too
    for entry in clients:
        assert set(entry) == {"clientId", "roles", "generatedOn", "description", "tokenExpiry"}
        assert LIST_TIME.match(entry["generatedOn"])
    by_description = {e["description"]: e for e in clients}
    assert by_description["with expiry"]["tokenExpiry"] == "2099-08-19T14:30:00Z"
    assert by_description[""]["tokenExpiry"] is None


async def test_delete_answers_204_then_404_with_340018(http: httpx.AsyncClient, fake: FakeAstra) -> None:
    root = fake.admin_token(ORG_ID)
    client_id = (await create(http, root)).json()["clientId"]
    first = await http.delete(f"/v2/clientIdSecrets/{client_id}", headers=bearer(root))
    assert (first.status_code, first.content) == (204, b"")
    second = await http.delete(f"/v2/clientIdSecrets/{client_id}", headers=bearer(root))
    assert second.status_code == 404
    assert only_error(second)["ID"] == 340018


async def test_unknown_and_revoked_tokens_get_401_with_340018(
    http: httpx.AsyncClient, fake: FakeAstra
) -> None:
    root = fake.admin_token(ORG_ID)
    created = (await create(http, root, roles=[BUILTIN_ROLE_IDS["Organization Administrator"]])).json()
    assert (await http.get("/v2/currentOrg", headers=bearer(created["token"]))).status_code == 200
    await http.delete(f"/v2/clientIdSecrets/{created['clientId']}", headers=bearer(root))
    for token in (created["token"], make_admin_token()):
        response = await http.get("/v2/currentOrg", headers=bearer(token))
        assert response.status_code == 401
        error = only_error(response)
        assert error["ID"] == 340018
        assert "Resource not found" in error["message"]


@pytest.mark.parametrize(
    ("headers", "status", "error_id"),
    [({}, 401, 340012), ({"Authorization": "Token x"}, 401, 340012),
     ({"Authorization": "Bearer AstraCS:abc:123"}, 403, 340017)],
)
async def test_malformed_credentials_get_an_errors_body(
    http: httpx.AsyncClient, headers: dict[str, str], status: int, error_id: int
) -> None:
    response = await http.get("/v2/clientIdSecrets", headers=headers)
    assert response.status_code == status
    assert only_error(response)["ID"] == error_id


async def test_read_only_role_gets_403_when_creating_tokens(http: httpx.AsyncClient, fake: FakeAstra) -> None:
    read_only = fake.issue_token(ORG_ID, ["RO User"])
    response = await create(http, read_only)
    assert response.status_code == 403
    assert only_error(response)["message"]
    assert (await http.get("/v2/currentOrg", headers=bearer(read_only))).status_code == 200


async def test_bad_create_bodies_get_400(http: httpx.AsyncClient, fake: FakeAstra) -> None:
    root = fake.admin_token(ORG_ID)
    bodies: list[dict[str, object]] = [
        {}, {"roles": []}, {"roles": ["no-such-role"]}, {"roles": [RO_USER], "tokenExpiry": "soon"},
        {"roles": [RO_USER], "tokenExpiry": "2001-01-01T00:00:00Z"},
    ]
    for body in bodies:
        response = await http.post("/v2/clientIdSecrets", json=body, headers=bearer(root))
        assert response.status_code == 400, body
        only_error(response)
    garbage = await http.post("/v2/clientIdSecrets", content=b"{", headers=bearer(root))
    assert garbage.status_code == 400


async def test_creating_in_another_org_is_forbidden(http: httpx.AsyncClient, fake: FakeAstra) -> None:
    fake.add_org(OTHER_ORG_ID)
    response = await create(http, fake.admin_token(ORG_ID), orgId=OTHER_ORG_ID)
    assert response.status_code == 403


async def test_roles_use_the_documented_capitalised_keys(http: httpx.AsyncClient, fake: FakeAstra) -> None:
    response = await http.get("/v2/organizations/roles", headers=bearer(fake.admin_token(ORG_ID)))
    assert response.status_code == 200
    roles = response.json()
    assert isinstance(roles, list)
    for role in roles:
        assert set(role) == {"ID", "Name", "Policy", "Type"}
        assert role["Type"] == "default"
        assert set(role["Policy"]) == {"description", "resources", "actions", "effect"}
    by_name = {role["Name"]: role["ID"] for role in roles}
    assert {name: by_name[name] for name in DOCUMENTED_ROLE_IDS} == DOCUMENTED_ROLE_IDS
    one = await http.get(f"/v2/organizations/roles/{RO_USER}", headers=bearer(fake.admin_token(ORG_ID)))
    assert one.status_code == 200
    assert one.json()["Name"] == "RO User"
    missing = await http.get("/v2/organizations/roles/nope", headers=bearer(fake.admin_token(ORG_ID)))
    assert missing.status_code == 404


async def test_role_writes_follow_the_spec(http: httpx.AsyncClient, fake: FakeAstra) -> None:
    root = bearer(fake.admin_token(ORG_ID))
    role = {"name": "ci reader", "policy": {"actions": ["db-cql"], "resources": ["drn:astra:org:x"],
                                           "effect": "allow", "description": "ci"}}
    created = await http.post("/v2/organizations/roles", json=role, headers=root)
    assert created.status_code == 201
    role_id = created.json()["ID"]
    assert (await http.post("/v2/organizations/roles", json=role, headers=root)).status_code == 409
    renamed = await http.put(f"/v2/organizations/roles/{role_id}", json={**role, "name": "ci"}, headers=root)
    assert (renamed.status_code, renamed.json()["Name"]) == (200, "ci")
    builtin = await http.put(f"/v2/organizations/roles/{RO_USER}", json=role, headers=root)
    assert builtin.status_code == 403
    assert (await http.delete(f"/v2/organizations/roles/{role_id}", headers=root)).status_code == 204
    assert (await http.delete(f"/v2/organizations/roles/{role_id}", headers=root)).status_code == 404


async def test_current_org_has_id_and_name(http: httpx.AsyncClient, fake: FakeAstra) -> None:
    response = await http.get("/v2/currentOrg", headers=bearer(fake.admin_token(ORG_ID)))
    assert response.status_code == 200
    assert response.json() == {"id": ORG_ID, "name": f"fake-org-{ORG_ID[:8]}"}


async def test_expired_token_stops_authenticating_and_vanishes_from_lists(
    http: httpx.AsyncClient, fake: FakeAstra
) -> None:
    root = fake.admin_token(ORG_ID)
    expiry = (fake.now() + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    created = (await create(http, root, roles=[BUILTIN_ROLE_IDS["Organization Administrator"]],
                            tokenExpiry=expiry)).json()
    assert (await http.get("/v2/currentOrg", headers=bearer(created["token"]))).status_code == 200
    advanced = await http.post("/_fake/clock", json={"seconds": 180})
    assert advanced.status_code == 200
    refused = await http.get("/v2/currentOrg", headers=bearer(created["token"]))
    assert (refused.status_code, only_error(refused)["ID"]) == (401, 340018)
    listed = (await http.get("/v2/clientIdSecrets", headers=bearer(root))).json()["clients"]
    assert created["clientId"] not in {e["clientId"] for e in listed}
    tokens = (await http.get(f"/_fake/orgs/{ORG_ID}/tokens")).json()
    assert [t["state"] for t in tokens if t["client_id"] == created["clientId"]] == ["expired"]


async def test_the_hard_per_org_limit_answers_429_with_retry_after(
    http: httpx.AsyncClient, fake: FakeAstra
) -> None:
    fake.set_faults(rate_limit_per_second=1, rate_limit_burst=2)
    responses = [await http.get("/v2/currentOrg", headers=bearer(fake.admin_token(ORG_ID))) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 429, 429]
    assert int(responses[2].headers["Retry-After"]) >= 1
    assert fake.counters().rate_limited == {ORG_ID: 2}


@pytest.mark.parametrize(
    ("style", "content_type", "content"),
    [("text", "text/plain", b"injected fault"), ("json_string", "application/json", b'"injected fault"'),
     ("empty", None, b"")],
)
async def test_error_bodies_take_every_shape_astra_has_sent(
    http: httpx.AsyncClient, fake: FakeAstra, style: str, content_type: str | None, content: bytes
) -> None:
    fake.set_faults(rate_503=1.0, error_body=style)
    response = await http.get("/v2/currentOrg", headers=bearer(fake.admin_token(ORG_ID)))
    assert response.status_code == 503
    assert response.content == content
    if content_type:
        assert response.headers["Content-Type"].startswith(content_type)


async def test_random_429s_carry_retry_after(http: httpx.AsyncClient, fake: FakeAstra) -> None:
    fake.set_faults(rate_429=1.0, retry_after="2")
    response = await http.get("/v2/currentOrg", headers=bearer(fake.admin_token(ORG_ID)))
    assert (response.status_code, response.headers["Retry-After"]) == (429, "2")


async def test_added_latency_delays_answers(http: httpx.AsyncClient, fake: FakeAstra) -> None:
    fake.set_faults(latency_seconds=0.2)
    started = time.monotonic()
    await http.get("/v2/currentOrg", headers=bearer(fake.admin_token(ORG_ID)))
    assert time.monotonic() - started >= 0.2


async def test_consistency_lag_hides_new_tokens_and_keeps_revoked_ones_a_while(
    http: httpx.AsyncClient, fake: FakeAstra
) -> None:
    root = fake.admin_token(ORG_ID)
    fake.set_faults(consistency_lag_seconds=5)

    async def listed() -> set[str]:
        body = (await http.get("/v2/clientIdSecrets", headers=bearer(root))).json()
        return {e["clientId"] for e in body["clients"]}

    client_id = (await create(http, root)).json()["clientId"]
    assert client_id not in await listed()
    fake.advance_clock(6)
    assert client_id in await listed()
    await http.delete(f"/v2/clientIdSecrets/{client_id}", headers=bearer(root))
    assert client_id in await listed()
    fake.advance_clock(6)
    assert client_id not in await listed()


async def test_counters_count_per_org_endpoint_and_status(http: httpx.AsyncClient, fake: FakeAstra) -> None:
    root = fake.admin_token(ORG_ID)
    await http.get("/v2/currentOrg", headers=bearer(root))
    await http.get("/v2/currentOrg", headers=bearer(make_admin_token()))
    await http.delete("/v2/clientIdSecrets/NoSuchClient", headers=bearer(root))
    counters = (await http.get("/_fake/counters")).json()
    assert {(r["org"], r["endpoint"], r["status"], r["count"]) for r in counters["requests"]} == {
        (ORG_ID, "GET /v2/currentOrg", 200, 1),
        ("", "GET /v2/currentOrg", 401, 1),
        (ORG_ID, "DELETE /v2/clientIdSecrets/{clientId}", 404, 1),
    }


async def test_admin_api_sets_reads_and_resets_faults(http: httpx.AsyncClient, fake: FakeAstra) -> None:
    put = await http.put("/_fake/faults", json={"rate_500": 1.0, "script": [{"status": 503, "times": 2}]})
    assert put.status_code == 200
    patched = await http.patch("/_fake/faults", json={"latency_seconds": 0.0, "error_body": "text"})
    assert patched.json()["rate_500"] == 1.0
    assert (await http.get("/_fake/faults")).json()["script"][0]["times"] == 2
    assert (await http.put("/_fake/faults", json={"nonsense": 1})).status_code == 400
    assert (await http.post("/_fake/reset")).status_code == 204
    assert (await http.get("/_fake/faults")).json()["rate_500"] == 0.0


async def test_admin_api_adds_orgs_lists_tokens_and_verifies(
    http: httpx.AsyncClient, fake: FakeAstra
) -> None:
    added = await http.post("/_fake/orgs", json={"orgId": OTHER_ORG_ID, "name": "other"})
    assert added.status_code == 201
    other_root = added.json()["adminToken"]
    assert TOKEN_FORMAT.match(other_root)
    created = (await create(http, other_root, description="intent-x")).json()
    verdict = (await http.post("/_fake/verify", json={"token": created["token"]})).json()
    assert verdict == {
        "valid": True, "reason": "ok", "org_id": OTHER_ORG_ID, "client_id": created["clientId"],
    }
    await http.delete(f"/v2/clientIdSecrets/{created['clientId']}", headers=bearer(other_root))
    assert (await http.post("/_fake/verify", json={"token": created["token"]})).json()["reason"] == "revoked"
    assert (await http.post("/_fake/verify", json={"token": "nope"})).json()["reason"] == "malformed"
    assert (await http.post("/_fake/verify", json={})).status_code == 400
    tokens = (await http.get(f"/_fake/orgs/{OTHER_ORG_ID}/tokens")).text
    for shown in (created["clientId"], "intent-x", '"revoked"'):
        assert shown in tokens
    for hidden in (created["secret"], created["token"], other_root):
        assert hidden not in tokens
    assert (await http.get("/_fake/orgs/unknown/tokens")).status_code == 404
    assert (await http.post("/_fake/orgs", json={"orgId": OTHER_ORG_ID})).status_code == 400


async def test_reset_forgets_tokens_but_keeps_admin_tokens(http: httpx.AsyncClient, fake: FakeAstra) -> None:
    root = fake.admin_token(ORG_ID)
    token = (await create(http, root)).json()["token"]
    await http.post("/_fake/reset")
    assert not fake.verify(token).valid
    assert fake.verify(root).valid
    assert fake.counters().requests == ()


def test_the_fake_clock_starts_at_real_time(fake: FakeAstra) -> None:
    assert abs((fake.now() - datetime.now(UTC)).total_seconds()) < 60
