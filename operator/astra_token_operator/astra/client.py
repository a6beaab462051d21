"""The DevOps API client of one org: the only code that speaks HTTP to Astra.

Every call goes through one path (``_call``): wait for a concurrency slot,
then for the org's rate limit, send with timeouts clamped to the call's
deadline, and turn the outcome into a typed result or error. GET and DELETE
are retried on network errors, 429 and 500/502/503/504; a create never is."""

from __future__ import annotations

import asyncio
import logging
import random as _random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import SecretStr, ValidationError

from astra_token_operator.astra.error_bodies import parse_error_body
from astra_token_operator.astra.errors import (
    AstraAmbiguousCreate,
    AstraClientClosed,
    AstraError,
    AstraNotFound,
    AstraRetryableError,
    AstraTokenExpiryRejected,
    AstraUnexpectedResponse,
    error_class_for_status,
    summary_for_status,
)
from astra_token_operator.astra.models import (
    AstraOrgInfo,
    AstraRole,
    CreatedToken,
    RevokeOutcome,
    TokenInfo,
)
from astra_token_operator.astra.ratelimit import TokenBucket
from astra_token_operator.astra.redaction import scrub
from astra_token_operator.astra.retry import (
    IDEMPOTENT_METHODS,
    RETRYABLE_STATUSES,
    next_delay,
    parse_retry_after,
)
from astra_token_operator.astra.settings import AstraClientSettings
from astra_token_operator.astra.waiting_line import CallPriority, WaitingLine
from astra_token_operator.calls import CallListener, CallRecord, ignore_calls
from astra_token_operator.times import to_rfc3339

logger = logging.getLogger(__name__)

_Result = TypeVar("_Result")

# Failures that happen before any byte of the request leaves: safe to say
# "nothing was created" even for a POST.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


@dataclass(frozen=True)
class _Call:
    action: str  # the log vocabulary's ``action``: create_token, list_tokens, ...
    method: str
    path: str
    endpoint: str  # the path template, for messages: "DELETE /v2/clientIdSecrets/{clientId}"
    body: dict[str, Any] | None = None
    client_id: str | None = None
    priority: CallPriority = CallPriority.ROUTINE

    @property
    def idempotent(self) -> bool:
        return self.method in IDEMPOTENT_METHODS


class _Deadline:
    """A call's overall deadline, set when its first request is sent."""

    def __init__(self) -> None:
        self.at: float | None = None

    def start(self, at: float) -> None:
        if self.at is None:
            self.at = at

    def remaining(self, now: float) -> float:
        return float("inf") if self.at is None else self.at - now


@dataclass
class _Tally:
    """What one call cost besides its answer: requests sent, time queued for the rate limit."""

    attempts: int = 0
    rate_limited: float = 0.0


class _NotSent(Exception):
    """The deadline ran out while waiting for a slot or the rate limit."""


