"""The sweep (reconcile/sweep.py) and Astra outages, against in-memory Vault, Astra and Kubernetes
(tests/unit/fakes.py) on a clock the tests move: what Astra, the ledger, the AstraTokens and the
AstraOrg's status show afterwards, and what a sweep costs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from fakes import InMemoryAstraPool
from test_reconcile_tokens import CLUSTER, NS, ORG_ID, World

from astra_token_operator.astra import AstraUnexpectedResponse
from astra_token_operator.config import OperatorConfig
from astra_token_operator.policy.markers import format_marker
from astra_token_operator.reconcile.observer import IgnoreObserver
from astra_token_operator.reconcile.orgs import OrgCycle
from astra_token_operator.reconcile.roles import RoleCycle
from astra_token_operator.reconcile.sweep import SweepOutcome, resolve_cluster_id, sweep_org
from astra_token_operator.reconcile.tokens import reconcile_token
from astra_token_operator.records import MintIntent, OwnerRef, RecordAction, RecordState

M = timedelta(minutes=1)
H = timedelta(hours=1)


def ours(uid: str = "uid-gone", cluster: str = CLUSTER, nonce: str = "0123456789ab") -> str:
    return format_marker(prefix="", cluster_id=cluster, namespace=NS, name="old", owner_uid=uid, nonce=nonce)


def running(world: World, *names_uids: tuple[str, str]) -> None:
    """The AstraTokens exist in the cluster, and this process runs their daemons."""
    for name, uid in names_uids:
        world.kube.objects[("astratokens", NS, name)] = {"metadata": {"name": name, "namespace": NS, "uid": uid}}
        world.deps.runtime.wakeups.register(uid, "token")


async def sweep(world: World) -> SweepOutcome:
    org = world.deps.runtime.verified.org("acme")
    assert org is not None
    return await sweep_org(world.deps, org)


@pytest.fixture
def world() -> World:
    return World()


# --- orphans ------------------------------------------------------------------------------------------

async def test_a_token_of_this_cluster_the_ledger_does_not_hold_is_revoked_and_recorded(world: World) -> None:
    orphan = world.astra.add(ours(), age=10 * M)
    young = world.astra.add(ours(nonce="aaaaaaaaaaaa"), age=30 * timedelta(seconds=1))
    outcome = await sweep(world)
    assert outcome.orphans_revoked == (orphan,)
    assert not world.astra.valid(orphan)
    assert world.astra.valid(young)  # younger than the safety age (120 s): a mint may still record it
    entry = world.ledger.orphans[orphan]
    assert (entry.cluster_id, entry.owner_uid, entry.description) == (CLUSTER, "uid-gone", ours())
    world.clock.advance(2 * M)
    assert (await sweep(world)).orphans_revoked == (young,)


async def test_other_clusters_unmarked_and_root_tokens_survive(world: World) -> None:
    theirs = world.astra.add(ours(cluster="cluster-b"), age=H)
    mine = world.astra.add("my laptop", age=H)
    legacy = world.astra.add("astra-token-operator team-a/old mint=0123456789ab", age=H)
    outcome = await sweep(world)
    assert outcome.orphans_revoked == ()
    assert {theirs, mine, legacy} <= world.astra.valid_ids()
    assert outcome.found is not None
    assert (outcome.found.foreign, outcome.found.unmanaged) == (1, 2)


async def test_a_mint_in_flight_or_interrupted_is_never_taken_for_an_orphan(world: World) -> None:
    """A token created in Astra whose record is not written yet: its intent (written before the
    create) names the same marker; the intent's resolution decides, never the sweep."""
    await world.pass_()
    marker = ours(uid="uid-1")
    token = world.astra.add(marker, age=10 * M)
    owner = OwnerRef(kind="AstraToken", namespace=NS, name="app", uid="uid-1")
    await world.ledger.write_intent(MintIntent(intent_id="uid-1", owner=owner, org_id=ORG_ID, role_id="r-1",
                                               role_name="reader", logical_name="app", marker=marker,
                                               created_at=world.clock()))
    running(world, ("app", "uid-1"))
    assert (await sweep(world)).orphans_revoked == ()
    assert world.astra.valid(token)


