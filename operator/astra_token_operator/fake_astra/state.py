"""The fake's orgs, tokens, roles, faults and counters: plain Python behind a
lock, no HTTP. The aiohttp layer (app.py) translates requests into calls here
and ``FakeApiError`` into error responses. The lock is a threading lock so
tests may read and change the state from another thread while the server's
loop serves requests; it is never held across an await."""

from __future__ import annotations

import random
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from astra_token_operator.fake_astra.faults import (
    FaultConfig,
    InjectedError,
    pick_random_error,
    script_matches,
)
from astra_token_operator.fake_astra.roles import (
    BUILTIN_ROLE_IDS,
    BUILTIN_ROLES,
    ENDPOINT_ACTIONS,
    ORG_ADMIN,
    Role,
    role_document,
)
from astra_token_operator.fake_astra.tokens import (
    epoch_nanos,
    format_instant,
    format_nanos,
    hash_secret,
    make_client_id,
    make_secret,
    parse_token,
    token_for,
)

# Error ids seen from the real API (astra-devops-api.md §2) ...
INVALID_TOKEN_FORMAT = 340012
TOKEN_MALFORMED = 340017
TOKEN_NOT_FOUND = 340018
# ... and the fake's own, for errors whose real id is unknown.
BAD_REQUEST = 900400
FORBIDDEN = 900403
NOT_FOUND = 900404
CONFLICT = 900409
RATE_LIMITED = 900429

TokenState = Literal["valid", "revoked", "expired"]
DROPPED = 0  # the status counted for a create whose answer was dropped


class FakeApiError(Exception):
    def __init__(self, status: int, error_id: int, message: str, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message
        self.retry_after = retry_after


@dataclass
class _Token:
    client_id: str
    org_id: str
    secret_hash: str
    roles: tuple[str, ...]
    generated_nanos: int
    created_at: datetime
    description: str = ""
    token_expiry: datetime | None = None
    revoked_at: datetime | None = None
    is_admin: bool = False

    def state(self, now: datetime) -> TokenState:
        if self.revoked_at is not None:
            return "revoked"
        if self.token_expiry is not None and self.token_expiry <= now:
            return "expired"
        return "valid"


@dataclass
class _Org:
    id: str
    name: str
    admin_client_id: str
    admin_secret_hash: str
    custom_roles: dict[str, Role] = field(default_factory=dict)

    def roles(self) -> list[Role]:
        return [*BUILTIN_ROLES, *self.custom_roles.values()]

    def role(self, role_id: str) -> Role | None:
        return next((r for r in self.roles() if r.id == role_id), None)


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True)
class Caller:
    """Who is calling: the org and the token's permitted actions."""

    org_id: str
    client_id: str
    actions: frozenset[str]


class TokenView(BaseModel):
    """One token as the admin API shows it (never its secret)."""

    model_config = ConfigDict(frozen=True)

    client_id: str
    org_id: str
    state: TokenState
    description: str
    token_expiry: datetime | None
    roles: tuple[str, ...]
    generated_on: str
    revoked_at: datetime | None
    is_admin: bool


class Verification(BaseModel):
    """Whether a token authenticates right now, and if not why."""

    model_config = ConfigDict(frozen=True)

    valid: bool
    reason: Literal["ok", "malformed", "unknown", "revoked", "expired"]
    org_id: str | None = None
    client_id: str | None = None


class RequestCount(BaseModel):
    model_config = ConfigDict(frozen=True)

    org: str  # "" when the caller could not be authenticated
    endpoint: str  # "POST /v2/clientIdSecrets", ...
    status: int  # 0: a create whose answer was dropped
    count: int


class CounterSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    requests: tuple[RequestCount, ...] = ()
    max_in_flight: dict[str, int] = {}
    rate_limited: dict[str, int] = {}  # 429s from the hard per-org limit
    dropped_creates: int = 0

    def count(self, *, org: str | None = None, endpoint: str | None = None, status: int | None = None) -> int:
        """Requests matching every filter given."""
        return sum(
            r.count for r in self.requests
            if (org is None or r.org == org)
            and (endpoint is None or r.endpoint == endpoint)
            and (status is None or r.status == status)
        )


