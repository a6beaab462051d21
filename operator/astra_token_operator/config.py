"""Operator settings: one typed object, built once at start-up from the
environment (ASTRA_OPERATOR_*) and command-line flags, then passed down."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASTRA_OPERATOR_", extra="ignore", frozen=True)

    # Where the operator runs; root-token Secrets may live only here or in
    # root_token_namespaces, never in a tenant namespace.
    operator_namespace: str = "astra-token-operator"
    root_token_namespaces: list[str] = Field(default_factory=list)

    # Kopf
    namespaces: list[str] = Field(default_factory=list, description="empty: all namespaces")
    liveness_endpoint: str | None = None
    standalone: bool = False
    priority: int = 0
    peering_name: str = "astra-token-operator"
    # How long a replica's keep-alive counts (Kopf's settings.peering.lifetime): a crashed active
    # replica is taken over at most this long after its last keep-alive.
    peering_lifetime_seconds: int = 60
    log_format: Literal["plain", "json"] = "plain"
    # DEBUG, INFO, WARNING or ERROR; --verbose is DEBUG.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # The operator's own HTTP port: /metrics (when metrics_enabled), /livez and /readyz.
    metrics_enabled: bool = True
    metrics_listen_addr: str = "127.0.0.1"
    metrics_port: int = 8081
    # /livez fails when the event loop has not run for this long.
    event_loop_stall_seconds: float = 30.0

    # Vault ledger
    vault_addr: str = "http://127.0.0.1:8200"
    vault_auth: Literal["token", "kubernetes", "approle"] = "token"
    vault_token: SecretStr | None = None
    vault_role: str = "astra-token-operator"
    vault_kubernetes_mount: str = "kubernetes"
    vault_sa_token_path: str = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 (a path)
    vault_approle_role_id: str | None = None
    vault_approle_secret_id: SecretStr | None = None
    vault_kv_mount: str = "secret"
    vault_prefix: str = "astra-tokens"
    vault_timeout_seconds: float = 10.0
    vault_workers: int = 8
    vault_ca_file: str | None = None

    # Astra DevOps API defaults (an AstraOrg's spec.rateLimit overrides the rate ones)
    astra_connect_timeout_seconds: float = 5.0
    astra_read_timeout_seconds: float = 30.0
    astra_deadline_seconds: float = 60.0
    astra_max_attempts: int = 5
    astra_requests_per_second: float = 10.0
    astra_burst: int = 20
    astra_concurrency: int = 8

    # Timers
    org_verify_interval_seconds: float = 300.0
    # A safety net only: the label-selected Secret watch reports edits and deletions at once. The
    # census of the managed Secrets runs this often (reconcile/secret_census.py).
    drift_check_interval_seconds: float = Field(default=600.0, gt=0)
    intent_sweep_interval_seconds: float = 300.0
    # Restarts of one workload asked for by several tokens within this window are one restart.
    restart_window_seconds: float = 30.0
    # How long a restarted workload may take to roll out before a Warning; the token it replaced is
    # then revoked at its own max expiry. And how often a rollout in progress is looked at.
    rollout_timeout_seconds: float = 1800.0
    rollout_poll_seconds: float = 5.0

    # The reconciliation sweep (reconcile/sweep.py). Every token's description in Astra names this
    # cluster, so the sweep can tell its own tokens from another cluster's sharing the org. Default:
    # the uid of the kube-system namespace (stable for the cluster's life); set it when that cannot
    # be read, or to keep the id across a cluster rebuilt from a backup. At most 40 characters.
    cluster_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
    # A token of ours that the ledger does not hold (or an owner that is gone) is acted on only once
    # it is older than this: longer than a create call can take (astra_deadline_seconds), so a mint
    # still in flight is never taken for an orphan.
    sweep_safety_age_seconds: float = 120.0
    # How many tokens missing from Astra's list one sweep confirms (each with one call made with the
    # token's own credentials); more wait for the next sweep.
    sweep_credential_checks: int = Field(default=20, ge=1)

    # Fault injection for the crash-safety tests only: names of points in the
    # mint where the process kills itself with SIGKILL (see reconcile/minting.py).
    failpoints: list[str] = Field(default_factory=list)

    # Admission webhook
    webhook_enabled: bool = True
    webhook_host: str = "127.0.0.1"
    webhook_listen_addr: str = "127.0.0.1"
    webhook_port: int | None = None
    webhook_cert_file: str | None = None
    webhook_key_file: str | None = None
    webhook_ca_file: str | None = None
    webhook_service_name: str | None = None
    webhook_service_namespace: str | None = None
    webhook_service_port: int = 443
    webhook_configuration_name: str = "astra-token-operator.astra-tokens.io"

    @model_validator(mode="after")
    def _safety_age_outlasts_a_create(self) -> OperatorConfig:
        if self.sweep_safety_age_seconds <= self.astra_deadline_seconds:
            raise ValueError(f"sweep_safety_age_seconds ({self.sweep_safety_age_seconds:g}) must be longer than "
                             f"astra_deadline_seconds ({self.astra_deadline_seconds:g}): a token younger than a "
                             "create call's deadline may belong to a mint still in flight")
        return self

    def describe(self) -> dict[str, object]:
        """Settings safe to log: secrets are SecretStr and print as '**********'."""
        return self.model_dump(mode="json", exclude={"vault_token", "vault_approle_secret_id"})
