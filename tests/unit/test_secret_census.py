"""The Secret census: one metadata-only list per drift check interval stands behind the watch on
managed Secrets, in place of a GET per token (policy/secret_census.py, reconcile/secret_census.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest
from pydantic import SecretStr
from test_reconcile_tokens import NS, World

from astra_token_operator.config import OperatorConfig
from astra_token_operator.kube import KubeForbidden, KubeUnavailable, SecretSnapshot, SecretVersion
from astra_token_operator.policy.secret_census import KnownSecret, unconfirmed
from astra_token_operator.reconcile.secret_census import run_census, take_census

KNOWN = KnownSecret("uid-1", "team-a", "app", "7")


@pytest.mark.parametrize(("listed", "expected"), [
    pytest.param({("team-a", "app"): "7"}, [], id="as-last-seen"),
    pytest.param({("team-a", "app"): "9"}, [KNOWN], id="changed-since"),
    pytest.param({}, [KNOWN], id="deleted-or-unlabelled"),
    pytest.param({("team-b", "app"): "7"}, [KNOWN], id="same-name-elsewhere-is-not-it"),
])
def test_a_secret_not_listed_at_the_version_last_seen_is_unconfirmed(
    listed: dict[tuple[str, str], str], expected: list[KnownSecret],
) -> None:
    assert unconfirmed([KNOWN], listed) == expected


@pytest.fixture
def world() -> World:
    return World(OperatorConfig(drift_check_interval_seconds=600))


async def test_at_rest_a_token_never_reads_its_secret_and_the_census_lists_once(world: World) -> None:
    await world.pass_()
    for _ in range(3):  # 30 minutes of passes: three drift check intervals, no renewal due yet (40 m)
        world.clock.advance(10 * 60)
        await world.pass_()
    assert world.kube.reads["secret"] == 0
    woken = world.deps.runtime.wakeups.register("uid-1", "token")
    assert await take_census(world.deps) == 0
    assert world.kube.reads["list secrets"] == 1
    assert not woken.is_set()


@pytest.mark.parametrize("unseen_change", ["edited", "deleted", "unlabelled"])
async def test_a_secret_changed_unseen_by_the_watch_wakes_its_token_which_restores_it(
    world: World, unseen_change: str,
) -> None:
    await world.pass_()
    client_id = world.status()["clientId"]
    secret = world.kube.secrets[(NS, "app")]
    if unseen_change == "edited":
        world.kube.edit_secret(NS, "app", data={**secret.data, "token": SecretStr("AstraCS:not-the-token")})
    elif unseen_change == "deleted":
        del world.kube.secrets[(NS, "app")]
    else:
        world.kube.edit_secret(NS, "app", labels={k: v for k, v in secret.labels.items()
                                                  if k != "astra-tokens.io/managed"})
    woken = world.deps.runtime.wakeups.register("uid-1", "token")

    assert await take_census(world.deps) == 1
    assert woken.is_set()
    await world.pass_()

    restored = world.kube.secrets[(NS, "app")]
    assert restored.data["token"].get_secret_value() == world.astra.tokens[client_id].token
    assert restored.labels == secret.labels
    # Its data put back is told (an Event and the ledger); its labels alone are simply put back.
    assert ("SecretRestored" in world.events.reasons()) is (unseen_change != "unlabelled")
    assert world.astra.calls["create"] == 1  # restored from the ledger, nothing minted
    assert await take_census(world.deps) == 0  # and as last seen again


async def test_a_census_older_than_the_tokens_own_write_wakes_nobody(world: World) -> None:
    await world.pass_()
    known = world.deps.runtime.known_secrets()
    world.clock.advance(41 * 60)  # a renewal rewrites the Secret (its expiresAt) meanwhile
    await world.pass_()
    assert [world.deps.runtime.secret_unconfirmed(secret) for secret in known] == [False]


async def test_a_process_holding_no_token_makes_no_call(world: World) -> None:
    assert await take_census(world.deps) == 0
    assert world.kube.reads["list secrets"] == 0


async def test_watching_some_namespaces_the_census_lists_only_those_holding_its_secrets() -> None:
    world = World(OperatorConfig(namespaces=["team-*"]))
    await world.pass_()
    listed: list[list[str]] = []
    list_versions = world.kube.list_secret_versions

    async def spy(label_selector: str, namespaces: Iterable[str] = ()) -> list[SecretVersion]:
        listed.append(list(namespaces))
        return await list_versions(label_selector, namespaces)

    world.kube.list_secret_versions = spy  # type: ignore[method-assign]
    assert await take_census(world.deps) == 0
    assert listed == [[NS]]


async def test_a_namespace_that_cannot_be_listed_leaves_the_others_compared() -> None:
    world = World(OperatorConfig(namespaces=["team-*"]))
    await world.pass_()
    world.kube.edit_secret(NS, "app", annotations={"edited": "yes"})
    elsewhere = world.deps.runtime.token("uid-2")  # a token whose Secret lives where a Role was removed
    elsewhere.secret_seen = SecretSnapshot(namespace="team-b", name="db", uid="s-2", resource_version="1")
    elsewhere.secret_dirty = False
    list_versions = world.kube.list_secret_versions

    async def forbidden_in_team_b(label_selector: str, namespaces: Iterable[str] = ()) -> list[SecretVersion]:
        if "team-b" in namespaces:
            raise KubeForbidden("list Secret: forbidden", operation="list", kind="Secret", namespace="team-b")
        return await list_versions(label_selector, namespaces)

    world.kube.list_secret_versions = forbidden_in_team_b  # type: ignore[method-assign]
    assert await take_census(world.deps) == 1  # team-a's edit found
    assert not elsewhere.secret_dirty  # team-b's Secret is not taken for gone: compared next time


async def run_until_sleep(world: World, count: int) -> list[float]:
    """Run the census loop until its ``count``-th sleep; the sleeps it asked for."""
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == count:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await run_census(world.deps, sleep=sleep)
    return sleeps


async def test_the_census_outlives_any_failure(world: World, caplog: pytest.LogCaptureFixture) -> None:
    await world.pass_()

    async def broken(label_selector: str, namespaces: Iterable[str] = ()) -> list[SecretVersion]:
        raise RuntimeError("a bug")

    world.kube.list_secret_versions = broken  # type: ignore[method-assign]
    sleeps = await run_until_sleep(world, 3)
    assert len(sleeps) == 3  # two censuses failed, and the loop went on
    told = [r.getMessage() for r in caplog.records if "the census failed (RuntimeError)" in r.getMessage()]
    assert len(told) == 2
    assert not [m for m in told if "a bug" in m]  # the type alone: a message could hold anything


async def test_the_census_runs_every_interval_and_outlives_a_failed_list(world: World) -> None:
    await world.pass_()
    original = world.kube.list_secret_versions
    failures = [KubeUnavailable("list Secret: the apiserver is unreachable", operation="list", kind="Secret")]

    async def flaky(label_selector: str, namespaces: Iterable[str] = ()) -> list[SecretVersion]:
        if failures:
            raise failures.pop()
        return await original(label_selector, namespaces)

    world.kube.list_secret_versions = flaky  # type: ignore[method-assign]
    sleeps = await run_until_sleep(world, 4)
    assert 300 <= sleeps[0] <= 600  # the first after part of an interval: replicas and restarts spread
    assert sleeps[1:] == [600, 600, 600]
    assert world.kube.reads["list secrets"] == 2  # the failed census was told and the next ones ran
