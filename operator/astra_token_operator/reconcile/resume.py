"""A token daemon's first turn in this process: arm its timer from its status when the status can
say (policy/resume.py), so a restart with thousands of Ready tokens reads nothing from Vault or the
Secrets at once; each is verified (a full pass) later, spread over the drift check interval."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from astra_token_operator.durations import parse_duration
from astra_token_operator.lifecycle_log import debug_action
from astra_token_operator.models import AstraToken
from astra_token_operator.policy.leases import LeaseError
from astra_token_operator.policy.resume import arm_from_status
from astra_token_operator.reconcile.observer import TokenView
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.surface import REQUEST_ANNOTATIONS
from astra_token_operator.times import to_rfc3339


def resume_token(deps: Deps, body: Mapping[str, Any]) -> float | None:
    """Seconds until the token's next turn when its status alone says when; None: run a full pass
    now. Makes no call."""
    token = AstraToken.model_validate(body)
    spec, meta, uid = token.spec, token.metadata, token.metadata.uid or ""
    now = deps.clock()
    verify_at = now + timedelta(seconds=deps.rng.random() * deps.config.drift_check_interval_seconds)
    try:
        grace: timedelta | None = parse_duration(spec.rotation_grace_period)
    except ValueError:
        grace = None
    armed = arm_from_status(
        token.status, generation=meta.generation,
        has_requests=any(key in meta.annotations for key in REQUEST_ANNOTATIONS),
        has_restart_targets=bool(spec.rollout_restart_targets), grace=grace, now=now, verify_at=verify_at)
    if armed is None:
        return None
    state = deps.runtime.token(uid)  # from now on, its Secret's events wake it
    state.seen_generation = meta.generation
    state.armed_as = (armed.org_id, armed.role_name)
    deps.observer.token_seen(uid, TokenView(
        namespace=meta.namespace or "", name=meta.name, org=spec.org_ref, role=spec.role_ref, ready=True,
        reason=armed.reason, lease_expires_at=armed.lease_expires_at, max_expires_at=armed.max_expires_at,
        renew_before_seconds=_renew_before(deps, token) or armed.renew_before.total_seconds()))
    debug_action("resume", namespace=meta.namespace, name=meta.name, client_id=token.status.client_id,
                 message=f"armed from its status: next turn at {to_rfc3339(armed.wake_at)}")
    return max(0.0, (armed.wake_at - now).total_seconds())


def _renew_before(deps: Deps, token: AstraToken) -> float | None:
    """The token's renew-before, when its role is verified already (else its status says)."""
    role = deps.runtime.verified.role(token.spec.role_ref)
    if role is None:
        return None
    try:
        return role.renewal_policy_for(token.spec).renew_before.total_seconds()
    except (LeaseError, ValueError):
        return None
