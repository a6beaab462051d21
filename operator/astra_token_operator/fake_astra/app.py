"""The fake's HTTP surface on aiohttp.web: the DevOps API routes under /v2
and the test-only admin routes under /_fake. Handlers only translate between
HTTP and FakeState."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from astra_token_operator.fake_astra.faults import ErrorBodyStyle, FaultConfig, error_payload
from astra_token_operator.fake_astra.state import BAD_REQUEST, DROPPED, Caller, FakeApiError, FakeState
from astra_token_operator.fake_astra.tokens import make_admin_token

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STATE: web.AppKey[FakeState] = web.AppKey("state", FakeState)
_CALLER: web.RequestKey[Caller] = web.RequestKey("fake_astra.caller", Caller)
_DROPPED: web.RequestKey[bool] = web.RequestKey("fake_astra.dropped", bool)
INJECTED_ERROR_BASE = 900000  # injected faults carry id 900000 + status


def _endpoint(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return f"{request.method} {resource.canonical if resource else request.path}"


def _json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(data).encode(), content_type="application/json")


def _error_response(
    state: FakeState, error: FakeApiError, style: ErrorBodyStyle | None = None
) -> web.Response:
    style = style or state.configured_faults.error_body
    body, content_type = error_payload(style, error.error_id, error.message)
    headers = {"Retry-After": error.retry_after} if error.retry_after is not None else None
    return web.Response(status=error.status, body=body, content_type=content_type, headers=headers)


async def _read_json(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise FakeApiError(400, BAD_REQUEST, "the request body is not valid JSON") from None


def _caller(request: web.Request) -> Caller:
    return request[_CALLER]


@web.middleware
async def devops_api(request: web.Request, handler: Handler) -> web.StreamResponse:
    """What every /v2 call goes through around its handler: latency,
    authentication, the per-org limit, injected faults, permissions, and
    the counters."""
    if not request.path.startswith("/v2/"):
        return await handler(request)
    state = request.app[STATE]
    endpoint = _endpoint(request)
    latency = state.configured_faults.latency_seconds
    try:
        caller = state.authenticate(request.headers.get("Authorization"))
    except FakeApiError as error:
        if latency:
            await asyncio.sleep(latency)
        state.record("", endpoint, error.status)
        return _error_response(state, error)
    org = caller.org_id
    state.enter(org)
    status = 500
    try:
        if latency:  # inside the in-flight window, so slow answers overlap as they would
            await asyncio.sleep(latency)
        response = await _serve(state, request, handler, caller, endpoint)
        status = response.status
        return response
    except web.HTTPException as http_error:
        status = http_error.status
        raise
    finally:
        state.leave(org)
        state.record(org, endpoint, DROPPED if request.get(_DROPPED) else status)


async def _serve(
    state: FakeState, request: web.Request, handler: Handler, caller: Caller, endpoint: str
) -> web.StreamResponse:
    try:
        state.check_rate_limit(caller.org_id)
        injected = state.next_injected_error(caller.org_id, endpoint)
        if injected is not None:
            error = FakeApiError(injected.status, INJECTED_ERROR_BASE + injected.status, injected.message,
                                 injected.retry_after)
            return _error_response(state, error, injected.body)
        state.authorize(caller, endpoint)
        request[_CALLER] = caller
        return await handler(request)
    except FakeApiError as error:
        return _error_response(state, error)


# -- /v2 -------------------------------------------------------------------------


async def create_token(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    created = _json_response(state.create_token(_caller(request), await _read_json(request)))
    if state.take_dropped_create():
        # The token exists; the caller must not learn it from this answer.
        request[_DROPPED] = True
        faults = state.configured_faults
        if faults.drop_mode == "hang":
            await asyncio.sleep(faults.hang_seconds)
        elif request.transport is not None:
            request.transport.close()
    return created


async def list_tokens(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    listed = _json_response(state.list_tokens(_caller(request)))
    if state.take_malformed_list():
        body = listed.body if isinstance(listed.body, bytes) else b"{}"
        return web.Response(status=200, body=body[: max(1, len(body) // 2)], content_type="application/json")
    return listed


async def revoke_token(request: web.Request) -> web.StreamResponse:
    request.app[STATE].revoke(_caller(request), request.match_info["clientId"])
    return web.Response(status=204)


async def list_roles(request: web.Request) -> web.StreamResponse:
    return _json_response(request.app[STATE].list_roles(_caller(request)))


async def get_role(request: web.Request) -> web.StreamResponse:
    return _json_response(request.app[STATE].get_role(_caller(request), request.match_info["roleId"]))


async def create_role(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    return _json_response(state.create_role(_caller(request), await _read_json(request)), status=201)


async def update_role(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    role_id = request.match_info["roleId"]
    return _json_response(state.update_role(_caller(request), role_id, await _read_json(request)))


async def delete_role(request: web.Request) -> web.StreamResponse:
    request.app[STATE].delete_role(_caller(request), request.match_info["roleId"])
    return web.Response(status=204)


async def current_org(request: web.Request) -> web.StreamResponse:
    return _json_response(request.app[STATE].current_org(_caller(request)))


# -- /_fake: the admin API for tests (no auth: the fake listens on loopback) ------


async def admin_get_faults(request: web.Request) -> web.StreamResponse:
    return _json_response(request.app[STATE].faults.model_dump(mode="json"))


async def admin_set_faults(request: web.Request) -> web.StreamResponse:
    """PUT replaces the faults; PATCH changes only the fields given."""
    state = request.app[STATE]
    try:
        changes = await request.json()
        base = state.faults.model_dump() if request.method == "PATCH" else {}
        faults = FaultConfig.model_validate({**base, **changes})
    except (ValueError, ValidationError) as exc:
        return _json_response({"error": str(exc)}, status=400)
    state.set_faults(faults)
    return _json_response(faults.model_dump(mode="json"))


async def admin_counters(request: web.Request) -> web.StreamResponse:
    return _json_response(request.app[STATE].counters().model_dump(mode="json"))


async def admin_tokens(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    org_id = request.match_info["orgId"]
    if org_id not in state.org_ids():
        return _json_response({"error": f"unknown org {org_id}"}, status=404)
    return _json_response([view.model_dump(mode="json") for view in state.tokens(org_id)])


async def admin_verify(request: web.Request) -> web.StreamResponse:
    try:
        body = await request.json()
    except ValueError:
        body = None
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str):
        return _json_response({"error": 'send {"token": "AstraCS:..."}'}, status=400)
    return _json_response(request.app[STATE].verify(token).model_dump(mode="json"))


async def admin_reset(request: web.Request) -> web.StreamResponse:
    request.app[STATE].reset()
    return web.Response(status=204)


async def admin_add_org(request: web.Request) -> web.StreamResponse:
    try:
        body = await request.json()
        org_id = str(body["orgId"])
        admin_token = str(body.get("adminToken") or make_admin_token())
        request.app[STATE].add_org(org_id, admin_token, body.get("name"))
    except (ValueError, KeyError, TypeError) as exc:
        return _json_response({"error": str(exc)}, status=400)
    return _json_response({"orgId": org_id, "adminToken": admin_token}, status=201)


async def admin_advance_clock(request: web.Request) -> web.StreamResponse:
    try:
        seconds = float((await request.json())["seconds"])
    except (ValueError, KeyError, TypeError):
        return _json_response({"error": 'send {"seconds": <number>}'}, status=400)
    state = request.app[STATE]
    state.advance_clock(seconds)
    return _json_response({"now": state.now().isoformat()})


def make_app(state: FakeState) -> web.Application:
    app = web.Application(middlewares=[devops_api])
    app[STATE] = state
    app.router.add_post("/v2/clientIdSecrets", create_token)
    app.router.add_post("/v2/tokens", create_token)
    app.router.add_get("/v2/clientIdSecrets", list_tokens, allow_head=False)
    app.router.add_delete("/v2/clientIdSecrets/{clientId}", revoke_token)
    app.router.add_get("/v2/organizations/roles", list_roles, allow_head=False)
    app.router.add_post("/v2/organizations/roles", create_role)
    app.router.add_get("/v2/organizations/roles/{roleId}", get_role, allow_head=False)
    app.router.add_put("/v2/organizations/roles/{roleId}", update_role)
    app.router.add_delete("/v2/organizations/roles/{roleId}", delete_role)
    app.router.add_get("/v2/currentOrg", current_org, allow_head=False)
    app.router.add_get("/_fake/faults", admin_get_faults, allow_head=False)
    app.router.add_put("/_fake/faults", admin_set_faults)
    app.router.add_patch("/_fake/faults", admin_set_faults)
    app.router.add_get("/_fake/counters", admin_counters, allow_head=False)
    app.router.add_get("/_fake/orgs/{orgId}/tokens", admin_tokens, allow_head=False)
    app.router.add_post("/_fake/orgs", admin_add_org)
    app.router.add_post("/_fake/verify", admin_verify)
    app.router.add_post("/_fake/reset", admin_reset)
    app.router.add_post("/_fake/clock", admin_advance_clock)
    return app