# --- deleted externally -------------------------------------------------------------------------------

async def test_a_token_deleted_behind_our_back_is_recorded_and_replaced(world: World) -> None:
    await world.pass_(rolloutRestartTargets=[{"kind": "Deployment", "name": "web"}])
    old = world.status()["clientId"]
    running(world, ("app", "uid-1"))
    world.astra.revoke_behind_our_back(old)
    woken = world.deps.runtime.wakeups.register("uid-1", "token")
    outcome = await sweep(world)
    assert outcome.deleted_externally == (old,)
    assert woken.is_set()  # the token's daemon runs its next pass now
    record = world.ledger.records(ORG_ID)[old]
    assert (record.state, record.last_action) == (RecordState.DELETED_EXTERNALLY, RecordAction.DELETED_EXTERNALLY)

    await world.pass_(rolloutRestartTargets=[{"kind": "Deployment", "name": "web"}])
    new = world.status()["clientId"]
    assert new != old
    assert world.astra.valid(new)
    assert world.published() == new
    assert world.ready()["reason"] == "ReplacedAfterExternalDeletion"
    assert f"replaces {old}, which was deleted in Astra outside the operator" in world.ready()["message"]
    warned = [m for kind, reason, m in world.events.seen if (kind, reason) == ("Warning", "DeletedExternally")]
    assert len(warned) == 1
    assert old in warned[0]
    assert new in warned[0]
    # Its pods held a dead token: restarted, once the restart batch window has passed.
    world.clock.advance(world.config.restart_window_seconds + 1)
    await world.pass_(rolloutRestartTargets=[{"kind": "Deployment", "name": "web"}])
    assert [(ns, kind, name) for ns, kind, name, _ in world.kube.restarts] == [(NS, "Deployment", "web")]


async def test_a_token_astra_expired_while_nobody_rotated_it_is_recorded_expired_not_deleted(world: World) -> None:
    await world.pass_()
    old = world.status()["clientId"]
    running(world, ("app", "uid-1"))
    world.clock.advance(world.ledger.records(ORG_ID)[old].max_expires_at - world.clock())  # its daemon was away
    woken = world.deps.runtime.wakeups.register("uid-1", "token")
    outcome = await sweep(world)
    assert outcome.deleted_externally == ()
    assert woken.is_set()  # its daemon mints the replacement
    record = world.ledger.records(ORG_ID)[old]
    assert (record.state, record.last_action) == (RecordState.EXPIRED, RecordAction.EXPIRED)


async def test_a_freshly_minted_token_the_list_does_not_show_yet_is_never_taken_for_deleted(world: World) -> None:
    await world.pass_()
    client_id = world.status()["clientId"]
    running(world, ("app", "uid-1"))
    world.astra.lagging.add(client_id)  # Astra's list lags behind the create
    for _ in range(3):
        outcome = await sweep(world)
        assert outcome.deleted_externally == ()
        world.clock.advance(10 * M)
    assert world.ledger.records(ORG_ID)[client_id].state is RecordState.ACTIVE


async def test_a_missing_token_whose_credentials_cannot_be_checked_is_left_for_later(world: World) -> None:
    await world.pass_()
    client_id = world.status()["clientId"]
    running(world, ("app", "uid-1"))
    world.astra.lagging.add(client_id)

    class Failing(InMemoryAstraPool):  # the check with its own credentials gets an unreadable answer
        async def check_credentials(self, *args: Any, **kwargs: Any) -> bool:
            raise AstraUnexpectedResponse("unreadable", org_id=ORG_ID, endpoint="GET /v2/currentOrg")

    world.deps = replace(world.deps, astra=Failing(world.astra))
    outcome = await sweep(world)
    assert outcome.deleted_externally == ()
    assert "checking its own credentials failed" in outcome.summary()