def _parse_instant(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not a string")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("no time zone")
    return parsed.astimezone(UTC)


class FakeState:
    def __init__(
        self,
        *,
        faults: FaultConfig | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._monotonic = monotonic
        self._clock_offset = timedelta()
        self._orgs: dict[str, _Org] = {}
        self._tokens: dict[str, _Token] = {}
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self._in_flight: Counter[str] = Counter()
        self._max_in_flight: Counter[str] = Counter()
        self._rate_limited: Counter[str] = Counter()
        self._dropped = 0
        self._buckets: dict[str, _Bucket] = {}
        self._faults = FaultConfig()
        self._script_left: list[int] = []
        self._drops_left = 0
        self._malformed_left = 0
        self._rng = random.Random()  # noqa: S311 (fault draws, not secrets)
        self.set_faults(faults or FaultConfig())

    # -- time ---------------------------------------------------------------

    def now(self) -> datetime:
        with self._lock:
            return self._clock() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the fake's clock forward (token expiry, consistency lag)."""
        with self._lock:
            self._clock_offset += timedelta(seconds=seconds)

    def _new_nanos(self) -> int:
        return epoch_nanos(self.now(), secrets.randbelow(1000))

    # -- orgs ---------------------------------------------------------------

    def add_org(self, org_id: str, admin_token: str, name: str | None = None) -> None:
        parsed = parse_token(admin_token)
        if parsed is None:
            raise ValueError("an org's admin token must be a well-formed AstraCS token")
        with self._lock:
            if org_id in self._orgs:
                raise ValueError(f"org {org_id} already exists")
            org = _Org(org_id, name or f"fake-org-{org_id[:8]}", parsed.client_id, parsed.secret_hash)
            self._orgs[org_id] = org
            self._seed_admin_token(org)

    def _seed_admin_token(self, org: _Org) -> None:
        self._tokens[org.admin_client_id] = _Token(
            client_id=org.admin_client_id, org_id=org.id, secret_hash=org.admin_secret_hash,
            roles=(BUILTIN_ROLE_IDS[ORG_ADMIN],), generated_nanos=self._new_nanos(), created_at=self.now(),
            description="admin token of the fake", is_admin=True,
        )

    def org_ids(self) -> list[str]:
        with self._lock:
            return list(self._orgs)

    def reset(self) -> None:
        """Back to a fresh start: orgs and their admin tokens stay, everything
        else (tokens, custom roles, faults, counters, clock offset) goes."""
        with self._lock:
            self._tokens.clear()
            self._clock_offset = timedelta()
            for org in self._orgs.values():
                org.custom_roles.clear()
                self._seed_admin_token(org)
            self._counts.clear()
            self._in_flight.clear()
            self._max_in_flight.clear()
            self._rate_limited.clear()
            self._dropped = 0
            self._buckets.clear()
            self.set_faults(FaultConfig())

    # -- faults -------------------------------------------------------------

    @property
    def faults(self) -> FaultConfig:
        """The current faults, with scripted counts as they stand now."""
        with self._lock:
            script = [
                entry.model_copy(update={"times": left})
                for entry, left in zip(self._faults.script, self._script_left, strict=True)
                if left > 0
            ]
            left = {"script": script, "drop_create_responses": self._drops_left,
                    "malformed_lists": self._malformed_left}
            return self._faults.model_copy(update=left)

    @property
    def configured_faults(self) -> FaultConfig:
        """The faults as set (scripted counts not updated): cheap, for the request path."""
        return self._faults

    def set_faults(self, faults: FaultConfig) -> None:
        with self._lock:
            self._faults = faults
            self._script_left = [entry.times for entry in faults.script]
            self._drops_left = faults.drop_create_responses
            self._malformed_left = faults.malformed_lists
            self._rng = random.Random(faults.seed)  # noqa: S311
            self._buckets.clear()

    def next_injected_error(self, org: str, endpoint: str) -> InjectedError | None:
        """A scripted failure first (consumed), else a random one."""
        with self._lock:
            for index, entry in enumerate(self._faults.script):
                if self._script_left[index] > 0 and script_matches(entry, org, endpoint):
                    self._script_left[index] -= 1
                    return InjectedError(entry.status, entry.message, entry.retry_after, entry.body)
            return pick_random_error(self._faults, self._rng)

    def take_malformed_list(self) -> bool:
        with self._lock:
            if self._malformed_left <= 0:
                return False
            self._malformed_left -= 1
            return True

    def take_dropped_create(self) -> bool:
        with self._lock:
            if self._drops_left <= 0:
                return False
            self._drops_left -= 1
            self._dropped += 1
            return True

    def check_rate_limit(self, org: str) -> None:
        """The hard per-org limit: a token bucket; beyond it, 429."""
        with self._lock:
            rate = self._faults.rate_limit_per_second
            if rate is None:
                return
            burst = float(self._faults.rate_limit_burst)
            now = self._monotonic()
            bucket = self._buckets.setdefault(org, _Bucket(burst, now))
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return
            self._rate_limited[org] += 1
            wait = max(1, int((1.0 - bucket.tokens) / rate + 0.999))
        raise FakeApiError(429, RATE_LIMITED, "rate limit exceeded for this organization", str(wait))

    # -- counters -----------------------------------------------------------

    def record(self, org: str, endpoint: str, status: int) -> None:
        with self._lock:
            self._counts[(org, endpoint, status)] += 1

    def enter(self, org: str) -> None:
        with self._lock:
            self._in_flight[org] += 1
            self._max_in_flight[org] = max(self._max_in_flight[org], self._in_flight[org])

    def leave(self, org: str) -> None:
        with self._lock:
            self._in_flight[org] -= 1

    def counters(self) -> CounterSnapshot:
        with self._lock:
            return CounterSnapshot(
                requests=tuple(
                    RequestCount(org=org, endpoint=endpoint, status=status, count=count)
                    for (org, endpoint, status), count in sorted(self._counts.items())
                ),
                max_in_flight=dict(self._max_in_flight),
                rate_limited=dict(self._rate_limited),
                dropped_creates=self._dropped,
            )

    # -- authentication ---------------------------------------------------------

    def _check_token(self, token: str) -> tuple[Verification, _Token | None]:
        parsed = parse_token(token)
        if parsed is None:
            return Verification(valid=False, reason="malformed"), None
        stored = self._tokens.get(parsed.client_id)
        if stored is None or not secrets.compare_digest(stored.secret_hash, parsed.secret_hash):
            return Verification(valid=False, reason="unknown", client_id=parsed.client_id), None
        state = stored.state(self.now())
        found = {"org_id": stored.org_id, "client_id": stored.client_id}
        if state != "valid":
            return Verification(valid=False, reason=state, **found), None
        return Verification(valid=True, reason="ok", **found), stored

    def verify(self, token: str) -> Verification:
        with self._lock:
            return self._check_token(token)[0]

    def authenticate(self, authorization: str | None) -> Caller:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise FakeApiError(
                401, INVALID_TOKEN_FORMAT, "invalid token format: expected 'Bearer AstraCS:...'"
            )
        with self._lock:
            verdict, stored = self._check_token(token.strip())
            if verdict.reason == "malformed":
                raise FakeApiError(403, TOKEN_MALFORMED, "Resource, token, was malformed: bad token format")
            if stored is None:
                raise FakeApiError(
                    401, TOKEN_NOT_FOUND,
                    f"Resource not found: token with identifier {verdict.client_id} not found",
                )
            org = self._orgs[stored.org_id]
            actions = frozenset(a for rid in stored.roles if (r := org.role(rid)) for a in r.actions)
            return Caller(stored.org_id, stored.client_id, actions)

    @staticmethod
    def authorize(caller: Caller, endpoint: str) -> None:
        needed = ENDPOINT_ACTIONS.get(endpoint)
        if needed is not None and needed not in caller.actions:
            raise FakeApiError(403, FORBIDDEN, f"the token's role does not grant {needed}")

    # -- tokens -----------------------------------------------------------------

    def create_token(self, caller: Caller, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise FakeApiError(400, BAD_REQUEST, "the request body must be a JSON object")
        roles = body.get("roles")
        if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
            raise FakeApiError(400, BAD_REQUEST, "roles is required: a non-empty list of role ids")
        org_id = body.get("orgId")
        if org_id not in (None, caller.org_id):
            raise FakeApiError(403, FORBIDDEN, f"the token cannot create tokens in organization {org_id}")
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            raise FakeApiError(400, BAD_REQUEST, "description must be a string")
        with self._lock:
            expiry = self._read_expiry(body.get("tokenExpiry"))
            org = self._orgs[caller.org_id]
            unknown = [r for r in roles if org.role(r) is None]
            if unknown:
                raise FakeApiError(400, BAD_REQUEST, f"unknown role id(s): {', '.join(unknown)}")
            client_id = make_client_id()
            secret = make_secret()
            token = _Token(
                client_id=client_id, org_id=org.id, secret_hash=hash_secret(secret), roles=tuple(roles),
                generated_nanos=self._new_nanos(), created_at=self.now(), description=description or "",
                token_expiry=expiry,
            )
            self._tokens[client_id] = token
        return {
            "clientId": client_id,
            "secret": secret,
            "orgId": org.id,
            "roles": list(token.roles),
            "token": token_for(client_id, secret),
            "generatedOn": format_nanos(token.generated_nanos, 9),
        }

    def _read_expiry(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if self._faults.reject_token_expiry:
            raise FakeApiError(400, BAD_REQUEST, "tokenExpiry is not supported for this organization")
        try:
            expiry = _parse_instant(value)
        except ValueError:
            raise FakeApiError(400, BAD_REQUEST, "tokenExpiry must be an ISO-8601 instant") from None
        if expiry <= self.now():
            raise FakeApiError(400, BAD_REQUEST, "tokenExpiry must be in the future")
        return expiry

    def _listed(self, token: _Token, now: datetime, lag: timedelta) -> bool:
        """Lists show valid tokens; with a lag, new ones appear late and
        revoked ones linger (expiry is immediate: Astra drops them)."""
        if now < token.created_at + lag:
            return False
        state = token.state(now)
        if state == "revoked":
            return token.revoked_at is not None and now < token.revoked_at + lag
        return state == "valid"

    def list_tokens(self, caller: Caller) -> dict[str, Any]:
        with self._lock:
            now = self.now()
            lag = timedelta(seconds=self._faults.consistency_lag_seconds)
            clients = [
                {
                    "clientId": t.client_id,
                    "roles": list(t.roles),
                    "generatedOn": format_nanos(t.generated_nanos, 3),
                    "description": t.description,
                    "tokenExpiry": format_instant(t.token_expiry) if t.token_expiry else None,
                }
                for t in self._tokens.values()
                if t.org_id == caller.org_id and self._listed(t, now, lag)
            ]
        return {"clients": clients}

    def revoke(self, caller: Caller, client_id: str) -> None:
        with self._lock:
            token = self._tokens.get(client_id)
            if token is None or token.org_id != caller.org_id or token.state(self.now()) != "valid":
                raise FakeApiError(
                    404, TOKEN_NOT_FOUND, f"Resource not found: token with identifier {client_id} not found"
                )
            token.revoked_at = self.now()

    def tokens(self, org_id: str) -> list[TokenView]:
        """Every token the org ever had, in any state (never secrets)."""
        with self._lock:
            now = self.now()
            return [
                TokenView(
                    client_id=t.client_id, org_id=t.org_id, state=t.state(now), description=t.description,
                    token_expiry=t.token_expiry, roles=t.roles,
                    generated_on=format_nanos(t.generated_nanos, 9), revoked_at=t.revoked_at,
                    is_admin=t.is_admin,
                )
                for t in self._tokens.values()
                if t.org_id == org_id
            ]

    def issue_token(self, org_id: str, role_names: list[str], description: str = "") -> str:
        """A token made directly (not through the API), for tests that need a
        caller with a given role, e.g. a read-only one."""
        with self._lock:
            org = self._orgs[org_id]
            by_name = {r.name.lower(): r.id for r in org.roles()}
            caller = Caller(org_id, org.admin_client_id, frozenset())
            created = self.create_token(
                caller, {"roles": [by_name[n.lower()] for n in role_names], "description": description}
            )
            return str(created["token"])

    # -- roles and org ------------------------------------------------------------

    def list_roles(self, caller: Caller) -> list[dict[str, object]]:
        with self._lock:
            return [role_document(r, caller.org_id) for r in self._orgs[caller.org_id].roles()]

    def get_role(self, caller: Caller, role_id: str) -> dict[str, object]:
        with self._lock:
            role = self._orgs[caller.org_id].role(role_id)
            if role is None:
                raise FakeApiError(404, NOT_FOUND, f"role {role_id} not found")
            return role_document(role, caller.org_id)

    def create_role(self, caller: Caller, body: Any) -> dict[str, object]:
        name, policy = self._read_role_body(body)
        with self._lock:
            org = self._orgs[caller.org_id]
            if any(r.name.lower() == name.lower() for r in org.roles()):
                raise FakeApiError(409, CONFLICT, f"a role named {name!r} already exists")
            role = self._custom_role(str(uuid.uuid4()), name, policy, caller)
            org.custom_roles[role.id] = role
            return role_document(role, org.id)

    def update_role(self, caller: Caller, role_id: str, body: Any) -> dict[str, object]:
        name, policy = self._read_role_body(body)
        with self._lock:
            org = self._orgs[caller.org_id]
            role = org.role(role_id)
            if role is None:
                raise FakeApiError(404, NOT_FOUND, f"role {role_id} not found")
            if role.builtin:
                raise FakeApiError(403, FORBIDDEN, "built-in roles cannot be changed")
            updated = self._custom_role(role_id, name, policy, caller)
            org.custom_roles[role_id] = updated
            return role_document(updated, org.id)

    def delete_role(self, caller: Caller, role_id: str) -> None:
        with self._lock:
            org = self._orgs[caller.org_id]
            role = org.role(role_id)
            if role is None:
                raise FakeApiError(404, NOT_FOUND, f"role {role_id} not found")
            if role.builtin:
                raise FakeApiError(403, FORBIDDEN, "built-in roles cannot be deleted")
            del org.custom_roles[role_id]

    def _custom_role(self, role_id: str, name: str, policy: dict[str, Any], caller: Caller) -> Role:
        resources = policy.get("resources")
        return Role(
            id=role_id, name=name, actions=tuple(str(a) for a in policy.get("actions") or ()), builtin=False,
            description=str(policy.get("description") or ""),
            resources=tuple(str(r) for r in resources) if isinstance(resources, list) else None,
            last_update=format_instant(self.now()), last_update_user=caller.client_id,
        )

    @staticmethod
    def _read_role_body(body: Any) -> tuple[str, dict[str, Any]]:
        if not isinstance(body, dict):
            raise FakeApiError(400, BAD_REQUEST, "the request body must be a JSON object")
        name, policy = body.get("name"), body.get("policy")
        if not isinstance(name, str) or not name.strip() or not isinstance(policy, dict):
            raise FakeApiError(400, BAD_REQUEST, "a role needs a name and a policy")
        return name.strip(), policy

    def current_org(self, caller: Caller) -> dict[str, str]:
        with self._lock:
            org = self._orgs[caller.org_id]
            return {"id": org.id, "name": org.name}
