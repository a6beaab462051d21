"""The operator's authenticated connection to Vault, used from worker threads.

One hvac client per worker thread (a requests Session is not meant to be
shared across threads); one token shared by all, replaced by a new login when
it nears its expiry or when Vault stops accepting it. Every hvac call goes
through ``call``, which is where exceptions become VaultErrors."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

import hvac
import hvac.exceptions
import requests
from pydantic import SecretStr

from astra_token_operator.vault.auth import Authenticator
from astra_token_operator.vault.errors import VaultError, translate

T = TypeVar("T")
logger = logging.getLogger("astra_token_operator.vault")

_RELOGIN_AT_FRACTION = 0.8  # log in again when 80% of the token's lease has passed
_DENIED = (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized)
_FAILURES = (hvac.exceptions.VaultError, requests.RequestException)


def _no_netrc(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


class VaultSession:
    """Who we are to Vault, and the one door every hvac call goes through (synchronously)."""

    def __init__(
        self,
        addr: str,
        authenticator: Authenticator,
        *,
        timeout_seconds: float = 10.0,
        ca_file: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.addr = addr.rstrip("/")
        self._auth = authenticator
        self._timeout = timeout_seconds
        self._verify: bool | str = ca_file or True
        self._clock = clock
        self._local = threading.local()
        self._lock = threading.Lock()
        initial = authenticator.initial_token()
        self._token: str | None = initial.get_secret_value() if initial is not None else None
        self._generation = 0  # bumped by each login, so concurrent 403s log in once
        self._relogin_at: float | None = None

    def _client(self) -> hvac.Client:
        client: hvac.Client | None = getattr(self._local, "client", None)
        if client is None:
            # token="" keeps hvac from reading VAULT_TOKEN or ~/.vault-token behind our back.
            session = requests.Session()
            # Without an auth of its own, requests looks for ~/.netrc on every request (two stat
            # calls: a seventh of a Vault worker's time in a restart's profile). Vault takes its
            # token in a header; a netrc login is never what it wants. Proxies from the
            # environment still apply.
            session.auth = _no_netrc
            session.verify = self._verify  # hvac takes a given session's verify over its own argument
            client = hvac.Client(url=self.addr, token="", timeout=self._timeout, verify=self._verify,
                                 session=session)
            self._local.client = client
        return client

    def _known_secrets(self) -> tuple[str, ...]:
        """Values no message may carry: the current token and the login credentials."""
        return (*((self._token,) if self._token else ()), *self._auth.secrets())

    def _scrubbed(self, secrets: tuple[SecretStr, ...]) -> tuple[str, ...]:
        return (*(s.get_secret_value() for s in secrets), *self._known_secrets())

    def _login_locked(self) -> None:
        client = self._client()
        client.token = ""  # a login carries no token: a stale one must not be sent along
        result = self._auth.login(client)
        self._token = result.token.get_secret_value()
        self._generation += 1
        self._relogin_at = (
            self._clock() + result.lease_seconds * _RELOGIN_AT_FRACTION if result.lease_seconds > 0 else None
        )
        logger.info("vault login method=%s lease_seconds=%d", self._auth.method, result.lease_seconds,
                    extra={"action": "vault-login", "method": self._auth.method})

    def _token_for_call(self) -> tuple[str, int, bool]:
        """(token, its generation, whether this call just logged in)."""
        with self._lock:
            due = self._relogin_at is not None and self._clock() >= self._relogin_at
            if self._token is None or (due and self._auth.can_login):
                self._login_locked()
                assert self._token is not None
                return self._token, self._generation, True
            return self._token, self._generation, False

    def _token_alive(self, operation: str, path: str) -> bool:
        """Does Vault still accept our token at all (lookup-self is in every default policy)?"""
        client = self._client()
        client.token = self._token
        error: VaultError
        try:
            client.auth.token.lookup_self()
        except _DENIED:
            return False
        except _FAILURES as exc:
            error = translate(exc, operation=operation, path=path, secrets=self._known_secrets())
        else:
            return True
        raise error

    def _relogin_if_dead(self, generation: int, operation: str, path: str) -> bool:
        """After a 403: log in again if the token itself is no longer valid
        (not merely lacking a policy for this path). True when a retry is worthwhile."""
        with self._lock:
            if self._generation != generation:
                return True  # another thread already replaced the token
            if self._token_alive(operation, path):
                return False
            logger.warning("vault token no longer accepted; logging in again method=%s", self._auth.method,
                           extra={"action": "vault-relogin", "method": self._auth.method})
            self._login_locked()
            return True

    def call(
        self, operation: str, path: str, fn: Callable[[hvac.Client], T], secrets: Iterable[SecretStr] = ()
    ) -> T:
        """Run ``fn`` with an authenticated client on this thread. Any failure
        leaves as a VaultError whose message holds none of ``secrets`` (kept as
        SecretStr so even a traceback that prints arguments shows none).

        Errors are raised outside the ``except`` blocks, so the hvac exception
        (with its response body) never rides along as ``__context__``."""
        scrubbed = tuple(secrets)
        for attempt in (1, 2):
            token, generation, fresh = self._token_for_call()
            client = self._client()
            client.token = token
            denied = False
            try:
                return fn(client)
            except _DENIED as exc:
                denied = True
                error = translate(exc, operation=operation, path=path, secrets=self._scrubbed(scrubbed))
            except _FAILURES as exc:
                error = translate(exc, operation=operation, path=path, secrets=self._scrubbed(scrubbed))
            # A token that worked before may have expired or been revoked: one fresh login, one retry.
            may_retry = denied and attempt == 1 and not fresh and self._auth.can_login
            if not (may_retry and self._relogin_if_dead(generation, operation, path)):
                break
        raise error
