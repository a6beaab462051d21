"""The safety net behind the watch on managed Secrets: every drift check interval, one
metadata-only list of them (names and resourceVersions, a page per 500), compared with what this
process last read or wrote (policy/secret_census.py). A Secret changed, deleted or unlabelled
without the watch saying so wakes its owner, whose pass reads it and repairs it. At 10,000 tokens
that is 20 list calls per interval, where a GET per token was 10,000."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from astra_token_operator.kube import KubeError, SecretVersion
from astra_token_operator.lifecycle_log import debug_action, warn_action
from astra_token_operator.policy.secret_census import unconfirmed
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.surface import LABEL_MANAGED


async def take_census(deps: Deps) -> int:
    """Compare the managed Secrets with what this process knows of them; wake the owner of each one
    not found as last seen. The number woken; no call when this process holds no token (a standby)."""
    known = deps.runtime.known_secrets()
    if not known:
        return 0
    selector = f"{LABEL_MANAGED}=true"
    if not deps.config.namespaces:
        compared, versions = known, _versions(await deps.kube.list_secret_versions(selector))
    else:
        # Watching some namespaces only, the operator may not list cluster-wide: each namespace holding
        # its Secrets is listed on its own, and one it cannot list leaves the others compared.
        compared, versions = [], {}
        for namespace in sorted({secret.namespace for secret in known}):
            try:
                versions.update(_versions(await deps.kube.list_secret_versions(selector, [namespace])))
            except KubeError as exc:
                warn_action("secret-census", namespace=namespace,
                            message=f"listing the managed Secrets failed: {exc}; compared at the next census")
                continue
            compared.extend(secret for secret in known if secret.namespace == namespace)
    woken = [secret for secret in unconfirmed(compared, versions) if deps.runtime.secret_unconfirmed(secret)]
    for secret in woken:
        warn_action("secret-census", namespace=secret.namespace, name=secret.name,
                    message="the Secret is not as last seen (changed, deleted or unlabelled unnoticed by the "
                            "watch): its AstraToken looks at it now")
    debug_action("secret-census", message=f"{len(compared)} Secrets compared, {len(woken)} owners woken")
    return len(woken)


def _versions(listed: list[SecretVersion]) -> dict[tuple[str, str], str]:
    return {(secret.namespace, secret.name): secret.resource_version for secret in listed}


async def run_census(deps: Deps, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Take a census every drift check interval (the first after a random part of one, so replicas
    and restarts do not line up) until cancelled. A failed census is told and tried at the next:
    nothing ends the loop but its cancellation (a task that died would never be restarted)."""
    interval = deps.config.drift_check_interval_seconds
    await sleep(deps.rng.uniform(0.5, 1.0) * interval)
    while True:
        try:
            await take_census(deps)
        except KubeError as exc:
            warn_action("secret-census", message=f"listing the managed Secrets failed: {exc}; "
                                                 f"tried again in {interval:g} s")
        except Exception as exc:  # the type alone: its message could hold anything
            warn_action("secret-census", message=f"the census failed ({type(exc).__name__}); "
                                                 f"tried again in {interval:g} s")
        await sleep(interval)
