"""The workloads an AstraToken restarts after a rotation (named, or selected by
label), and whether their rollout has finished."""

from __future__ import annotations

from collections.abc import Sequence

from astra_token_operator.models import RolloutRestartTarget
from astra_token_operator.policy.rollouts import rollout_complete
from astra_token_operator.policy.token_plan import RolloutFacts
from astra_token_operator.reconcile.ports import Deps

Named = tuple[str, str]  # kind, name


async def resolve_targets(deps: Deps, namespace: str, targets: Sequence[RolloutRestartTarget]) -> list[Named]:
    """Every workload the targets name or select, once each, in a stable order."""
    found: set[Named] = set()
    for target in targets:
        if target.name:
            found.add((target.kind, target.name))
        elif target.selector is not None:
            names = await deps.kube.list_workloads(namespace, target.kind, target.selector.match_labels)
            found.update((target.kind, name) for name in names)
    return sorted(found)


async def rollout_facts(deps: Deps, namespace: str, targets: Sequence[RolloutRestartTarget]) -> RolloutFacts:
    """Finished when every workload that still exists has rolled out (one that is gone holds no token)."""
    pending: list[str] = []
    for kind, name in await resolve_targets(deps, namespace, targets):
        workload = await deps.kube.read_workload(namespace, kind, name)  # type: ignore[arg-type]
        if workload is not None and not rollout_complete(kind, workload):
            pending.append(f"{kind} {name}")
    return RolloutFacts(complete=not pending, pending=tuple(pending))
