"""Choosing the Vault auth method from the operator's settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from astra_token_operator.config import OperatorConfig
from astra_token_operator.vault import (
    AppRoleAuth,
    KubernetesAuth,
    TokenAuth,
    VaultConfigError,
    authenticator_from_config,
)


def test_token_auth_uses_the_static_token_and_cannot_log_in_again() -> None:
    auth = authenticator_from_config(OperatorConfig(vault_auth="token", vault_token=SecretStr("dev-root")))

    assert isinstance(auth, TokenAuth)
    assert auth.initial_token() == SecretStr("dev-root")
    assert not auth.can_login


def test_token_auth_without_a_token_is_refused_with_the_setting_to_fix() -> None:
    with pytest.raises(VaultConfigError, match="ASTRA_OPERATOR_VAULT_TOKEN"):
        authenticator_from_config(OperatorConfig(vault_auth="token", vault_token=None))


def test_kubernetes_auth_takes_role_mount_and_token_file_from_settings() -> None:
    auth = authenticator_from_config(OperatorConfig(
        vault_auth="kubernetes", vault_role="astra-op", vault_kubernetes_mount="/k8s-prod/",
        vault_sa_token_path="/tmp/sa-token",
    ))

    assert auth == KubernetesAuth(role="astra-op", mount="k8s-prod", token_path="/tmp/sa-token")
    assert auth.login_path == "auth/k8s-prod/login"
    assert auth.can_login


def test_kubernetes_login_without_a_token_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-token"
    auth = KubernetesAuth(role="astra-op", token_path=str(missing))

    with pytest.raises(VaultConfigError, match="no-such-token"):
        auth.login(client=None)  # the file is read before Vault is asked


def test_approle_auth_needs_both_role_id_and_secret_id() -> None:
    with pytest.raises(VaultConfigError, match="vault_approle_secret_id"):
        authenticator_from_config(OperatorConfig(vault_auth="approle", vault_approle_role_id="rid",
                                                vault_approle_secret_id=None))

    auth = authenticator_from_config(OperatorConfig(
        vault_auth="approle", vault_approle_role_id="rid", vault_approle_secret_id=SecretStr("sid-value"),
    ))
    assert isinstance(auth, AppRoleAuth)
    assert auth.login_path == "auth/approle/login"


def test_authenticators_never_show_their_credentials() -> None:
    shown = repr(TokenAuth(token=SecretStr("dev-root-token"))) + repr(
        AppRoleAuth(role_id="rid", secret_id=SecretStr("sid-value-secret"))
    )

    assert "dev-root-token" not in shown
    assert "sid-value-secret" not in shown
