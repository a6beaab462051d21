"""Reading the Vault ledger as the caller: their own VAULT_ADDR and VAULT_TOKEN
(or BAO_*, or `vault login`'s ~/.vault-token), or a Kubernetes auth role, never
the operator's credentials. Read-only. Through the operator's own KV layer
(vault.kv over vault.session), so errors arrive translated and scrubbed.

A record holds the token and its client secret: they are dropped right here,
where a record is read (``scrub``), so nothing past this module ever has one."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import hvac
import hvac.exceptions
import requests
from pydantic import SecretStr

from astra_token_operator.kubectl_plugin.errors import NotFound, PluginError, Refused
from astra_token_operator.vault import kv
from astra_token_operator.vault.auth import Authenticator, LoginResult, TokenAuth
from astra_token_operator.vault.errors import (
    VaultError,
    VaultForbidden,
    VaultNotFound,
    VaultUnavailable,
    translate,
)
from astra_token_operator.vault.paths import LedgerPaths
from astra_token_operator.vault.session import VaultSession

T = TypeVar("T")
SECRET_KEYS = ("token", "clientSecret")
REDACTED = "<redacted>"
NO_CREDENTIALS = ("not read: no Vault credentials (set VAULT_ADDR and VAULT_TOKEN, or --vault-role for "
                  "Kubernetes auth)")


def scrub(value: Any) -> Any:
    """A record without its secrets: the keys token and clientSecret dropped, and any
    string shaped like an Astra token replaced, at any depth."""
    if isinstance(value, Mapping):
        return {k: scrub(v) for k, v in value.items() if k not in SECRET_KEYS}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, str) and value.startswith("AstraCS:"):
        return REDACTED
    return value


@dataclass(frozen=True)
class VaultOptions:
    """Where the ledger is and who reads it (flags, then VAULT_* / BAO_* variables)."""

    addr: str | None = None
    token: SecretStr | None = field(default=None, repr=False)
    role: str | None = None  # Kubernetes auth role
    auth_mount: str = "kubernetes"
    jwt_file: str | None = None  # a service-account token file (in a pod)
    service_account: str | None = None  # namespace/name: a TokenRequest made with the caller's RBAC
    kv_mount: str = "secret"
    prefix: str = "astra-tokens"
    ca_cert: str | None = None
    timeout: float = 10.0

    @classmethod
    def from_environment(cls, env: Mapping[str, str], home: Path, **flags: Any) -> VaultOptions:
        given = {k: v for k, v in flags.items() if v is not None}
        addr = given.pop("addr", None) or env.get("VAULT_ADDR") or env.get("BAO_ADDR")
        token = env.get("VAULT_TOKEN") or env.get("BAO_TOKEN")
        if not token and not given.get("role"):
            helper = home / ".vault-token"  # where `vault login` / `bao login` leave the token
            token = helper.read_text().strip() if helper.is_file() else None
        ca_cert = given.pop("ca_cert", None) or env.get("VAULT_CACERT") or env.get("BAO_CACERT")
        return cls(addr=addr, token=SecretStr(token) if token else None, ca_cert=ca_cert, **given)

    @property
    def configured(self) -> bool:
        return bool(self.addr) and (self.token is not None or bool(self.role))


@dataclass(frozen=True)
class JwtAuth(Authenticator):
    """Kubernetes auth with a JWT from a function: a file, or a TokenRequest."""

    role: str
    mount: str
    jwt: Callable[[], str] = field(repr=False)
    method: str = field(default="kubernetes", init=False)

    def login(self, client: hvac.Client) -> LoginResult:
        jwt = self.jwt()
        error: VaultError
        try:
            response = client.auth.kubernetes.login(role=self.role, jwt=jwt, use_token=False, mount_point=self.mount)
        except (hvac.exceptions.VaultError, requests.RequestException) as exc:
            error = translate(exc, operation="login", path=self.login_path, secrets=(jwt,))
        else:
            auth = response.get("auth") if isinstance(response, dict) else None
            if isinstance(auth, dict) and auth.get("client_token"):
                return LoginResult(SecretStr(str(auth["client_token"])), int(auth.get("lease_duration") or 0))
            error = VaultForbidden(f"Vault login {self.login_path}: the answer held no token", operation="login",
                                   path=self.login_path)
        raise error

    def secrets(self) -> tuple[str, ...]:
        return ()

    @property
    def login_path(self) -> str:
        return f"auth/{self.mount}/login"


@dataclass(frozen=True)
class Version:
    number: int
    created_time: datetime
    data: dict[str, Any] | None  # scrubbed; None for a deleted or destroyed version


class LedgerReader:
    """The ledger's records and their versions, read with the caller's identity."""

    def __init__(self, options: VaultOptions, service_account_jwt: Callable[[str, str], str] | None = None) -> None:
        if not options.addr:
            raise PluginError("no Vault address: set VAULT_ADDR (or pass --vault-addr)")
        self.options = options
        self.paths = LedgerPaths(options.kv_mount, options.prefix)
        self.session = VaultSession(options.addr, self._authenticator(options, service_account_jwt),
                                    timeout_seconds=options.timeout, ca_file=options.ca_cert)

    @staticmethod
    def _authenticator(options: VaultOptions, service_account_jwt: Callable[[str, str], str] | None
                       ) -> Authenticator:
        if options.role:
            if options.service_account:
                namespace, _, name = options.service_account.partition("/")
                if not name or service_account_jwt is None:
                    raise PluginError(f"--vault-service-account {options.service_account!r}: use namespace/name")
                return JwtAuth(options.role, options.auth_mount, lambda: service_account_jwt(namespace, name))
            jwt_file = options.jwt_file or "/var/run/secrets/kubernetes.io/serviceaccount/token"

            def from_file() -> str:
                try:
                    return Path(jwt_file).read_text().strip()
                except OSError as exc:
                    raise PluginError(f"cannot read the service-account token {jwt_file} for Vault's Kubernetes "
                                      f"auth ({exc.strerror}); pass --vault-jwt-file or --vault-service-account"
                                      ) from None
            return JwtAuth(options.role, options.auth_mount, from_file)
        if options.token is None:
            raise PluginError(NO_CREDENTIALS.replace("not read: ", ""))
        return TokenAuth(options.token)

    def _call(self, operation: str, key: str, fn: Callable[[hvac.Client], T]) -> T:
        path = self.paths.display(key)
        try:
            return self.session.call(operation, path, fn)
        except VaultForbidden as exc:
            raise Refused(f"Vault refused to {operation} {path} with your credentials ({_reason(exc)}); reading the "
                          f"ledger needs read and list on {self.options.kv_mount}/data/{self.options.prefix}/* and "
                          f"{self.options.kv_mount}/metadata/{self.options.prefix}/*") from None
        except VaultUnavailable as exc:
            raise PluginError(f"Vault at {self.options.addr} is unavailable: {exc}") from None
        except VaultNotFound as exc:
            raise NotFound(str(exc)) from None
        except VaultError as exc:
            raise PluginError(str(exc)) from None

    def record(self, org_id: str, client_id: str) -> tuple[dict[str, Any], int] | None:
        """The latest version of a record (scrubbed) and its version number; None if there is none."""
        key = self.paths.record(org_id, client_id)
        found = self._call("read", key, lambda c: kv.read(c, self.paths.mount, key))
        return (scrub(found.data), found.version) if found is not None else None

    def versions(self, org_id: str, client_id: str) -> list[Version]:
        """Every version of a record, oldest first (each KV version is one recorded change)."""
        key = self.paths.record(org_id, client_id)
        meta = self._call("read", key, lambda c: kv.metadata(c, self.paths.mount, key))
        if meta is None:
            raise NotFound(f"the ledger has no record {self.paths.display(key)}")
        out: list[Version] = []
        for info in meta.versions:
            data = None
            if not info.deleted:
                found = self._call("read", key, _read_version(self.paths.mount, key, info.version))
                data = scrub(found.data) if found is not None else None
            out.append(Version(info.version, info.created_time, data))
        return out

    def find_org(self, client_id: str) -> str | None:
        """Which org's ledger holds this client id (the plugin's read by client_id scanned every token too)."""
        orgs_dir = self.paths.orgs_dir()
        for org in self._call("list", orgs_dir, lambda c: kv.list_keys(c, self.paths.mount, orgs_dir)):
            org_id = org.rstrip("/")
            tokens_dir = self.paths.tokens_dir(org_id)
            if client_id in self._call("list", tokens_dir, _list(self.paths.mount, tokens_dir)):
                return org_id
        return None


def _read_version(mount: str, key: str, version: int) -> Callable[[hvac.Client], kv.KvVersion | None]:
    return lambda client: kv.read(client, mount, key, version)


def _list(mount: str, key: str) -> Callable[[hvac.Client], list[str]]:
    return lambda client: kv.list_keys(client, mount, key)


def vault_health(options: VaultOptions) -> dict[str, Any]:
    """sys/health (initialized, sealed, version): unauthenticated, so it needs no credentials."""
    client = hvac.Client(url=options.addr, token="", timeout=options.timeout, verify=options.ca_cert or True)
    try:
        answer = client.sys.read_health_status(method="GET", standby_ok=True, sealed_code=200, uninit_code=200,
                                               performance_standby_code=200)
    except (hvac.exceptions.VaultError, requests.RequestException) as exc:
        error = translate(exc, operation="read", path="sys/health")
    else:
        return dict(answer) if isinstance(answer, dict) else dict(answer.json())
    raise PluginError(f"Vault at {options.addr} is unreachable: {error}")


def _reason(exc: VaultError) -> str:
    text = str(exc)
    return text.split("(", 1)[1].rstrip(")") if "(" in text else text


def default_vault_options(env: Mapping[str, str] | None = None, **flags: Any) -> VaultOptions:
    return VaultOptions.from_environment(os.environ if env is None else env, Path.home(), **flags)