# --- stale slots --------------------------------------------------------------------------------------

async def test_the_token_of_an_astratoken_deleted_without_its_finalizer_is_revoked_and_its_name_freed(
        world: World) -> None:
    await world.pass_()
    client_id = world.status()["clientId"]
    world.restart()  # the AstraToken is gone: no daemon, no object ...
    del world.kube.secrets[(NS, "app")]  # ... and Kubernetes' garbage collector took its Secret
    world.clock.advance(3 * M)
    outcome = await sweep(world)
    assert outcome.stale_slots_freed == ("reader/app",)
    assert not world.astra.valid(client_id)
    record = world.ledger.records(ORG_ID)[client_id]
    assert record.state is RecordState.REVOKED
    assert "no longer exists in this cluster" in (record.reason or "")
    assert await world.ledger.read_slot(ORG_ID, "reader", "app") is None
    # a new AstraToken with the same names gets them
    await world.pass_(uid="uid-2")
    assert world.ready()["status"] == "True", world.ready()


async def test_a_slot_is_never_freed_while_its_owner_exists(world: World) -> None:
    await world.pass_()
    world.restart()  # its daemon has not started yet in this process, but the AstraToken exists
    world.kube.objects[("astratokens", NS, "app")] = {"metadata": {"name": "app", "namespace": NS, "uid": "uid-1"}}
    world.clock.advance(3 * M)
    outcome = await sweep(world)
    assert outcome.stale_slots_freed == ()
    assert world.kube.reads["get astratokens"] == 1
    assert await world.ledger.read_slot(ORG_ID, "reader", "app") is not None


async def test_a_token_whose_astratoken_is_being_deleted_is_left_to_its_finalizer(world: World) -> None:
    await world.pass_()
    client_id = world.status()["clientId"]
    world.restart()  # its daemon stopped at the deletionTimestamp; the finalizer has revoked in Astra ...
    world.kube.objects[("astratokens", NS, "app")] = {
        "metadata": {"name": "app", "namespace": NS, "uid": "uid-1", "deletionTimestamp": "2030-01-01T12:00:00Z"}}
    world.astra.revoke_behind_our_back(client_id)  # ... and not recorded it yet
    outcome = await sweep(world)
    assert outcome.deleted_externally == ()
    assert world.astra.calls["current-org"] == 0  # no credential check either
    assert world.ledger.records(ORG_ID)[client_id].state is RecordState.ACTIVE


# --- two clusters, one org ----------------------------------------------------------------------------

async def test_two_clusters_sharing_an_org_never_revoke_each_others_tokens() -> None:
    a, b = World(), World()
    b.astra, b.clock = a.astra, a.clock  # one Astra org, one time ...
    b.deps = b._process()  # ... separate ledgers, separate clusters
    b.deps.runtime.cluster_id = "cluster-b"
    await a.pass_()
    await b.pass_()
    mine, theirs = a.status()["clientId"], b.status()["clientId"]
    hand_made = a.astra.add("made by hand", age=H)
    running(a, ("app", "uid-1"))
    running(b, ("app", "uid-1"))
    a.clock.advance(10 * M)
    for world in (a, b, a, b):
        outcome = await sweep(world)
        assert (outcome.orphans_revoked, outcome.deleted_externally, outcome.stale_slots_freed) == ((), (), ())
        assert outcome.found is not None
        assert (outcome.found.managed, outcome.found.foreign, outcome.found.unmanaged) == (1, 1, 1)
    assert a.astra.valid_ids() == {mine, theirs, hand_made}


# --- when the sweep cannot see ------------------------------------------------------------------------

