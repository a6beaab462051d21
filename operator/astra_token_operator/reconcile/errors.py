"""Why a resource is waiting, as data: a Ready=False reason, a message for the
user, and when to look again."""

from __future__ import annotations

from astra_token_operator.astra import AstraError, AstraRetryableError, AstraUnauthorized
from astra_token_operator.backoff import exponential
from astra_token_operator.kube import KubeError, KubeUnavailable
from astra_token_operator.reconcile.wakeups import KUBE, VAULT, astra_cause
from astra_token_operator.surface import TokenReason
from astra_token_operator.vault import VaultError, VaultUnavailable

OutsideError = AstraError | VaultError | KubeError


class Blocked(Exception):
    """The resource cannot progress now. The message is shown to users: it
    names what is wrong and how to fix it, and never holds a secret."""

    def __init__(self, reason: str, message: str, *, retry_after: float = 30.0, warning: bool = True,
                 cause: str | None = None, quiet: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.warning = warning
        # What must answer again before another try is worth it (see wakers.cause_of): the wait
        # ends as soon as it does, not when retry_after runs out.
        self.cause = cause
        # A wait that is no news (the operator just started and is still reading its orgs): no
        # status write, no Event, the last report stands.
        self.quiet = quiet


def backoff_seconds(failures: int, *, base: float = 2.0, cap: float = 300.0) -> float:
    """How long an object waits after its ``failures``-th failure in a row: 2, 4, 8, ... capped."""
    return exponential(failures, initial=base, cap=cap)


def blocked_by(exc: OutsideError, failures: int) -> Blocked:
    """The one policy for an outside system's failure: what to tell the user, how long to back
    off at most, and, when the system could not answer, which system's next answer ends the
    wait early. A refusal (a 400, 403, bad data) is not woken early: others' successes do not
    change it."""
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