class AstraClient:
    """Calls the DevOps API with one org's root token. Create one per org
    (``AstraClients`` pools them) and close it with ``aclose``."""

    def __init__(
        self,
        org_id: str,
        root_token: SecretStr,
        settings: AstraClientSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        random: Callable[[], float] = _random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        listener: CallListener = ignore_calls,
    ) -> None:
        self.org_id = org_id
        self._listener = listener
        self.settings = settings or AstraClientSettings()
        self._root_token = root_token
        self._random = random
        self._sleep = sleep
        self._clock = clock
        self._now = now
        s = self.settings
        self._slots = asyncio.Semaphore(s.concurrency)
        self._line = WaitingLine()
        self._bucket = TokenBucket(s.requests_per_second, s.burst, clock=clock, sleep=sleep)
        self._http = httpx.AsyncClient(
            base_url=s.base_url,
            headers={
                "Authorization": f"Bearer {root_token.get_secret_value()}",
                "Accept": "application/json",
                "User-Agent": s.user_agent,
            },
            timeout=httpx.Timeout(
                connect=s.connect_timeout_seconds,
                read=s.read_timeout_seconds,
                write=s.read_timeout_seconds,
                pool=s.read_timeout_seconds,
            ),
            limits=httpx.Limits(max_connections=s.concurrency, max_keepalive_connections=s.concurrency),
            transport=transport,
            follow_redirects=False,
        )
        self._closed = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def __repr__(self) -> str:
        return f"AstraClient(org_id={self.org_id!r}, base_url={self.settings.base_url!r})"

    @property
    def closed(self) -> bool:
        return self._closed

    # -- operations -----------------------------------------------------------

    async def create_token(
        self,
        *,
        role_ids: Sequence[str],
        description: str,
        token_expiry: datetime | None = None,
        org_id: str | None = None,
        first: bool = False,
    ) -> CreatedToken:
        """POST /v2/clientIdSecrets. Never retried. ``description`` is the
        caller's marker: when the outcome is unknown the error carries it so
        the caller can find the token in ``list_tokens``. A ``first`` token
        (nobody has one yet) goes to the rate limit ahead of routine calls."""
        if not role_ids:
            raise ValueError("a token needs at least one role id")
        body: dict[str, Any] = {"roles": list(role_ids), "description": description}
        if token_expiry is not None:
            body["tokenExpiry"] = to_rfc3339(token_expiry)
        if org_id is not None:
            body["orgId"] = org_id
        call = _Call("create_token", "POST", "/v2/clientIdSecrets", "POST /v2/clientIdSecrets", body,
                     priority=CallPriority.FIRST_MINT if first else CallPriority.ROUTINE)
        try:
            response = await self._call(call)
        except AstraError as error:
            if token_expiry is not None and _is_about_expiry(error):
                raise AstraTokenExpiryRejected(
                    "Astra refused the token expiry; create again without it",
                    org_id=error.org_id, endpoint=error.endpoint, status=error.status,
                    error_id=error.error_id, astra_message=error.astra_message,
                ) from None
            raise
        try:
            created = CreatedToken.model_validate(
                {**_json_object(response), "description": description, "tokenExpiry": token_expiry}
            )
        except (ValueError, ValidationError):
            raise self._ambiguous(call, description, "the answer to the create could not be read",
                                  response.status_code) from None
        self._log(logging.INFO, "astra token created", call, response.status_code, created.client_id)
        return created

    async def list_tokens(self) -> list[TokenInfo]:
        """GET /v2/clientIdSecrets: every token of the org (no secrets)."""
        call = _Call("list_tokens", "GET", "/v2/clientIdSecrets", "GET /v2/clientIdSecrets")
        response = await self._call(call)
        return self._read(call, response, _read_token_list)

    async def revoke_token(self, client_id: str) -> RevokeOutcome:
        """DELETE /v2/clientIdSecrets/{clientId}. A 404 (unknown, or revoked by
        an earlier attempt whose answer was lost) is ALREADY_GONE."""
        if not client_id:
            raise ValueError("client_id is empty")
        call = _Call(
            "revoke_token", "DELETE", f"/v2/clientIdSecrets/{quote(client_id, safe='')}",
            "DELETE /v2/clientIdSecrets/{clientId}", client_id=client_id,
        )
        try:
            response = await self._call(call)
        except AstraNotFound:
            self._log(logging.INFO, "astra token already gone", call, 404, client_id)
            return RevokeOutcome.ALREADY_GONE
        self._log(logging.INFO, "astra token revoked", call, response.status_code, client_id)
        return RevokeOutcome.REVOKED

    async def list_roles(self) -> list[AstraRole]:
        """GET /v2/organizations/roles."""
        call = _Call("list_roles", "GET", "/v2/organizations/roles", "GET /v2/organizations/roles")
        response = await self._call(call)
        return self._read(call, response, _read_role_list)

    async def get_role(self, role_id: str) -> AstraRole:
        """GET /v2/organizations/roles/{roleID}; AstraNotFound when unknown.
        It needs more permission than listing: prefer ``list_roles`` to resolve names."""
        if not role_id:
            raise ValueError("role_id is empty")
        call = _Call(
            "get_role", "GET", f"/v2/organizations/roles/{quote(role_id, safe='')}",
            "GET /v2/organizations/roles/{roleID}",
        )
        response = await self._call(call)
        return self._read(call, response, AstraRole.model_validate)

    async def current_org(self) -> AstraOrgInfo:
        """GET /v2/currentOrg: the org the root token belongs to."""
        call = _Call("current_org", "GET", "/v2/currentOrg", "GET /v2/currentOrg")
        response = await self._call(call)
        return self._read(call, response, AstraOrgInfo.model_validate)

    async def aclose(self) -> None:
        """Refuse new calls, let calls in flight finish (up to one deadline),
        then close the connections. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=self.settings.deadline_seconds)
        except TimeoutError:
            logger.warning("astra client closing with calls in flight org=%s", self.org_id,
                           extra={"org": self.org_id, "action": "close"})
        await self._http.aclose()

    # -- the one request path ---------------------------------------------------

    async def _call(self, call: _Call) -> httpx.Response:
        """A 2xx response, or a typed error after the retry policy gave up."""
        if self._closed:
            raise AstraClientClosed("the client was closed; get a fresh one", org_id=self.org_id,
                                    endpoint=call.endpoint)
        self._in_flight += 1
        self._idle.clear()
        started = self._clock()
        tally = _Tally()
        try:
            response = await self._call_with_retries(call, tally)
        except AstraError as exc:
            unavailable = isinstance(exc, AstraRetryableError | AstraAmbiguousCreate)
            self._listener(CallRecord("astra", call.endpoint, "unavailable" if unavailable else "refused",
                                      self._clock() - started, org=self.org_id, status=exc.status,
                                      attempts=tally.attempts, rate_limited_seconds=tally.rate_limited))
            raise
        else:
            self._listener(CallRecord("astra", call.endpoint, "ok", self._clock() - started, org=self.org_id,
                                      status=response.status_code, attempts=tally.attempts,
                                      rate_limited_seconds=tally.rate_limited))
            return response
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _call_with_retries(self, call: _Call, tally: _Tally) -> httpx.Response:
        s = self.settings
        # The deadline starts when the first request leaves the rate limiter: waiting in the org's
        # queue behind a thousand other calls (a bulk delete) is not this call being slow.
        deadline = _Deadline()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._attempt(call, deadline, tally)
            except _NotSent:
                raise AstraRetryableError(
                    "the call's deadline passed while waiting for the org's rate limit or a free slot",
                    org_id=self.org_id, endpoint=call.endpoint, attempts=attempt,
                ) from None
            except httpx.TransportError as exc:
                failure = self._network_error(call, exc, attempt)
                retry_after = None
            else:
                if response.is_success:
                    return response
                failure = self._status_error(call, response, attempt)
                if response.status_code not in RETRYABLE_STATUSES:
                    raise failure
                retry_after = getattr(failure, "retry_after", None)
            if not call.idempotent:
                raise failure
            delay = next_delay(
                attempt=attempt, max_attempts=s.max_attempts, retry_after=retry_after,
                remaining=deadline.remaining(self._clock()), initial=s.backoff_initial_seconds,
                maximum=s.backoff_max_seconds, random=self._random,
            )
            if delay is None:
                raise failure
            logger.warning(
                "astra call will be retried org=%s action=%s status=%s attempt=%d delay=%.3fs",
                self.org_id, call.action, failure.status, attempt, delay,
                extra={"org": self.org_id, "action": call.action, "client_id": call.client_id,
                       "status": failure.status},
            )
            await self._sleep(delay)

    async def _attempt(self, call: _Call, deadline: _Deadline, tally: _Tally) -> httpx.Response:
        """One request: its turn in the org's waiting line (first mints first),
        a concurrency slot, then the rate limit (in that order, so requests
        leave at the bucket's pace), then the send. Before the first send the
        wait is unbounded (every call ahead ends within its own timeouts); a
        retry waits only as long as the deadline allows."""
        remaining = deadline.remaining(self._clock())
        if remaining <= 0:
            raise _NotSent
        try:
            async with asyncio.timeout(None if deadline.at is None else remaining), self._line.turn(call.priority):
                await self._slots.acquire()
                waiting = self._clock()
                try:
                    paced = await self._bucket.acquire(max_wait=deadline.remaining(self._clock()))
                except BaseException:
                    self._slots.release()
                    raise
        except TimeoutError:
            raise _NotSent from None
        try:
            if not paced:
                raise _NotSent
            tally.rate_limited += self._clock() - waiting
            tally.attempts += 1
            deadline.start(self._clock() + self.settings.deadline_seconds)
            remaining = max(0.001, deadline.remaining(self._clock()))
            s = self.settings
            timeout = httpx.Timeout(
                connect=min(s.connect_timeout_seconds, remaining),
                read=min(s.read_timeout_seconds, remaining),
                write=min(s.read_timeout_seconds, remaining),
                pool=min(s.read_timeout_seconds, remaining),
            )
            started = self._clock()
            try:
                response = await self._http.request(call.method, call.path, json=call.body, timeout=timeout)
            except httpx.TransportError as exc:
                self._log(logging.DEBUG, "astra request failed", call, None, call.client_id,
                          error=type(exc).__name__, elapsed=self._clock() - started)
                raise
            self._log(logging.DEBUG, "astra request done", call, response.status_code, call.client_id,
                      elapsed=self._clock() - started)
            return response
        finally:
            self._slots.release()

    # -- turning outcomes into errors -------------------------------------------

    def _status_error(self, call: _Call, response: httpx.Response, attempts: int) -> AstraError:
        status = response.status_code
        body = parse_error_body(response.content, self._secrets())
        if call.method == "POST" and status >= 500:
            return self._ambiguous(call, _marker(call), "Astra answered with a server error",
                                   status, body.error_id, body.message)
        error_class = error_class_for_status(status)
        context: dict[str, Any] = {
            "org_id": self.org_id, "endpoint": call.endpoint, "status": status,
            "error_id": body.error_id, "astra_message": body.message, "attempts": attempts,
        }
        if issubclass(error_class, AstraRetryableError):
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._now())
            return error_class(summary_for_status(status), retry_after=retry_after, **context)
        return error_class(summary_for_status(status), **context)

    def _network_error(self, call: _Call, exc: httpx.TransportError, attempts: int) -> AstraError:
        detail = scrub(f"{type(exc).__name__}: {exc}", self._secrets())
        if call.method == "POST" and not isinstance(exc, _NOT_SENT):
            return self._ambiguous(call, _marker(call), f"no answer after sending ({detail})", None)
        return AstraRetryableError(f"network error ({detail})", org_id=self.org_id,
                                   endpoint=call.endpoint, attempts=attempts)

    def _ambiguous(
        self, call: _Call, marker: str, why: str, status: int | None,
        error_id: int | None = None, astra_message: str | None = None,
    ) -> AstraAmbiguousCreate:
        logger.warning(
            "astra create outcome unknown org=%s action=%s status=%s marker=%s",
            self.org_id, call.action, status, marker,
            extra={"org": self.org_id, "action": call.action, "status": status},
        )
        return AstraAmbiguousCreate(
            f"{why}; the token may exist: list tokens and look for description {marker!r}",
            marker=marker, org_id=self.org_id, endpoint=call.endpoint, status=status,
            error_id=error_id, astra_message=astra_message,
        )

    def _read(self, call: _Call, response: httpx.Response, parse: Callable[[Any], _Result]) -> _Result:
        try:
            return parse(response.json())
        except (ValueError, ValidationError) as exc:
            raise AstraUnexpectedResponse(
                f"Astra's answer could not be read ({type(exc).__name__})",
                org_id=self.org_id, endpoint=call.endpoint, status=response.status_code,
            ) from None

    def _secrets(self) -> tuple[str, ...]:
        return (self._root_token.get_secret_value(),)

    def _log(
        self, level: int, message: str, call: _Call, status: int | None, client_id: str | None,
        *, error: str | None = None, elapsed: float | None = None,
    ) -> None:
        if not logger.isEnabledFor(level):
            return
        text = f"{message} org=%s action=%s status=%s client_id=%s"
        args: list[object] = [self.org_id, call.action, status, client_id]
        if error is not None:
            text += " error=%s"
            args.append(error)
        if elapsed is not None:
            text += " elapsed_ms=%.1f"
            args.append(elapsed * 1000)
        extra = {"org": self.org_id, "action": call.action, "client_id": client_id, "status": status}
        logger.log(level, text, *args, extra=extra)


def _marker(call: _Call) -> str:
    return str((call.body or {}).get("description", ""))


def _is_about_expiry(error: AstraError) -> bool:
    return error.status == 400 and "expiry" in (error.astra_message or "").lower()


def _json_object(response: httpx.Response) -> dict[str, Any]:
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _items(data: Any, key: str) -> list[Any]:
    """A list either bare or wrapped in an object under ``key`` (any case)."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for name, value in data.items():
            if name.lower() == key and isinstance(value, list):
                return value
            if name.lower() == key and value is None:
                return []
    raise ValueError(f"expected a list or an object with {key!r}")


def _read_token_list(data: Any) -> list[TokenInfo]:
    return [TokenInfo.model_validate(item) for item in _items(data, "clients")]


def _read_role_list(data: Any) -> list[AstraRole]:
    return [AstraRole.model_validate(item) for item in _items(data, "roles")]
