"""AstraTokens depend on their AstraOrg (the root token that revokes them) and
AstraRole: neither goes while AstraTokens use it. The admission webhook
refuses such a deletion (unless the cascade annotation asks for one); the
finalizer here is the backstop, and the cascade itself: it deletes the
AstraTokens (each finalizer revokes its token in Astra), keeps the org (and
its root token) verified meanwhile, even after a restart, and lets the org or
role go only once none is left."""

from __future__ import annotations

from typing import Any

from astra_token_operator.kube import KubeConflict, KubeNotFound
from astra_token_operator.lifecycle_log import log_action
from astra_token_operator.models import AstraOrg
from astra_token_operator.models import AstraRole as AstraRoleResource
from astra_token_operator.policy.admission_rules import Holder, cascade_requested, users_text
from astra_token_operator.policy.token_plan import Blocked
from astra_token_operator.reconcile.errors import PassBlocked
from astra_token_operator.reconcile.events import EventSink
from astra_token_operator.reconcile.orgs import verify_org
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.reconcile.roles import verify_role
from astra_token_operator.surface import ANNOTATION_CASCADE, TOKEN_PLURAL, DependentsReason

CHECK_SECONDS = 5.0  # how soon a waiting deletion looks at the AstraTokens again


async def tokens_using(deps: Deps, *, org: str | None = None, role: str | None = None) -> list[Holder]:
    """The AstraTokens whose spec names this org (or role), read from the apiserver (not from a
    watch that may lag), those being deleted included: they still need their org to revoke."""
    found: list[Holder] = []
    for item in await deps.kube.list_objects(TOKEN_PLURAL):
        spec, meta = item.get("spec") or {}, item.get("metadata") or {}
        if (org is not None and spec.get("orgRef") != org) or (role is not None and spec.get("roleRef") != role):
            continue
        found.append(Holder(str(meta.get("namespace") or ""), str(meta.get("name") or ""), str(meta.get("uid") or ""),
                            deleting=bool(meta.get("deletionTimestamp"))))
    return found


async def release_org(deps: Deps, body: dict[str, Any], events: EventSink, *, first: bool = True) -> None:
    """The AstraOrg's finalizer: returns once no AstraToken uses it (then the org is forgotten);
    raises PassBlocked while some do."""
    org = AstraOrg.model_validate(body)
    name, verified = org.metadata.name, deps.runtime.verified
    users = await tokens_using(deps, org=name)
    if users:
        state = verified.org(name)
        # Its daemon stopped with the deletion (and after a restart never started): verify it here,
        # so its tokens' finalizers can still revoke with its root token.
        if (state is None or not state.ready) and verified.publish_org(await verify_org(deps, org)):
            deps.runtime.wakeups.wake_kind("role", "token")
        await _cascade_or_wait(deps, "AstraOrg", name, org.metadata.annotations, users, events, first=first)
    verified.forget_org(name)
    deps.observer.org_forgotten(name)
    await deps.astra.discard(org.spec.org_id)
    deps.runtime.ledger_view.forget_org(org.spec.org_id)
    deps.runtime.wakeups.wake_kind("role", "token")


async def release_role(deps: Deps, body: dict[str, Any], events: EventSink, *, first: bool = True) -> None:
    """The AstraRole's finalizer, as ``release_org``."""
    role = AstraRoleResource.model_validate(body)
    name, verified = role.metadata.name, deps.runtime.verified
    users = await tokens_using(deps, role=name)
    if users:
        state = verified.role(name)
        if state is None or not state.ready:
            found = await verify_role(deps, role)
            if found is not None and verified.publish_role(found):
                deps.runtime.wakeups.wake_kind("token")
        await _cascade_or_wait(deps, "AstraRole", name, role.metadata.annotations, users, events, first=first)
    verified.forget_role(name)
    deps.runtime.wakeups.wake_kind("token")


async def _cascade_or_wait(deps: Deps, kind: str, name: str, annotations: dict[str, str], users: list[Holder],
                           events: EventSink, *, first: bool) -> None:
    if cascade_requested(annotations):
        doomed = [user for user in users if not user.deleting]
        for user in doomed:
            try:
                await deps.kube.delete_object(TOKEN_PLURAL, user.name, user.namespace, uid=user.uid)
            except (KubeNotFound, KubeConflict):
                continue  # gone already, or another object of that name now: not ours to delete
        if doomed:
            log_action("cascade", message=f"{kind} {name}: deleting {users_text(doomed)}")
            events.info(DependentsReason.CASCADE_DELETING,
                        f"deleting {users_text(doomed)} first ({ANNOTATION_CASCADE}); each token is revoked in "
                        f"Astra before this {kind} goes")
        message = f"{kind} {name!r} goes once {users_text(users)} are revoked and deleted"
    else:
        message = (f"{kind} {name!r} is kept while {users_text(users)} use it (their tokens could not be revoked "
                   f"without it): delete them, or annotate it {ANNOTATION_CASCADE}=true to have them deleted")
        if first:
            events.warning(DependentsReason.WAITING_FOR_TOKENS, message)
    raise PassBlocked(Blocked(DependentsReason.WAITING_FOR_TOKENS, message, retry_after=CHECK_SECONDS))