async def test_a_list_that_fails_or_cannot_be_read_touches_nothing(world: World) -> None:
    orphan = world.astra.add(ours(), age=H)
    world.astra.list_fails = AstraUnexpectedResponse("Astra's answer could not be read (ValidationError)",
                                                     org_id=ORG_ID, endpoint="GET /v2/clientIdSecrets", status=200)
    outcome = await sweep(world)
    assert outcome.unseen is not None
    assert outcome.unseen.reason == "ListFailed"
    assert "could not be read" in outcome.condition(1).message
    assert world.astra.valid(orphan)


async def test_a_ledger_that_cannot_be_read_touches_nothing_and_lists_nothing(world: World) -> None:
    orphan = world.astra.add(ours(), age=H)
    world.ledger.down = True
    outcome = await sweep(world)
    assert outcome.unseen is not None
    assert outcome.unseen.reason == "LedgerUnreadable"
    assert world.astra.calls["list"] == 0
    assert world.astra.valid(orphan)
    world.ledger.down = False
    assert (await sweep(world)).orphans_revoked == (orphan,)  # the next sweep, once the ledger is readable


# --- cost ---------------------------------------------------------------------------------------------

async def test_a_sweep_at_rest_is_one_astra_call_and_no_vault_read() -> None:
    world = World()
    names = [(f"t{i}", f"uid-{i}") for i in range(20)]
    for name, uid in names:
        await reconcile_token(world.deps, world.body(name, uid=uid), world.events)
    running(world, *names)
    await sweep(world)  # the start-up pass loads the view: slots listed once
    vault, astra = world.ledger.total, sum(world.astra.calls.values())
    await sweep(world)
    assert (world.ledger.total - vault, sum(world.astra.calls.values()) - astra) == (0, 1)
    # Renewals and a rotation between sweeps are seen through the operator's own writes: no read.
    first = {name: world.status(name)["clientId"] for name, _ in names}
    while any(world.status(name)["clientId"] == first[name] for name, _ in names):
        world.clock.advance(5 * M)
        for name, uid in names:
            await reconcile_token(world.deps, world.body(name, uid=uid), world.events)
    vault = world.ledger.total
    outcome = await sweep(world)
    assert world.ledger.total == vault
    assert outcome.found is not None
    assert outcome.found.managed == 40  # each token and the one it superseded, still in its grace


