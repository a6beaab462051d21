"""The ledger's own errors, and the one place hvac/requests exceptions become them.

hvac's exceptions carry the response body and its message repeats Vault's
error text; requests' carry URLs and the causing exception. None of that may
travel further: a translated error names the operation, the Vault path and a
scrubbed reason, and is raised outside the ``except`` block so the original
exception is not even chained onto it."""

from __future__ import annotations

import re
from collections.abc import Iterable

import hvac.exceptions
import requests

# Vault's HTTP status for each hvac exception class (hvac keeps no status itself).
_STATUS: dict[type[Exception], int] = {
    hvac.exceptions.InvalidRequest: 400,
    hvac.exceptions.Unauthorized: 401,
    hvac.exceptions.Forbidden: 403,
    hvac.exceptions.InvalidPath: 404,
    hvac.exceptions.RateLimitExceeded: 429,
    hvac.exceptions.InternalServerError: 500,
    hvac.exceptions.VaultNotInitialized: 501,
    hvac.exceptions.BadGateway: 502,
    hvac.exceptions.VaultDown: 503,
}

# Shapes of secrets we might not have been told about: Astra tokens and Vault/OpenBao tokens.
_SECRET_SHAPES = re.compile(r"AstraCS:[^\s\"',;]*|\bhv[sbr]\.[A-Za-z0-9_-]{16,}|\b[sbr]\.[A-Za-z0-9]{20,}")
_MAX_REASON = 300
_MIN_REDACTED_LEN = 4  # shorter "secrets" would redact ordinary words


class VaultError(Exception):
    """A ledger operation failed. ``operation`` and ``path`` say which; the
    message never holds a secret value."""

    def __init__(self, message: str, *, operation: str, path: str, status: int | None = None) -> None:
        super().__init__(message)
        self.operation = operation
        self.path = path
        self.status = status


class VaultUnavailable(VaultError):
    """Vault could not be reached or could not serve: refused, reset, timed out,
    5xx, sealed, rate-limited. The operator fails closed on it."""


class VaultForbidden(VaultError):
    """Vault refused our identity: 401/403 after a fresh login, or a refused login."""


class VaultCasMismatch(VaultError):
    """A check-and-set write lost: the key's version was not the one expected."""


class VaultNotFound(VaultError):
    """A path or key that must exist (a root token) does not."""


class VaultConfigError(VaultError):
    """The operator's Vault settings cannot work (missing token, unreadable file)."""


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove every known secret value and anything shaped like a token; keep it short."""
    for value in sorted({s for s in secrets if s and len(s) >= _MIN_REDACTED_LEN}, key=len, reverse=True):
        text = text.replace(value, "[redacted]")
    text = _SECRET_SHAPES.sub("[redacted]", text)
    text = " ".join(text.split())  # Vault's multi-error text spans lines
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def _vault_reason(exc: hvac.exceptions.VaultError) -> str:
    errors = exc.errors if isinstance(exc.errors, list) else []
    return "; ".join(str(e) for e in errors) or type(exc).__name__


def _connection_reason(exc: BaseException) -> str:
    """The innermost OS-level cause ('Connection refused'), never requests' URL-laden text."""
    seen: set[int] = set()
    current: BaseException | None = exc
    reason = "connection failed"
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            reason = current.strerror
        current = current.__cause__ or current.__context__
    return reason


def translate(exc: BaseException, *, operation: str, path: str, secrets: Iterable[str] = ()) -> VaultError:
    """Map an hvac/requests exception to a VaultError with a safe message.

    Callers must raise the result outside their ``except`` block."""
    where = f"Vault {operation} {path}"
    if isinstance(exc, requests.exceptions.Timeout):
        return VaultUnavailable(f"{where}: no answer within the timeout", operation=operation, path=path)
    if isinstance(exc, requests.exceptions.SSLError):
        return VaultUnavailable(f"{where}: TLS handshake failed (check vault_ca_file)",
                                operation=operation, path=path)
    if isinstance(exc, requests.exceptions.ConnectionError):
        return VaultUnavailable(f"{where}: {_connection_reason(exc)}", operation=operation, path=path)
    if isinstance(exc, requests.exceptions.RequestException):
        return VaultUnavailable(f"{where}: request failed ({type(exc).__name__})",
                                operation=operation, path=path)
    if not isinstance(exc, hvac.exceptions.VaultError):
        return VaultError(f"{where}: unexpected {type(exc).__name__}", operation=operation, path=path)

    status = _STATUS.get(type(exc))
    reason = scrub(_vault_reason(exc), secrets)
    if status == 400 and "check-and-set" in reason:
        return VaultCasMismatch(f"{where}: check-and-set lost ({reason})",
                                operation=operation, path=path, status=status)
    if status in (401, 403):
        return VaultForbidden(f"{where}: permission denied ({reason})",
                              operation=operation, path=path, status=status)
    if isinstance(exc, hvac.exceptions.UnexpectedError) or (status is not None and status >= 429):
        label = "sealed or not active" if status == 503 else f"HTTP {status or 'unexpected status'}"
        return VaultUnavailable(f"{where}: {label} ({reason})", operation=operation, path=path, status=status)
    if status == 404:
        return VaultNotFound(f"{where}: not found ({reason})", operation=operation, path=path, status=status)
    return VaultError(f"{where}: refused, HTTP {status or '?'} ({reason})",
                      operation=operation, path=path, status=status)


class VaultDataError(VaultError):
    """Stored data the ledger cannot read back (hand-edited, or from an unknown version)."""
