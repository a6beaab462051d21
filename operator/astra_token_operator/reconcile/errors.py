"""The one error policy of the reconcile layer: an outside system's failure
becomes a ``Blocked`` (a Ready=False reason and message for the user, how long
to back off at most, and which system's next answer ends the wait early)."""

from __future__ import annotations

from astra_token_operator.astra import AstraError, AstraRetryableError, AstraUnauthorized
from astra_token_operator.backoff import exponential
from astra_token_operator.kube import KubeError, KubeUnavailable
from astra_token_operator.policy.token_plan import Blocked
from astra_token_operator.reconcile.wakeups import KUBE, VAULT, astra_cause
from astra_token_operator.surface import TokenReason
from astra_token_operator.vault import VaultError, VaultUnavailable

OutsideError = AstraError | VaultError | KubeError


class PassBlocked(Exception):
    """Raised by an action that finds the token cannot progress (a conflict found while minting,
    an unanswered create that was reconciled): the pass reports ``blocked``."""

    def __init__(self, blocked: Blocked) -> None:
        super().__init__(blocked.message)
        self.blocked = blocked


class StaleFacts(Exception):
    """What the pass read no longer holds (the slot was ours already): read again, decide again."""


def backoff_seconds(failures: int, *, base: float = 2.0, cap: float = 300.0) -> float:
    """How long an object waits after its ``failures``-th failure in a row: 2, 4, 8, ... capped."""
    return exponential(failures, initial=base, cap=cap)


def blocked_by(exc: OutsideError, failures: int) -> Blocked:
    """A refusal (a 400, 403, bad data) is not woken early: others' successes do not change it."""
    if isinstance(exc, VaultError):
        return Blocked(TokenReason.VAULT_UNAVAILABLE,
                       f"the Vault ledger is unavailable ({exc}); nothing is minted until it is back, "
                       "the existing Secret is left as it is", retry_after=backoff_seconds(failures, cap=30),
                       cause=VAULT if isinstance(exc, VaultUnavailable) else None)
    if isinstance(exc, AstraError):
        if isinstance(exc, AstraRetryableError):
            return Blocked(TokenReason.ASTRA_ERROR, f"Astra DevOps API: {exc}",
                           retry_after=backoff_seconds(failures, cap=60), cause=astra_cause(exc.org_id))
        # A refusal: someone must fix the org (the org daemon's re-verification wakes its tokens).
        return Blocked(TokenReason.ASTRA_ERROR, f"Astra DevOps API: {exc}",
                       retry_after=300.0 if isinstance(exc, AstraUnauthorized) else 60.0)
    return Blocked(TokenReason.KUBERNETES_ERROR, f"Kubernetes API: {exc}",
                   retry_after=backoff_seconds(failures, cap=60),
                   cause=KUBE if isinstance(exc, KubeUnavailable) else None)