async def test_tokens_minted_while_the_list_is_asked_for_cost_no_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A list can wait behind the org's rate limit while hundreds of mints go on: what they
    recorded meanwhile is in the view when the list answers."""
    world = World()
    await sweep(world)
    listing = world.astra.list_tokens

    async def list_while_minting() -> Any:
        for i in range(5):
            await reconcile_token(world.deps, world.body(f"t{i}", uid=f"uid-{i}"), world.events)
        return await listing()

    monkeypatch.setattr(world.astra, "list_tokens", list_while_minting)
    running(world, *[(f"t{i}", f"uid-{i}") for i in range(5)])
    reads = world.ledger.calls["read"]
    outcome = await sweep(world)
    assert world.ledger.calls["read"] == reads
    assert outcome.found is not None
    assert outcome.found.managed == 5


async def test_a_new_process_loads_the_view_once() -> None:
    world = World()
    for i in range(5):
        await reconcile_token(world.deps, world.body(f"t{i}", uid=f"uid-{i}"), world.events)
    world.restart()
    running(world, *[(f"t{i}", f"uid-{i}") for i in range(5)])
    await sweep(world)
    assert (world.ledger.calls["list-slots"], world.ledger.calls["read"]) == (1, 5)
    await sweep(world)
    assert (world.ledger.calls["list-slots"], world.ledger.calls["read"]) == (1, 5)


async def test_the_cluster_id_is_the_kube_system_namespaces_uid_unless_set(world: World) -> None:
    assert await resolve_cluster_id(world.deps) == "kube-system-uid-of-cluster-a"
    configured = World(OperatorConfig(cluster_id="prod-eu"))
    assert await resolve_cluster_id(configured.deps) == "prod-eu"


# --- the org's daemon reports the sweep ---------------------------------------------------------------

def org_body(world: World, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "acme", "uid": "org-uid", "generation": 1},
            "spec": {"orgId": ORG_ID, "rootTokenRef": {"vault": {"path": "astra/root"}}, "allowedNamespaces": ["*"],
                     **spec},
            "status": {}}


async def test_the_org_daemon_sweeps_at_start_and_reports_it(world: World) -> None:
    orphan = world.astra.add(ours(), age=H)
    cycle = OrgCycle(world.deps, world.events)
    await cycle.step(org_body(world, sweep={"interval": "10m"}), woken=True)
    status = world.kube.status[("", "acme")]
    assert status["sweep"]["orphansRevoked"] == 1
    assert status["sweep"]["managed"] == 0
    swept = next(c for c in status["conditions"] if c["type"] == "Swept")
    assert (swept["status"], swept["reason"]) == ("True", "Swept")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"  # the sweep's write kept the Ready condition
    assert ("Warning", "OrphanRevoked") in [(k, r) for k, r, _ in world.events.seen]
    assert not world.astra.valid(orphan)


async def test_a_failed_list_is_reported_in_the_swept_condition(world: World) -> None:
    world.astra.list_fails = AstraUnexpectedResponse("Astra answered 403", org_id=ORG_ID,
                                                     endpoint="GET /v2/clientIdSecrets", status=403)
    cycle = OrgCycle(world.deps, world.events)
    await cycle.step(org_body(world), woken=True)
    swept = next(c for c in world.kube.status[("", "acme")]["conditions"] if c["type"] == "Swept")
    assert (swept["status"], swept["reason"]) == ("False", "ListFailed")
    assert "nothing was revoked" in swept["message"]
    assert world.kube.status[("", "acme")]["sweep"]["managed"] is None


class IntentAges(IgnoreObserver):
    """What the oldest-intent gauge is given."""

    def __init__(self) -> None:
        self.listed: list[list[datetime]] = []

    def intents_listed(self, org_id: str, created_at: Iterable[datetime]) -> None:
        self.listed.append(list(created_at))


async def test_leftover_intents_are_listed_from_vault_only_while_one_can_be_left(world: World) -> None:
    """At rest the intent sweep costs no Vault call: the ledger is listed the first two times the
    org's cycle looks (what a crashed process or a replica before this one left, and what a replica
    paused meanwhile wrote before its turns ended), then only while the last listing left some or
    this process has written an intent it has not deleted."""
    ages = IntentAges()
    cycle = OrgCycle(replace(world.deps, observer=ages), world.events)

    async def intent_sweep_due() -> int:
        cycle.next_sweep = 0.0  # the interval has passed
        await cycle.step(org_body(world), woken=True)
        return world.ledger.calls["list-intents"]

    assert [await intent_sweep_due(), await intent_sweep_due()] == [1, 2]
    await world.pass_()  # a mint writes its intent and deletes it
    assert await intent_sweep_due() == 2
    assert ages.listed[-1] == []  # the gauge holds no age of an intent that cannot be there
    # A mint that wrote its intent and then failed, and whose AstraToken is gone since.
    gone = OwnerRef(kind="AstraToken", namespace=NS, name="old", uid="uid-gone")
    token = world.astra.add(ours(), age=M)
    await world.deps.ledger.write_intent(MintIntent(intent_id="uid-gone", owner=gone, org_id=ORG_ID,
                                                    role_id="r-1", role_name="reader", logical_name="old",
                                                    marker=ours(), created_at=world.clock()))
    assert await intent_sweep_due() == 3
    assert "intents/uid-gone" not in world.ledger.keys
    assert not world.astra.valid(token)
    assert await intent_sweep_due() == 3
    # What another process left is found when a cycle starts, and looked at again while it is left.
    running(world, ("app", "uid-1"))
    await world.ledger.write_intent(MintIntent(intent_id="uid-1", owner=OwnerRef(kind="AstraToken", namespace=NS,
                                                                                 name="app", uid="uid-1"),
                                               org_id=ORG_ID, role_id="r-1", role_name="reader",
                                               logical_name="app", marker=ours(uid="uid-1"),
                                               created_at=world.clock()))
    cycle = OrgCycle(replace(world.deps, observer=ages), world.events)
    assert [await intent_sweep_due() for _ in range(3)] == [4, 5, 6]  # its AstraToken lives: listed again
    assert ages.listed[-1] == [world.clock()]


async def test_an_intent_noted_but_never_written_is_forgotten_once_read_as_absent(world: World) -> None:
    """A write of an intent whose answer was lost is noted as possibly there; once a read finds it
    absent, the org's listing stops again."""
    world.deps.runtime.ledger_view.note_intent("uid-lost", ORG_ID)
    assert world.deps.runtime.ledger_view.has_open_intents(ORG_ID)
    assert await world.deps.ledger.read_intent("uid-lost") is None
    assert not world.deps.runtime.ledger_view.has_open_intents(ORG_ID)


