"""The kube package's own errors, and the one place kubernetes-client and
urllib3 exceptions become them.

An ``ApiException`` carries the whole response body, and the apiserver's
answer to a refused Secret write can quote the Secret it was sent (a 422 names
the invalid value). None of that travels further: a translated error keeps the
HTTP status, the apiserver's machine ``reason`` and its one-line ``message``
with every value of the Secret being written scrubbed out. Callers raise the
result outside their ``except`` block, so the original exception (and its
body) is not chained onto it either.

Hierarchy::

    KubeError
    ├── KubeNotFound        404
    ├── KubeAlreadyExists   409, reason AlreadyExists (a create lost the race)
    ├── KubeConflict        409 otherwise: stale resourceVersion, failed uid precondition
    ├── KubeForbidden       401/403: our identity or its RBAC
    ├── KubeInvalid         400/422, or arguments the client itself refused
    └── KubeUnavailable     no connection, timeout, 429, 5xx
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pydantic
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

REDACTED = "[redacted]"
_MAX_MESSAGE = 300
# Below this length a value is replaced only where it stands quoted, as the
# apiserver quotes invalid values ("Invalid value: \"...\""); replacing a two
# letter value everywhere would shred the message.
_MIN_BARE_SECRET = 4
# Astra tokens and bearer values, in case a secret we were not told about shows up.
_SECRET_SHAPES = re.compile(r"AstraCS:[^\s\"',;]*|(?i:bearer\s+)\S+")


class KubeError(Exception):
    """A Kubernetes API call failed. Every attribute is safe to log."""

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        kind: str,
        namespace: str | None = None,
        name: str | None = None,
        status: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.status = status
        self.reason = reason  # the apiserver's machine reason: NotFound, Conflict, Invalid, ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class KubeNotFound(KubeError):
    """404: the object (or its namespace, or its API) does not exist."""


class KubeAlreadyExists(KubeError):
    """409 AlreadyExists: a create found an object of that name."""


class KubeConflict(KubeError):
    """409: the object changed since it was read (resourceVersion), or a
    precondition (uid) did not hold. Read again and decide again."""


class KubeForbidden(KubeError):
    """401/403: the apiserver does not accept our identity, or RBAC denies the verb."""


class KubeInvalid(KubeError):
    """400/422: the request was refused as malformed or failing validation."""


class KubeUnavailable(KubeError):
    """The apiserver could not be reached or could not serve: connection
    refused or reset, timeout, TLS failure, 429, 5xx.

    ``maybe_applied`` is False only when the request certainly did not take
    effect (no connection was made, or 429: refused before it was handled); a
    non-idempotent write is retried only then. ``retry_after`` is the server's
    Retry-After in seconds, when it sent one."""

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        kind: str,
        namespace: str | None = None,
        name: str | None = None,
        status: int | None = None,
        reason: str | None = None,
        maybe_applied: bool = True,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, operation=operation, kind=kind, namespace=namespace, name=name,
                         status=status, reason=reason)
        self.maybe_applied = maybe_applied
        self.retry_after = retry_after


def secret_forms(values: Iterable[str]) -> tuple[str, ...]:
    """Every spelling of each value a message might carry: as written, as the
    base64 the Secret's ``data`` holds, and JSON/Go-escaped (newlines, quotes)."""
    forms: set[str] = set()
    for value in values:
        if not value:
            continue
        forms.add(value)
        forms.add(base64.b64encode(value.encode()).decode())
        forms.add(json.dumps(value)[1:-1])
    return tuple(sorted(forms, key=len, reverse=True))


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Text safe to show: each secret (in every form of ``secret_forms``) and
    anything shaped like a token replaced, whitespace folded, length capped."""
    for form in secret_forms(secrets):
        if len(form) >= _MIN_BARE_SECRET:
            text = text.replace(form, REDACTED)
        else:
            text = text.replace(f'"{form}"', f'"{REDACTED}"').replace(f'\\"{form}\\"', f'\\"{REDACTED}\\"')
    text = _SECRET_SHAPES.sub(REDACTED, text)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _status_body(body: object) -> Mapping[str, Any]:
    """The apiserver's Status object from an error body, or {} when it is not one."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if not isinstance(body, str) or not body:
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) and parsed.get("kind") == "Status" else {}


def _retry_after(headers: object) -> float | None:
    if not isinstance(headers, Mapping):
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return max(0.0, seconds) if seconds is not None else None


