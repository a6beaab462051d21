"""The Astra DevOps API client: the only code that speaks HTTP to Astra.

Typed results, typed errors, retries for idempotent calls, a per-org rate
limit and concurrency cap, and no secret in any log, message or repr.
See docs/astra-client.md."""

from astra_token_operator.astra.client import AstraClient
from astra_token_operator.astra.errors import (
    AstraAmbiguousCreate,
    AstraBadRequest,
    AstraClientClosed,
    AstraConflict,
    AstraError,
    AstraForbidden,
    AstraNotFound,
    AstraRetryableError,
    AstraTokenExpiryRejected,
    AstraUnauthorized,
    AstraUnexpectedResponse,
)
from astra_token_operator.astra.models import (
    AstraOrgInfo,
    AstraRole,
    CreatedToken,
    RevokeOutcome,
    RolePolicy,
    TokenInfo,
    parse_timestamp,
)
from astra_token_operator.astra.pool import AstraClients
from astra_token_operator.astra.redaction import redact_token
from astra_token_operator.astra.settings import PRODUCTION_URL, AstraClientSettings

__all__ = [
    "PRODUCTION_URL",
    "AstraAmbiguousCreate",
    "AstraBadRequest",
    "AstraClient",
    "AstraClientClosed",
    "AstraClientSettings",
    "AstraClients",
    "AstraConflict",
    "AstraError",
    "AstraForbidden",
    "AstraNotFound",
    "AstraOrgInfo",
    "AstraRetryableError",
    "AstraRole",
    "AstraTokenExpiryRejected",
    "AstraUnauthorized",
    "AstraUnexpectedResponse",
    "CreatedToken",
    "RevokeOutcome",
    "RolePolicy",
    "TokenInfo",
    "parse_timestamp",
    "redact_token",
]
