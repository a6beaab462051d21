"""Operator-wide Kopf settings and the operator's parts (composition.assemble), set up before any
resource is watched and closed on exit."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from typing import Any

import kopf

from astra_token_operator.composition import Assembly, assemble
from astra_token_operator.config import OperatorConfig
from astra_token_operator.handlers.webhook_server import build_webhook_server, limit_token_reviews
from astra_token_operator.kube import KubeError
from astra_token_operator.reconcile.ledger_layout import migrate_ledger_layout
from astra_token_operator.reconcile.orgs import list_orgs_and_roles
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.reconcile.sweep import ClusterIdUnknown, resolve_cluster_id
from astra_token_operator.surface import FINALIZER, KOPF_PREFIX, LABEL_INJECT, LABEL_MANAGED, TOKEN_KIND

# Kopf's own bookkeeping lives under a prefix of its own: annotations under
# astra-tokens.io/ must stay visible to our handlers (see docs/decisions.md).


class DiffBaseExceptForTokens(kopf.AnnotationsDiffBaseStorage):
    """Kopf's diff-base (the last handled spec, in an annotation) for AstraOrgs and AstraRoles,
    whose spec edits wake their daemons through on.update. AstraTokens have no create or update
    handlers (their daemon reacts to every change itself, and deletion is seen from the
    deletionTimestamp), so for them the current spec always counts as handled: Kopf never writes
    the annotation, a write that would pass both admission webhooks for every new token. Nothing of
    an AstraToken is compared at all: its essence is empty, where building it copied the whole body
    twice per watch event (a tenth of the event loop in a restart's profile, bench/README.md)."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None) -> kopf.BodyEssence:
        if body.get("kind") == TOKEN_KIND:
            return kopf.BodyEssence()
        return super().build(body=body, extra_fields=extra_fields)

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        if body.get("kind") == TOKEN_KIND:
            return kopf.BodyEssence()
        return super().fetch(body=body)


PORT_RETRY_SECONDS = 2.0


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config: OperatorConfig = memo.config
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX, v1=False)
    # Only the spec is compared: our own label and annotation writes must not make Kopf write its
    # diff-base again (every write of an AstraToken passes the admission webhooks).
    settings.persistence.diffbase_storage = DiffBaseExceptForTokens(
        prefix=KOPF_PREFIX, v1=False, ignored_fields=["metadata"])
    settings.posting.reporting_component = "astra-token-operator"
    settings.posting.level = 20  # INFO events and up become Kubernetes Events
    # Only the Secrets this operator manages, and the pods that ask for a token (sidecar mode), are
    # watched: the apiserver filters both.
    settings.watching.label_selectors["v1", "secrets"] = f"{LABEL_MANAGED}=true"
    settings.watching.label_selectors["v1", "pods"] = f"{LABEL_INJECT}=true"
    settings.peering.standalone = config.standalone
    settings.peering.lifetime = config.peering_lifetime_seconds
    # Kopf runs the other start-up handlers even while this one is failing and retries only this
    # one: a retry must keep the parts they filled in (the cluster id, the ledger's layout check).
    assembly: Assembly | None = memo.get("assembly")
    if assembly is None:
        assembly = assemble(config)
        memo.assembly = assembly
        memo.deps = assembly.deps
    if config.webhook_enabled:
        settings.admission.server = build_webhook_server(config, on_serving=assembly.health.webhook_started)
        settings.admission.managed = config.webhook_configuration_name
        limit_token_reviews()
    try:
        assembly.start()
    except OSError as exc:
        # Typically the previous process (a force-deleted pod on the host network) still holds the
        # port for a few seconds: try again soon, not after Kopf's default minute.
        raise kopf.TemporaryError(
            f"cannot listen on {config.metrics_listen_addr}:{config.metrics_port} yet ({exc.strerror});"
            f" retrying in {PORT_RETRY_SECONDS:g} s", delay=PORT_RETRY_SECONDS) from None


def assembled(memo: kopf.Memo) -> Deps:
    """The parts ``configure`` built; the start-up handlers after it wait while it has not yet."""
    deps: Deps | None = memo.get("deps")
    if deps is None:
        raise kopf.TemporaryError("waiting for the operator's parts to be set up", delay=1)
    return deps


@kopf.on.startup(id="list-orgs-and-roles")
async def list_orgs_and_roles_first(memo: kopf.Memo, **_: Any) -> None:
    """Runs after ``configure`` and before any watch: finalizers and daemons that start in the
    first moments must not take an org that is not verified yet for one that does not exist."""
    deps = assembled(memo)
    try:
        await list_orgs_and_roles(deps)
        deps.runtime.identity = await deps.kube.whoami()
    except KubeError as exc:
        raise kopf.TemporaryError(f"cannot list AstraOrgs and AstraRoles yet: {exc}", delay=5) from None


@kopf.on.startup(id="cluster-id")
async def name_this_cluster(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """The id every minted token's description names (the sweep's proof of ownership): known
    before any token is looked at, or nothing starts."""
    deps = assembled(memo)
    try:
        deps.runtime.cluster_id = await resolve_cluster_id(deps)
    except (KubeError, ClusterIdUnknown) as exc:
        raise kopf.TemporaryError(f"cannot name this cluster yet: {exc}", delay=5) from None
    logger.info("this cluster's id (named in every token's description in Astra): %s", deps.runtime.cluster_id)


LAYOUT_WAIT_SECONDS = 10.0


@kopf.on.startup(id="ledger-layout")
async def migrate_ledger_in_background(memo: kopf.Memo, **_: Any) -> None:
    """The ledger's layout is checked (and a ledger of the first layout migrated) before the
    watches start when that is quick (one read, usually), else beside them, never holding start-up
    up for long: record calls wait for it meanwhile (as for a Vault outage)."""
    task = memo.layout_task = asyncio.create_task(migrate_ledger_layout(assembled(memo)), name="ledger-layout")
    await asyncio.wait({task}, timeout=LAYOUT_WAIT_SECONDS)


@kopf.on.login()
def login(logger: kopf.Logger, settings: kopf.OperatorSettings, memo: kopf.Memo,
          **kwargs: Any) -> kopf.ConnectionInfo | None:
    """In-cluster or kubeconfig credentials, as Kopf finds them; Events about the
    cluster-scoped AstraOrgs and AstraRoles go to the operator's namespace."""
    info = kopf.login_via_client(logger=logger, settings=settings, **kwargs)
    if info is None:
        return None
    return dataclasses.replace(info, default_namespace=memo.config.operator_namespace)


@kopf.on.cleanup()
async def close_clients(memo: kopf.Memo, **_: Any) -> None:
    task: asyncio.Task[Any] | None = memo.get("layout_task")
    if task is not None and not task.done():
        task.cancel()
    assembly: Assembly | None = memo.get("assembly")
    if assembly is not None:
        await assembly.aclose()