def _os_reason(exc: BaseException) -> str | None:
    """The innermost OS-level cause ('Connection refused'), never urllib3's URL-laden text."""
    seen: set[int] = set()
    current: BaseException | None = exc
    reason = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            reason = current.strerror
        nested = current.reason if isinstance(current, urllib3.exceptions.MaxRetryError) else None
        current = nested or current.__cause__ or current.__context__
    return reason


def _unwrap(exc: BaseException) -> BaseException:
    """urllib3 wraps the failure of the last attempt in MaxRetryError."""
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return exc.reason
    return exc


class _Where:
    def __init__(self, operation: str, kind: str, namespace: str | None, name: str | None) -> None:
        self.fields: dict[str, Any] = {"operation": operation, "kind": kind, "namespace": namespace,
                                       "name": name}
        target = f"{namespace}/{name}" if namespace and name else (name or namespace or "")
        self.text = f"{operation} {kind} {target}".rstrip()


def _from_api_exception(exc: ApiException, where: _Where, secrets: tuple[str, ...]) -> KubeError:
    status = exc.status if isinstance(exc.status, int) else 0
    body = _status_body(exc.body)
    reason = body.get("reason") if isinstance(body.get("reason"), str) else None
    said = scrub(str(body.get("message") or exc.reason or ""), secrets)
    label = f"HTTP {status}" + (f" {reason}" if reason else "")
    text = f"{where.text}: {label}" + (f": {said}" if said else "")
    fields = {**where.fields, "status": status or None, "reason": reason}
    if status == 0:  # the client's own failures: TLS handshake, a request it could not build
        return KubeUnavailable(f"{where.text}: request failed before an answer ({said or 'no detail'})",
                               **fields)
    if status == 404:
        return KubeNotFound(text, **fields)
    if status == 409:
        cls = KubeAlreadyExists if reason == "AlreadyExists" else KubeConflict
        return cls(text, **fields)
    if status in (401, 403):
        return KubeForbidden(text, **fields)
    if status in (400, 422):
        return KubeInvalid(text, **fields)
    if status == 429 or status >= 500:
        return KubeUnavailable(text, **fields, maybe_applied=status != 429,
                               retry_after=_retry_after(exc.headers))
    return KubeError(text, **fields)


def _from_transport(exc: BaseException, where: _Where) -> KubeError:
    cause = _unwrap(exc)
    if isinstance(cause, urllib3.exceptions.ConnectTimeoutError):
        # NewConnectionError is a ConnectTimeoutError too: nothing was sent.
        detail = _os_reason(cause) or "connect timed out"
        return KubeUnavailable(f"{where.text}: cannot connect ({detail})", **where.fields,
                               maybe_applied=False)
    if isinstance(cause, urllib3.exceptions.TimeoutError | TimeoutError):
        return KubeUnavailable(f"{where.text}: no answer within the request timeout", **where.fields)
    if isinstance(cause, urllib3.exceptions.SSLError):
        return KubeUnavailable(f"{where.text}: TLS failed", **where.fields)
    detail = _os_reason(cause) or type(cause).__name__
    return KubeUnavailable(f"{where.text}: connection failed ({detail})", **where.fields)


def _from_validation(exc: pydantic.ValidationError, where: _Where) -> KubeError:
    # The error's own text repeats the input, which may be the Secret: name the places only.
    places = ", ".join(".".join(str(p) for p in error["loc"]) or "?" for error in exc.errors()[:5])
    return KubeInvalid(f"{where.text}: the client refused the arguments ({places})", **where.fields)


def translate(
    exc: BaseException,
    *,
    operation: str,
    kind: str,
    namespace: str | None = None,
    name: str | None = None,
    secrets: Iterable[str] = (),
) -> KubeError:
    """Map a kubernetes-client / urllib3 exception to a KubeError whose message
    holds none of ``secrets``. Callers must raise the result outside their
    ``except`` block."""
    where = _Where(operation, kind, namespace, name)
    if isinstance(exc, KubeError):
        return exc
    if isinstance(exc, ApiException):
        return _from_api_exception(exc, where, tuple(secrets))
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return _from_transport(exc, where)
    if isinstance(exc, pydantic.ValidationError):
        return _from_validation(exc, where)
    return KubeError(f"{where.text}: unexpected {type(exc).__name__}", **where.fields)