# --- an Astra outage ----------------------------------------------------------------------------------

def role_body() -> dict[str, Any]:
    return {"metadata": {"name": "reader", "uid": "role-uid", "generation": 1},
            "spec": {"orgRef": "acme", "astraRoleName": "R/W User", "ttl": "1h", "maxTtl": "3h"}, "status": {}}


async def test_an_outage_longer_than_renew_before_lapses_nothing_and_its_end_revokes_mints_restarts_nothing() -> None:
    world = World()
    org, role = OrgCycle(world.deps, world.events), RoleCycle(world.deps, world.events)
    await org.step(org_body(world), woken=True)
    await role.step(role_body(), woken=True)
    spec = {"rolloutRestartTargets": [{"kind": "Deployment", "name": "web"}]}
    await world.pass_(**spec)
    client_id, token = world.status()["clientId"], world.kube.secret_value(NS, "app", "token")
    before = dict(world.astra.calls)

    world.astra.down = True  # every call answers 503, for 2 hours: renewBefore is 20 minutes
    await org.step(org_body(world), woken=True)
    await role.step(role_body(), woken=True)
    assert not world.deps.runtime.verified.org("acme").ready  # type: ignore[union-attr]
    end = world.clock() + 2 * H
    while world.clock() < end:
        wait = await world.pass_(**spec)
        assert world.ready()["status"] == "True", world.ready()
        world.clock.advance(min(wait, 300))
    record = world.ledger.records(ORG_ID)[client_id]
    assert record.renewals >= 3  # renewed in the ledger all along (every 40 minutes)
    assert record.lease_expires_at > world.clock()
    assert world.kube.secret_value(NS, "app", "token") == token

    world.astra.down = False
    await org.step(org_body(world), woken=True)
    await role.step(role_body(), woken=True)
    for _ in range(3):
        await world.pass_(**spec)
        world.clock.advance(M)
    assert world.status()["clientId"] == client_id
    assert world.astra.calls["create"] == before.get("create", 0)
    assert world.astra.calls["revoke"] == before.get("revoke", 0)
    assert world.kube.restarts == []
    assert world.astra.valid(client_id)


async def test_a_token_created_during_an_outage_waits_and_says_why(world: World) -> None:
    org = OrgCycle(world.deps, world.events)
    world.astra.down = True
    await org.step(org_body(world), woken=True)
    await world.pass_()
    assert world.ready()["status"] == "False"
    assert world.ready()["reason"] == "OrgNotReady"
    assert "minting and revoking wait for it" in world.ready()["message"]
    world.astra.down = False
    await org.step(org_body(world), woken=True)
    await world.pass_()
    assert world.ready()["reason"] == "Issued"

