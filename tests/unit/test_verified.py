"""The in-memory verified of orgs and roles: publishing says whether
dependants should look again."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from astra_token_operator.models import AstraOrgSpec
from astra_token_operator.policy.token_plan import Presence
from astra_token_operator.reconcile.verified import OrgState, RoleState, Verified

SPEC = AstraOrgSpec.model_validate({
    "orgId": "6f2d5b0e-1c3a-4b7e-9d2f-0a1b2c3d4e5f",
    "rootTokenRef": {"vault": {"path": "astra/root"}},
    "allowedNamespaces": ["*"],
})
READY = OrgState(name="acme", spec=SPEC, ready=True, reason="Verified", message="ok",
                 root_token=SecretStr("root-token-1"), org_name="Acme Corp")


def role(name: str, org_ref: str, **changes: Any) -> RoleState:
    state = RoleState(name=name, org_ref=org_ref, role_name=name, ready=True, reason="Verified", message="ok")
    return replace(state, **changes)


def test_a_new_org_is_news() -> None:
    verified = Verified()
    assert verified.publish_org(READY) is True
    assert verified.org("acme") is READY
    assert verified.orgs() == [READY]
    assert READY.org_id == SPEC.org_id


@pytest.mark.parametrize(("changes", "news"), [
    ({}, False),
    ({"message": "verified again"}, False),
    ({"org_name": "Acme Inc"}, False),
    ({"spec": SPEC.model_copy(update={"allowed_namespaces": ["team-*"]})}, False),
    ({"root_token": SecretStr("root-token-1")}, False),  # the same token, a new object
    ({"ready": False, "reason": "Unreachable"}, True),
    ({"root_token": SecretStr("root-token-2")}, True),
    ({"root_token": None}, True),
])
def test_an_org_is_news_only_when_its_readiness_or_root_token_changes(changes: dict[str, Any],
                                                                       news: bool) -> None:
    verified = Verified()
    verified.publish_org(READY)
    updated = replace(READY, **changes)
    assert verified.publish_org(updated) is news
    assert verified.org("acme") is updated


def test_an_org_becoming_ready_again_is_news() -> None:
    verified = Verified()
    verified.publish_org(replace(READY, ready=False))
    assert verified.publish_org(READY) is True


def test_a_role_is_news_whenever_anything_about_it_changes() -> None:
    verified = Verified()
    reader = role("reader", "acme")
    assert verified.publish_role(reader) is True
    assert verified.publish_role(role("reader", "acme")) is False
    assert verified.publish_role(role("reader", "acme", ttl=timedelta(hours=2))) is True


def test_roles_of_lists_only_the_roles_of_that_org() -> None:
    verified = Verified()
    for state in (role("reader", "acme"), role("writer", "acme"), role("admin", "globex")):
        verified.publish_role(state)
    assert sorted(r.name for r in verified.roles_of("acme")) == ["reader", "writer"]
    assert [r.name for r in verified.roles_of("globex")] == ["admin"]
    assert verified.roles_of("initech") == []


def test_forgotten_orgs_and_roles_are_gone() -> None:
    verified = Verified()
    verified.publish_org(READY)
    verified.publish_role(role("reader", "acme"))
    verified.forget_org("acme")
    verified.forget_role("reader")
    verified.forget_org("never-there")
    assert (verified.org("acme"), verified.role("reader"), verified.orgs(), verified.roles_of("acme")) == (
        None, None, [], [])
    assert verified.publish_org(READY) is True  # back again: news


# --- before and after the start-up listing ----------------------------------------------------------

def test_before_the_listing_every_unknown_org_is_pending_never_absent() -> None:
    verified = Verified()
    assert verified.org_presence("acme") is Presence.PENDING
    assert verified.role_presence("reader") is Presence.PENDING


def test_after_the_listing_a_listed_org_is_pending_until_published_and_others_are_absent() -> None:
    verified = Verified()
    verified.record_listing({"acme"}, {"reader"})
    assert (verified.org_presence("acme"), verified.org_presence("other")) == (Presence.PENDING, Presence.ABSENT)
    assert verified.role_presence("reader") is Presence.PENDING
    verified.publish_org(READY)
    assert verified.org_presence("acme") is Presence.PUBLISHED
    verified.note_org("new-org")  # its daemon just started
    assert verified.org_presence("new-org") is Presence.PENDING
    verified.forget_org("acme")
    assert verified.org_presence("acme") is Presence.ABSENT


async def test_waiting_for_an_org_ends_when_it_is_published_ready() -> None:
    verified = Verified()
    waiter = asyncio.ensure_future(verified.wait_for_org("acme", 5.0))
    await asyncio.sleep(0)
    verified.publish_org(replace(READY, ready=False, reason="Unreachable"))
    await asyncio.sleep(0)
    assert not waiter.done()  # published, but not Ready: still waiting
    verified.publish_org(READY)
    assert await asyncio.wait_for(waiter, 1.0) is READY


async def test_waiting_for_an_org_gives_what_is_known_when_the_time_is_up() -> None:
    verified = Verified()
    assert await verified.wait_for_org("acme", 0.01) is None
    verified.publish_org(replace(READY, ready=False))
    not_ready = await verified.wait_for_org("acme", 0.01)
    assert not_ready is not None
    assert not not_ready.ready
    assert await verified.wait_for_org("acme", 0.01, ready=False) is not None
