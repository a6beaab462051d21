"""The ledger in Vault (KV v2 through hvac): the only code in the operator that
calls hvac. Everything here is async to callers; see docs/ledger.md. What it
stores (records, slots, intents) is defined in ``astra_token_operator.records``."""

from astra_token_operator.vault.auth import (
    AppRoleAuth,
    Authenticator,
    KubernetesAuth,
    TokenAuth,
    authenticator_from_config,
)
from astra_token_operator.vault.errors import (
    VaultCasMismatch,
    VaultConfigError,
    VaultDataError,
    VaultError,
    VaultForbidden,
    VaultNotFound,
    VaultUnavailable,
)
from astra_token_operator.vault.layout import LayoutMigration
from astra_token_operator.vault.ledger import RECORD_MAX_VERSIONS, Ledger
from astra_token_operator.vault.paths import LedgerPaths, slot_key
from astra_token_operator.vault.session import VaultSession

__all__ = [
    "RECORD_MAX_VERSIONS",
    "AppRoleAuth",
    "Authenticator",
    "KubernetesAuth",
    "LayoutMigration",
    "Ledger",
    "LedgerPaths",
    "TokenAuth",
    "VaultCasMismatch",
    "VaultConfigError",
    "VaultDataError",
    "VaultError",
    "VaultForbidden",
    "VaultNotFound",
    "VaultSession",
    "VaultUnavailable",
    "authenticator_from_config",
    "slot_key",
]
