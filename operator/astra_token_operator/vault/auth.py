"""How the operator proves who it is to Vault: a static token (dev), the
Kubernetes auth method (production) or AppRole. Logins are synchronous hvac
calls; the session runs them on the ledger's worker threads."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import requests
from pydantic import SecretStr

from astra_token_operator.config import OperatorConfig
from astra_token_operator.vault.errors import VaultConfigError, VaultError, VaultForbidden, translate


@dataclass(frozen=True)
class LoginResult:
    token: SecretStr
    lease_seconds: int  # 0: the token does not expire


class Authenticator(ABC):
    """One auth method. ``login`` is only called when ``can_login``."""

    method: str

    @property
    def can_login(self) -> bool:
        return True

    def initial_token(self) -> SecretStr | None:
        return None

    @abstractmethod
    def login(self, client: hvac.Client) -> LoginResult: ...

    @abstractmethod
    def secrets(self) -> tuple[str, ...]:
        """Values to scrub from any message (credentials this method holds)."""

    @property
    @abstractmethod
    def login_path(self) -> str: ...


@dataclass(frozen=True)
class TokenAuth(Authenticator):
    token: SecretStr
    method: str = field(default="token", init=False)

    @property
    def can_login(self) -> bool:
        return False  # a static token cannot be renewed by logging in again

    def initial_token(self) -> SecretStr | None:
        return self.token

    def login(self, client: hvac.Client) -> LoginResult:
        raise VaultForbidden("Vault token auth: the static token was refused and cannot be replaced",
                             operation="login", path=self.login_path)

    def secrets(self) -> tuple[str, ...]:
        return (self.token.get_secret_value(),)

    @property
    def login_path(self) -> str:
        return "auth/token"


def _login_result(response: Any, operation: str, path: str) -> LoginResult:
    auth = response.get("auth") if isinstance(response, dict) else None
    if not isinstance(auth, dict) or not auth.get("client_token"):
        raise VaultForbidden(f"Vault {operation} {path}: the answer held no token",
                             operation=operation, path=path)
    return LoginResult(token=SecretStr(str(auth["client_token"])),
                       lease_seconds=int(auth.get("lease_duration") or 0))


def _translate_login(exc: Exception, path: str, secrets: tuple[str, ...]) -> VaultError:
    error = translate(exc, operation="login", path=path, secrets=secrets)
    # A refused login (bad role, bad secret id, bad JWT) is a 400 on some methods: it is still "forbidden".
    if type(error) is VaultError:
        return VaultForbidden(str(error), operation="login", path=path, status=error.status)
    return error


@dataclass(frozen=True)
class KubernetesAuth(Authenticator):
    role: str
    mount: str = "kubernetes"
    token_path: str = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 (a path)
    method: str = field(default="kubernetes", init=False)

    def _jwt(self) -> str:
        # Read on every login: the kubelet rotates projected service-account tokens.
        try:
            return Path(self.token_path).read_text().strip()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
        raise VaultConfigError(f"Vault login {self.login_path}: cannot read the service-account token "
                               f"{self.token_path}: {reason}", operation="login", path=self.login_path)

    def login(self, client: hvac.Client) -> LoginResult:
        jwt = self._jwt()
        error: VaultError
        try:
            response = client.auth.kubernetes.login(role=self.role, jwt=jwt, use_token=False,
                                                    mount_point=self.mount)
        except (hvac.exceptions.VaultError, requests.RequestException) as exc:
            error = _translate_login(exc, self.login_path, (jwt,))
        else:
            return _login_result(response, "login", self.login_path)
        raise error

    def secrets(self) -> tuple[str, ...]:
        return ()  # the JWT is scrubbed where it is read

    @property
    def login_path(self) -> str:
        return f"auth/{self.mount}/login"


@dataclass(frozen=True)
class AppRoleAuth(Authenticator):
    role_id: str
    secret_id: SecretStr
    mount: str = "approle"
    method: str = field(default="approle", init=False)

    def login(self, client: hvac.Client) -> LoginResult:
        error: VaultError
        try:
            response = client.auth.approle.login(
                role_id=self.role_id, secret_id=self.secret_id.get_secret_value(),
                use_token=False, mount_point=self.mount,
            )
        except (hvac.exceptions.VaultError, requests.RequestException) as exc:
            error = _translate_login(exc, self.login_path, self.secrets())
        else:
            return _login_result(response, "login", self.login_path)
        raise error

    def secrets(self) -> tuple[str, ...]:
        return (self.secret_id.get_secret_value(),)

    @property
    def login_path(self) -> str:
        return f"auth/{self.mount}/login"


def authenticator_from_config(config: OperatorConfig) -> Authenticator:
    """The auth method the settings name; refuses settings that cannot work."""
    if config.vault_auth == "token":
        if config.vault_token is None or not config.vault_token.get_secret_value():
            raise VaultConfigError("vault_auth=token needs vault_token (ASTRA_OPERATOR_VAULT_TOKEN)",
                                   operation="configure", path="auth/token")
        return TokenAuth(token=config.vault_token)
    if config.vault_auth == "kubernetes":
        return KubernetesAuth(role=config.vault_role, mount=config.vault_kubernetes_mount.strip("/"),
                              token_path=config.vault_sa_token_path)
    if not config.vault_approle_role_id or config.vault_approle_secret_id is None:
        raise VaultConfigError("vault_auth=approle needs vault_approle_role_id and vault_approle_secret_id",
                               operation="configure", path="auth/approle")
    return AppRoleAuth(role_id=config.vault_approle_role_id, secret_id=config.vault_approle_secret_id)
