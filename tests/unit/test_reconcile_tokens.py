"""reconcile_token and delete_token against in-memory Vault, Astra and Kubernetes
(tests/unit/fakes.py) on a clock the tests move: what a user would see of a
token's life (its Secret, its ledger record, Astra's view, its status and
Events), and what each step costs in calls."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from fakes import FakeClock, InMemoryAstra, InMemoryAstraPool, InMemoryKube, InMemoryLedger, RecordedEvents
from pydantic import SecretStr

from astra_token_operator.config import OperatorConfig
from astra_token_operator.kube import DesiredSecret, SecretSnapshot
from astra_token_operator.models import AstraOrgSpec
from astra_token_operator.reconcile.errors import PassBlocked
from astra_token_operator.reconcile.finalize import delete_token
from astra_token_operator.reconcile.ledger_view import ViewedLedger
from astra_token_operator.reconcile.minting import TokenIdentity, make_marker
from astra_token_operator.reconcile.ports import Deps
from astra_token_operator.reconcile.runtime import Runtime
from astra_token_operator.reconcile.tokens import reconcile_token
from astra_token_operator.reconcile.verified import OrgState, RoleState
from astra_token_operator.reconcile.wakeups import VAULT
from astra_token_operator.records import MintIntent, OwnerRef, Principal, RecordAction, RecordState, SlotClaim

ORG_ID = "6f2d5b0e-1c3a-4b7e-9d2f-0a1b2c3d4e5f"
CLUSTER = "cluster-a"
NS = "team-a"
M = timedelta(minutes=1)
H = timedelta(hours=1)


class World:
    """One org, one role (ttl 1h, maxTtl 3h), an operator process (its runtime) and the systems."""

    def __init__(self, config: OperatorConfig | None = None) -> None:
        self.config = config or OperatorConfig()
        self.clock = FakeClock()
        self.ledger = InMemoryLedger()
        self.astra = InMemoryAstra(ORG_ID, self.clock)
        self.kube = InMemoryKube()
        self.events = RecordedEvents()
        self.deps = self._process()

    def _process(self) -> Deps:
        runtime = Runtime(cluster_id=CLUSTER)
        spec = AstraOrgSpec.model_validate({"orgId": ORG_ID, "rootTokenRef": {"vault": {"path": "astra/root"}},
                                            "allowedNamespaces": ["*"]})
        runtime.verified.record_listing({"acme"}, {"reader"})
        runtime.verified.publish_org(OrgState(name="acme", spec=spec, ready=True, reason="Verified", message="ok",
                                              root_token=SecretStr("AstraCS:root"), org_name="Acme"))
        runtime.verified.publish_role(RoleState(name="reader", org_ref="acme", role_name="reader", ready=True,
                                                reason="Verified", message="ok", role_id="r-1", ttl=H,
                                                max_ttl=3 * H))
        return Deps(config=self.config, ledger=ViewedLedger(self.ledger, runtime.ledger_view),
                    astra=InMemoryAstraPool(self.astra),
                    kube=self.kube, runtime=runtime, clock=self.clock, rng=random.Random(7))

    def restart(self) -> None:
        """A new operator process: nothing remembered, the same systems."""
        self.deps = self._process()

    def body(self, name: str = "app", uid: str = "uid-1", **spec: Any) -> dict[str, Any]:
        key = (NS, name)
        annotations = {**self.kube.annotations.get(key, {}), **spec.pop("annotations", {})}
        return {"metadata": {"name": name, "namespace": NS, "uid": uid, "generation": 1,
                             "labels": self.kube.labels.get(key, {}), "annotations": annotations},
                "spec": {"orgRef": "acme", "roleRef": "reader", "renewBefore": "20m", "rotationGracePeriod": "5m",
                         **spec},
                "status": self.kube.status.get(key, {})}

    async def pass_(self, name: str = "app", uid: str = "uid-1", **spec: Any) -> float:
        return await reconcile_token(self.deps, self.body(name, uid, **spec), self.events)

    def status(self, name: str = "app") -> dict[str, Any]:
        return self.kube.status.get((NS, name), {})

    def ready(self, name: str = "app") -> dict[str, Any]:
        return next(c for c in self.status(name)["conditions"] if c["type"] == "Ready")

    def published(self, name: str = "app") -> str:
        return self.kube.secret_value(NS, name, "clientId")


@pytest.fixture
def world() -> World:
    return World()


async def test_a_first_token_is_minted_recorded_and_published_in_six_vault_calls(world: World) -> None:
    wait = await world.pass_()
    client_id = world.status()["clientId"]
    assert world.ready()["reason"] == "Issued"
    assert world.published() == client_id
    assert world.astra.valid(client_id)
    record = world.ledger.records(ORG_ID)[client_id]
    assert (record.state, record.owner.uid if record.owner else None) == (RecordState.ACTIVE, "uid-1")
    assert record.credentials is None  # the audit record holds no secret: its credentials live apart
    assert world.kube.secret_value(NS, "app", "token") == world.astra.tokens[client_id].token
    # Claim the slot, write the intent, write the credentials, write the record, move the slot,
    # delete the intent: the credentials are the one request the split adds, written once here.
    assert world.ledger.total == 6, world.ledger.calls
    assert world.ledger.calls["write-credentials"] == 1
    assert world.kube.total_writes == 3, world.kube.writes  # the Secret, the labels, the status
    assert world.events.reasons() == []  # the Ready condition says Issued: no Event, one write less
    assert world.kube.reads["secret"] == 0  # a first token's Secret is created without a look
    assert timedelta(seconds=wait) <= 40 * M  # the renewal is due at 40 minutes


async def test_a_pass_at_rest_writes_nothing(world: World) -> None:
    await world.pass_()
    vault, kube = world.ledger.total, world.kube.total_writes
    world.clock.advance(5 * M)
    await world.pass_()
    assert (world.ledger.total, world.kube.total_writes) == (vault, kube)


async def test_a_renewal_costs_at_most_two_vault_calls_and_republishes_the_expiry() -> None:
    world = World(OperatorConfig(drift_check_interval_seconds=86400))  # no drift check in between
    await world.pass_()
    client_id = world.status()["clientId"]
    world.clock.advance(41 * M)
    vault, reads, writes = world.ledger.total, world.kube.reads["secret"], world.kube.total_writes
    await world.pass_()
    assert world.ledger.total - vault <= 2
    assert world.ledger.calls["write-credentials"] == 1  # a renewal touches only the audit record
    assert world.kube.reads["secret"] == reads  # what this process wrote last is what it compares with
    assert world.kube.total_writes - writes == 2  # the Secret's expiresAt and the status
    assert world.status()["renewals"] == 1
    assert world.status()["clientId"] == client_id
    assert world.kube.secret_value(NS, "app", "expiresAt") == world.status()["leaseExpiresAt"]
    assert world.ready()["reason"] == "Renewed"


@pytest.mark.parametrize("theirs", [False, True])
async def test_the_watch_event_of_a_renewal_s_own_write_before_its_answer_is_no_news(theirs: bool) -> None:
    """The watch can deliver the event of the operator's own Secret write before the write's answer
    (a renewal among hundreds): that is no reason to read the Secret again. An event of another
    version meanwhile (someone else's change) still is."""
    world = World(OperatorConfig(drift_check_interval_seconds=86400))
    await world.pass_()
    update = world.kube.update_secret

    async def update_and_tell_the_watch_first(desired: DesiredSecret, *, current: SecretSnapshot) -> SecretSnapshot:
        written = await update(desired, current=current)
        world.deps.runtime.secret_changed("uid-1", written.resource_version)  # our own event, early
        if theirs:
            world.deps.runtime.secret_changed("uid-1", "someone-else-s-version")
        return written

    world.kube.update_secret = update_and_tell_the_watch_first  # type: ignore[method-assign]
    world.clock.advance(41 * M)
    await world.pass_()
    assert world.status()["renewals"] == 1
    reads = world.kube.reads["secret"]
    await world.pass_()
    assert world.kube.reads["secret"] - reads == (1 if theirs else 0)


async def test_a_renewal_finding_its_secret_deleted_unseen_puts_it_back_in_the_same_pass() -> None:
    """The watch missed the deletion (a gap in the stream): the renewal's write is refused as not
    found, and the pass reads again and creates the Secret, with no mint and no backoff."""
    world = World(OperatorConfig(drift_check_interval_seconds=86400))
    await world.pass_()
    client_id = world.status()["clientId"]
    del world.kube.secrets[(NS, "app")]  # no event
    world.clock.advance(41 * M)
    await world.pass_()
    assert world.published() == client_id
    assert world.status()["renewals"] == 1
    assert world.kube.secret_value(NS, "app", "expiresAt") == world.status()["leaseExpiresAt"]
    assert world.ready()["status"] == "True"
    assert world.astra.calls["create"] == 1


async def test_a_token_lives_renews_rotates_and_its_predecessor_dies_after_its_grace(world: World) -> None:
    await world.pass_()
    first = world.status()["clientId"]
    seen = {first}
    end = world.clock() + 3 * H + 10 * M
    while world.clock() < end:  # each pass when it asks to be woken, or every five minutes
        wait = await world.pass_()
        world.clock.advance(min(wait, 300))
        seen.add(world.status()["clientId"])
    current = world.status()["clientId"]
    assert len(seen) >= 2, "the token was never rotated"
    assert world.astra.valid(current)
    assert world.astra.valid_ids() == {current}, "a rotated-out token outlived its grace"
    old = world.ledger.records(ORG_ID)[first]
    assert old.state is RecordState.REVOKED
    assert old.superseded_by is not None
    assert "Rotated" in world.events.reasons()
    assert "SupersededRevoked" in world.events.reasons()


async def test_a_lost_check_and_set_is_read_again_and_decided_at_once(world: World) -> None:
    await world.pass_()
    client_id = world.status()["clientId"]
    world.ledger.bump(ORG_ID, client_id)  # a previous process wrote the record after we read it
    world.clock.advance(41 * M)
    assert await world.pass_() == 0.0  # lost: look again at once, nothing reported
    assert world.ready()["status"] == "True"
    await world.pass_()
    assert world.status()["renewals"] == 1
    assert "VaultUnavailable" not in world.events.reasons()


async def test_vault_down_blocks_waits_for_vault_and_keeps_the_secret(world: World) -> None:
    await world.pass_()
    secret = world.kube.secrets[(NS, "app")]
    world.ledger.down = True
    world.restart()  # nothing cached: the pass must read Vault
    wait = await world.pass_()
    assert world.ready()["reason"] == "VaultUnavailable"
    assert world.kube.secrets[(NS, "app")] == secret
    assert world.deps.runtime.wakeups.parked(VAULT) == 1  # woken as soon as Vault answers
    assert wait <= 30
    world.ledger.down = False
    await world.pass_()
    assert world.ready()["status"] == "True"


async def test_astra_down_makes_a_new_token_wait_not_fail(world: World) -> None:
    world.astra.down = True
    await world.pass_()
    assert world.ready()["reason"] == "AstraError"
    world.astra.down = False
    await world.pass_()
    assert world.ready()["reason"] == "Issued"
    assert len(world.astra.valid_ids()) == 1


async def test_a_restart_mints_nothing_and_reads_the_ledger_once(world: World) -> None:
    await world.pass_()
    client_id = world.status()["clientId"]
    world.restart()
    created = world.astra.calls["create"]
    await world.pass_()
    assert world.astra.calls["create"] == created
    assert world.status()["clientId"] == client_id


async def test_a_deleted_secret_is_restored_from_the_ledger_without_minting(world: World) -> None:
    await world.pass_()
    client_id = world.status()["clientId"]
    del world.kube.secrets[(NS, "app")]
    world.deps.runtime.secret_changed("uid-1")
    await world.pass_()
    assert world.published() == client_id
    assert world.astra.calls["create"] == 1
    assert "SecretRestored" in world.events.reasons()
    assert world.ledger.records(ORG_ID)[client_id].last_action is RecordAction.RESTORED


async def test_revoke_now_revokes_then_replaces_and_clears_the_request(world: World) -> None:
    await world.pass_()
    old = world.status()["clientId"]
    await world.pass_(annotations={"astra-tokens.io/revoke": "now", "astra-tokens.io/requested-by": "bob"})
    new = world.status()["clientId"]
    assert new != old
    assert not world.astra.valid(old)
    assert world.astra.valid(new)
    record = world.ledger.records(ORG_ID)[old]
    assert (record.state, record.revoked_by) == (RecordState.REVOKED, Principal(username="bob"))
    assert "astra-tokens.io/revoke" not in world.kube.annotations.get((NS, "app"), {})


async def test_the_same_request_made_again_is_acted_on_and_a_stale_view_of_the_first_is_not(world: World) -> None:
    """A second revoke=now straight after the first was cleared (no pass saw the annotation gone):
    admission's request id tells the two apart."""
    def asked(request_id: str) -> dict[str, str]:
        return {"astra-tokens.io/revoke": "now", "astra-tokens.io/requested-by": "bob",
                "astra-tokens.io/request-id": request_id}

    await world.pass_()
    first = world.status()["clientId"]
    await world.pass_(annotations=asked("a1"))
    second = world.status()["clientId"]
    await world.pass_(annotations=asked("a1"))  # the watch still shows the handled request
    assert world.status()["clientId"] == second
    await world.pass_(annotations=asked("b2"))
    third = world.status()["clientId"]
    assert len({first, second, third}) == 3
    assert not world.astra.valid(second)


async def test_an_expired_lease_found_after_downtime_is_revoked_and_replaced(world: World) -> None:
    await world.pass_()
    old = world.status()["clientId"]
    world.restart()
    world.clock.advance(H + M)  # the operator was down past the lease
    await world.pass_()
    assert world.ledger.records(ORG_ID)[old].state is RecordState.EXPIRED
    assert not world.astra.valid(old)
    assert world.status()["clientId"] != old
    assert "LeaseExpired" in world.events.reasons()


async def test_an_interrupted_mint_leaves_nothing_in_astra_the_ledger_does_not_know(world: World) -> None:
    # A mint died between the Astra create and the record: slot claimed, intent written, token in Astra.
    owner = OwnerRef(kind="AstraToken", namespace=NS, name="app", uid="uid-1")
    await world.ledger.claim_slot(ORG_ID, "reader", "app", SlotClaim(client_id="", owner=owner,
                                                                     claimed_at=world.clock()))
    identity = TokenIdentity(owner=owner, org_id=ORG_ID, role_name="reader", role_id="r-1", logical_name="app")
    marker = make_marker(identity, "", "0123456789ab", cluster_id=CLUSTER)
    await world.ledger.write_intent(MintIntent(intent_id="uid-1", owner=owner, org_id=ORG_ID, role_id="r-1",
                                               role_name="reader", logical_name="app", marker=marker,
                                               created_at=world.clock()))
    orphan = (await world.astra.create_token(role_ids=["r-1"], description=marker)).client_id
    await world.pass_()
    await world.pass_()
    current = world.status()["clientId"]
    assert not world.astra.valid(orphan)
    assert world.astra.valid_ids() == {current}
    assert "intents/uid-1" not in world.ledger.keys


async def test_deleting_revokes_records_who_and_frees_the_name(world: World) -> None:
    await world.pass_()
    client_id = world.status()["clientId"]
    await world.ledger.write_deletion("uid-1", Principal(username="carol"))
    await delete_token(world.deps, world.body(), world.events)
    assert not world.astra.valid(client_id)
    record = world.ledger.records(ORG_ID)[client_id]
    assert (record.state, record.revoked_by) == (RecordState.REVOKED, Principal(username="carol"))
    assert (NS, "app") not in world.kube.secrets
    assert await world.ledger.read_slot(ORG_ID, "reader", "app") is None
    assert "Revoked" in world.events.reasons()


ABANDONED_BY_DAVE = {"astra-tokens.io/abandon": "true",
                     "astra-tokens.io/abandoned-by": '{"groups":["ops"],"uid":"u-dave","username":"dave"}'}


async def test_abandoning_leaves_the_token_valid_and_names_who_set_it(world: World) -> None:
    await world.pass_()
    client_id = world.status()["clientId"]
    await world.ledger.write_deletion("uid-1", Principal(username="carol"))  # carol deletes it
    await delete_token(world.deps, world.body(annotations=ABANDONED_BY_DAVE), world.events)
    assert world.astra.valid(client_id)
    record = world.ledger.records(ORG_ID)[client_id]
    assert (record.state, record.actor) == (RecordState.ABANDONED,
                                            Principal(username="dave", uid="u-dave", groups=["ops"]))
    assert "carol" in (record.reason or "")
    assert ("Warning", "Abandoned") in [(kind, reason) for kind, reason, _ in world.events.seen]
    assert any("by dave" in message for _, reason, message in world.events.seen if reason == "Abandoned")
    assert await world.ledger.read_slot(ORG_ID, "reader", "app") is None  # the name is free again


async def test_abandon_not_stamped_by_the_webhook_is_ignored_and_the_token_revoked(world: World) -> None:
    # Set while the webhook was off, or before abandoning was a permission: nobody was checked.
    await world.pass_()
    client_id = world.status()["clientId"]
    await delete_token(world.deps, world.body(annotations={"astra-tokens.io/abandon": "true"}), world.events)
    assert not world.astra.valid(client_id)
    assert world.ledger.records(ORG_ID)[client_id].state is RecordState.REVOKED


async def test_a_deletion_while_astra_is_down_keeps_trying_then_hands_over(world: World) -> None:
    await world.pass_()
    world.astra.down = True
    with pytest.raises(PassBlocked) as raised:
        await delete_token(world.deps, world.body(), world.events, patience_seconds=0)
    assert "revocation is retried" in raised.value.blocked.message
    assert "abandon" not in raised.value.blocked.message
    world.astra.down = False
    await delete_token(world.deps, world.body(), world.events)
    assert world.astra.valid_ids() == set()


async def test_a_mint_killed_after_its_record_is_completed_and_published_not_minted_again(world: World) -> None:
    # The slot is claimed (no client id yet), the intent written, the token made and recorded; then the
    # process died before moving the slot and deleting the intent.
    await world.pass_()
    first = world.status()["clientId"]
    found = await world.ledger.read_record(ORG_ID, first, credentials=True)
    assert found is not None
    record = found.record
    owner = OwnerRef(kind="AstraToken", namespace=NS, name="app", uid="uid-1")
    world.ledger.keys.clear()
    world.kube.secrets.clear()
    world.kube.status.clear()
    await world.ledger.claim_slot(ORG_ID, "reader", "app", SlotClaim(client_id="", owner=owner,
                                                                     claimed_at=world.clock()))
    marker = world.astra.tokens[first].description
    await world.ledger.write_intent(MintIntent(intent_id="uid-1", owner=owner, org_id=ORG_ID, role_id="r-1",
                                               role_name="reader", logical_name="app", marker=marker,
                                               created_at=world.clock()))
    await world.ledger.write_record(record, expected_version=0)
    world.restart()
    while await world.pass_() == 0.0:  # a pass that learns the slot was ours already looks again at once
        pass
    assert world.status()["clientId"] == first
    assert world.published() == first
    assert world.astra.calls["create"] == 1
    assert world.astra.valid_ids() == {first}
    assert "intents/uid-1" not in world.ledger.keys


async def test_a_first_mint_asks_for_the_front_of_the_orgs_line_and_a_rotation_does_not() -> None:
    w = World()
    await w.pass_()
    await w.pass_(annotations={"astra-tokens.io/rotate": "now", "astra-tokens.io/requested-by": "bob"})
    assert w.astra.creates_first == [True, False]


async def test_a_token_gone_from_astra_before_its_max_expiry_is_recorded_deleted_externally(world: World) -> None:
    await world.pass_()
    client_id = world.status()["clientId"]
    world.astra.tokens[client_id].revoked = True  # someone deleted it in the Astra UI
    await delete_token(world.deps, world.body(), world.events)
    assert world.ledger.records(ORG_ID)[client_id].state is RecordState.DELETED_EXTERNALLY


async def test_a_token_gone_from_astra_past_its_max_expiry_is_recorded_expired_not_deleted(world: World) -> None:
    await world.pass_()
    client_id = world.status()["clientId"]
    world.clock.advance(world.ledger.records(ORG_ID)[client_id].max_expires_at - world.clock())  # Astra's expiry
    assert not world.astra.valid(client_id)
    await delete_token(world.deps, world.body(), world.events)
    record = world.ledger.records(ORG_ID)[client_id]
    assert record.state is RecordState.EXPIRED
    assert "max expiry had passed" in (record.reason or "")


async def test_a_token_astra_expired_at_its_whole_second_is_recorded_expired_not_deleted(world: World) -> None:
    """Astra is given the max expiry to the second: minted at .7 s, the token is gone 0.7 s before
    the record's own figure, and a revocation then (a rotation's grace ends at the max expiry) finds
    it gone. Nobody deleted it."""
    world.clock.advance(0.7)
    await world.pass_()
    client_id = world.status()["clientId"]
    world.clock.advance(world.ledger.records(ORG_ID)[client_id].max_expires_at - world.clock() - timedelta(seconds=0.3))
    assert not world.astra.valid(client_id)
    await delete_token(world.deps, world.body(), world.events)
    assert world.ledger.records(ORG_ID)[client_id].state is RecordState.EXPIRED


async def test_a_token_released_by_a_paused_replica_is_read_afresh_when_run_again(world: World) -> None:
    """A peer ran it meanwhile (here: renewed it, and wrote the status): nothing this replica
    remembered from before its pause is trusted."""
    await world.pass_()
    world.deps.runtime.release("uid-1")
    peer = World()
    peer.ledger, peer.kube, peer.astra = world.ledger, world.kube, world.astra  # the same systems
    peer.clock.now = world.clock.now = world.clock() + 41 * M
    peer.deps = peer._process()
    await peer.pass_()  # the peer renews it
    renewed = world.ledger.records(ORG_ID)[world.status()["clientId"]]
    reads = world.ledger.calls["read-credentials"], world.kube.reads["secret"]

    await world.pass_()

    assert world.ledger.calls["read-credentials"] == reads[0] + 1  # the ledger read again
    assert world.kube.reads["secret"] == reads[1] + 1  # and the Secret
    assert world.ledger.records(ORG_ID)[renewed.client_id] == renewed  # no second renewal over the peer's
    assert world.status()["renewals"] == 1


async def test_a_restart_reads_the_token_from_its_credentials_and_republishes_nothing(world: World) -> None:
    await world.pass_()
    secret = world.kube.secrets[(NS, "app")]
    world.restart()
    world.deps.runtime.secret_changed("uid-1")
    await world.pass_()
    assert world.ledger.calls["read-credentials"] == 1  # the current record's, read once with it
    assert world.kube.secrets[(NS, "app")] == secret  # what the credentials say is what was published
    assert world.ready()["status"] == "True"


async def test_a_token_whose_credentials_vanished_from_the_ledger_is_revoked_and_replaced(world: World) -> None:
    await world.pass_()
    lost = world.status()["clientId"]
    del world.ledger.keys[f"credentials/{ORG_ID}/{lost}"]  # deleted from Vault by hand
    world.restart()
    await world.pass_()
    current = world.status()["clientId"]
    assert current != lost
    assert not world.astra.valid(lost)  # never left valid and unpublishable
    assert world.astra.valid_ids() == {current}
    assert world.published() == current
    record = world.ledger.records(ORG_ID)[lost]
    assert record.state is RecordState.REVOKED
    assert "missing from the ledger" in (record.reason or "")
    assert "Revoked" in world.events.reasons()


async def test_a_secret_that_blocked_the_token_is_looked_at_again_once_it_is_gone(world: World) -> None:
    """A Secret of the same name owned by someone else (the Secret of an AstraToken deleted without
    its finalizer, until Kubernetes' garbage collector takes it) blocks the token; once it is gone,
    the next pass publishes the token's own Secret, never reports Ready without one."""
    await world.pass_()
    first = world.published()
    foreign = world.kube.secrets[(NS, "app")]
    world.kube.secrets[(NS, "app")] = foreign.model_copy(update={"owner_uids": ["someone-else"]})
    world.deps.runtime.secret_changed("uid-1")
    await world.pass_()
    assert world.ready()["reason"] == "Conflict"
    del world.kube.secrets[(NS, "app")]  # taken away; nothing tells this token
    await world.pass_()
    assert world.ready()["status"] == "True"
    assert world.published() == first


async def test_a_token_blocked_on_a_taken_name_gets_it_once_the_holder_lets_it_go(world: World) -> None:
    await world.pass_()
    await world.pass_("second", uid="uid-2", logicalName="app")  # its mint finds the name taken
    await world.pass_("second", uid="uid-2", logicalName="app")  # read from the ledger: still taken
    assert world.ready("second")["reason"] == "Conflict"
    await delete_token(world.deps, world.body(), world.events)  # the holder goes, and frees the name
    await world.pass_("second", uid="uid-2", logicalName="app")
    assert world.ready("second")["status"] == "True"


async def test_a_refused_report_waits_for_the_apiserver_like_any_step_and_is_written_next_pass(world: World) -> None:
    """The labels patch of the report fails (a webhook answered 500): the pass does not crash into
    Kopf's minute-long retry; it waits for the apiserver, and the next pass reports."""
    world.kube.refuse_metadata_patches = 1
    wait = await world.pass_()
    assert wait <= 5
    assert world.ready()["status"] == "False"
    assert world.ready()["reason"] == "KubernetesError"
    await world.pass_()
    assert world.ready()["status"] == "True"
    assert world.kube.labels[(NS, "app")]["astra-tokens.io/client-id"] == world.status()["clientId"]
