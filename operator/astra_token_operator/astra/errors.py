"""Typed errors of the DevOps API client.

Each message names the org, the endpoint, the HTTP status and Astra's error
id/message. None carries a token: Astra's text is scrubbed before it is kept
(see redaction.py), and the client never puts request headers or bodies in a
message.

Hierarchy::

    AstraError
    ├── AstraBadRequest (400)
    │   └── AstraTokenExpiryRejected  (400 about tokenExpiry: create again without it)
    ├── AstraUnauthorized (401)
    ├── AstraForbidden (403)
    ├── AstraNotFound (404)
    ├── AstraConflict (409)
    ├── AstraRetryableError (429, 5xx, network, deadline): safe to try again later
    │   └── AstraClientClosed
    ├── AstraAmbiguousCreate: a create may or may not have happened; never retry blindly
    └── AstraUnexpectedResponse: a success whose body the client cannot read
"""

from __future__ import annotations


class AstraError(Exception):
    """A DevOps API call failed. Attributes are safe to log."""

    def __init__(
        self,
        summary: str,
        *,
        org_id: str,
        endpoint: str,
        status: int | None = None,
        error_id: int | None = None,
        astra_message: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.summary = summary
        self.org_id = org_id
        self.endpoint = endpoint
        self.status = status
        self.error_id = error_id
        self.astra_message = astra_message
        self.attempts = attempts
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"Astra {self.endpoint} for org {self.org_id}: {self.summary}"
        if self.status is not None:
            text += f" (HTTP {self.status})"
        if self.error_id is not None or self.astra_message:
            label = f"Astra error {self.error_id}" if self.error_id is not None else "Astra said"
            text += f"; {label}: {self.astra_message or '(no message)'}"
        if self.attempts > 1:
            text += f"; after {self.attempts} attempts"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class AstraBadRequest(AstraError):
    """400: Astra refused the request as malformed (e.g. an unknown role id)."""


class AstraTokenExpiryRejected(AstraBadRequest):
    """400 on a create that sent tokenExpiry, about the expiry: the org does not
    accept it (or not that value). The caller may create again without it."""


class AstraUnauthorized(AstraError):
    """401: the root token is malformed, unknown, revoked or expired."""


class AstraForbidden(AstraError):
    """403: the root token's role lacks the permission (or the token is malformed)."""


class AstraNotFound(AstraError):
    """404: the role or token does not exist."""


class AstraConflict(AstraError):
    """409: a duplicate (Astra documents it for role names only)."""


class AstraRetryableError(AstraError):
    """429, 5xx, a network failure or the call's deadline: trying again later may
    succeed. ``retry_after`` is Astra's hint in seconds, when it gave one."""

    def __init__(
        self,
        summary: str,
        *,
        org_id: str,
        endpoint: str,
        status: int | None = None,
        error_id: int | None = None,
        astra_message: str | None = None,
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            summary, org_id=org_id, endpoint=endpoint, status=status,
            error_id=error_id, astra_message=astra_message, attempts=attempts,
        )


class AstraClientClosed(AstraRetryableError):
    """The client was closed (its org's root token or settings changed): get a
    fresh client from the pool and call again."""


class AstraAmbiguousCreate(AstraError):
    """A create reached (or may have reached) Astra but no usable answer came
    back: timeout after sending, connection dropped, 5xx, unreadable body.
    The token may exist. Never create again blindly: list tokens and look for
    ``marker`` in their description (DESIGN.md §6)."""

    def __init__(
        self,
        summary: str,
        *,
        marker: str,
        org_id: str,
        endpoint: str,
        status: int | None = None,
        error_id: int | None = None,
        astra_message: str | None = None,
    ) -> None:
        self.marker = marker
        super().__init__(
            summary, org_id=org_id, endpoint=endpoint, status=status,
            error_id=error_id, astra_message=astra_message,
        )


class AstraUnexpectedResponse(AstraError):
    """Astra answered 2xx with a body the client cannot read."""


def error_class_for_status(status: int) -> type[AstraError]:
    """The error type for a non-2xx status (pure)."""
    by_status: dict[int, type[AstraError]] = {
        400: AstraBadRequest,
        401: AstraUnauthorized,
        403: AstraForbidden,
        404: AstraNotFound,
        409: AstraConflict,
        429: AstraRetryableError,
    }
    if status in by_status:
        return by_status[status]
    # 501 Not Implemented and 505 will not change on a retry.
    if status >= 500 and status not in (501, 505):
        return AstraRetryableError
    return AstraError


def summary_for_status(status: int) -> str:
    """A short human reading of a status, for messages (pure)."""
    summaries = {
        400: "bad request",
        401: "unauthorized: the root token is malformed, unknown, revoked or expired",
        403: "forbidden: the root token's role lacks the permission",
        404: "not found",
        409: "conflict",
        429: "rate limited by Astra",
    }
    if status in summaries:
        return summaries[status]
    if status >= 500:
        return "Astra server error"
    return "unexpected status"
