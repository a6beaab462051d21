"""The holders the CREATE review checks: kept from watch events, so what a review sees is what the
latest event of each AstraToken said."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from astra_token_operator.policy.admission_rules import Holder
from astra_token_operator.reconcile.holders import Holders, holder_key

KEY = ("prod", "reader", "billing")


def test_a_token_seen_holds_its_key_and_no_other() -> None:
    holders = Holders()
    holders.seen(KEY, Holder("team-a", "app", "uid-1"))
    assert holders.holding(KEY) == [Holder("team-a", "app", "uid-1")]
    assert holders.holding(("prod", "reader", "other")) == []


def test_a_later_event_replaces_the_earlier_one() -> None:
    holders = Holders()
    holders.seen(KEY, Holder("team-a", "app", "uid-1"))
    holders.seen(KEY, Holder("team-a", "app", "uid-1", deleting=True))
    assert holders.holding(KEY) == [Holder("team-a", "app", "uid-1", deleting=True)]
    assert len(holders) == 1


def test_a_deleted_token_holds_nothing() -> None:
    holders = Holders()
    holders.seen(KEY, Holder("team-a", "app", "uid-1"))
    holders.gone("uid-1")
    holders.gone("never-seen")
    assert holders.holding(KEY) == []
    assert len(holders) == 0


def test_two_tokens_on_one_key_are_both_named() -> None:
    holders = Holders()
    holders.seen(KEY, Holder("team-a", "app", "uid-1"))
    holders.seen(KEY, Holder("team-b", "app", "uid-2"))
    assert {h.uid for h in holders.holding(KEY)} == {"uid-1", "uid-2"}


def test_the_key_is_the_logical_name_lower_cased_or_else_the_name() -> None:
    assert holder_key({"orgRef": "prod", "roleRef": "reader", "logicalName": "Billing"}, "app") == KEY
    assert holder_key({"orgRef": "prod", "roleRef": "reader"}, "Billing") == KEY
    assert holder_key({"orgRef": "prod", "roleRef": "reader", "logicalName": ""}, "billing") == KEY


UIDS = st.sampled_from(["u1", "u2", "u3"])
KEYS = st.sampled_from([("o", "r", "a"), ("o", "r", "b"), ("o", "s", "a")])
EVENTS = st.lists(st.one_of(st.tuples(st.just("seen"), UIDS, KEYS, st.booleans()),
                            st.tuples(st.just("gone"), UIDS)), max_size=30)


@given(EVENTS)
def test_what_is_held_is_what_each_tokens_latest_event_said(events: list[tuple[object, ...]]) -> None:
    holders, latest = Holders(), {}
    for event in events:
        if event[0] == "seen":
            _, uid, key, deleting = event
            holder = Holder("ns", f"name-{uid}", str(uid), deleting=bool(deleting))
            holders.seen(key, holder)  # type: ignore[arg-type]
            latest[uid] = (key, holder)
        else:
            holders.gone(str(event[1]))
            latest.pop(event[1], None)
    for key in [("o", "r", "a"), ("o", "r", "b"), ("o", "s", "a")]:
        expected = sorted((h.uid for k, h in latest.values() if k == key))
        assert sorted(h.uid for h in holders.holding(key)) == expected
    assert len(holders) == len(latest)
