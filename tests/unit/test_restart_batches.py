"""Restarts of one workload for several tokens within a window are one restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from astra_token_operator.reconcile.restart_batches import RestartBatches

T0 = datetime(2030, 1, 1, tzinfo=UTC)
WINDOW = timedelta(seconds=30)
WEB = ("team-a", "Deployment", "web")


def test_asks_within_the_window_join_one_batch_with_one_stamp() -> None:
    batches = RestartBatches()
    first = batches.join(WEB, "2030-01-01T00:00:00Z", "cart", T0, WINDOW)
    second = batches.join(WEB, "2030-01-01T00:00:10Z", "checkout", T0 + timedelta(seconds=10), WINDOW)
    assert second is first
    assert first.due == T0 + WINDOW  # the first ask sets the time: later ones do not push it out
    assert first.tokens == {"cart", "checkout"}
    assert first.stamp == "2030-01-01T00:00:10Z"


def test_an_ask_after_the_restart_opens_a_new_batch_and_a_repeat_is_answered_by_the_old_one() -> None:
    batches = RestartBatches()
    first = batches.join(WEB, "a", "cart", T0, WINDOW)
    first.done = True
    assert batches.join(WEB, "a", "cart", T0 + WINDOW, WINDOW) is first  # the same ask, after a crash
    later = batches.join(WEB, "b", "cart", T0 + 2 * WINDOW, WINDOW)
    assert later is not first
    assert later.due == T0 + 3 * WINDOW


def test_other_workloads_have_batches_of_their_own_and_done_ones_are_forgotten() -> None:
    batches = RestartBatches()
    web = batches.join(WEB, "a", "cart", T0, WINDOW)
    api = batches.join(("team-a", "Deployment", "api"), "a", "cart", T0, WINDOW)
    assert web is not api
    web.done = api.done = True
    batches.forget_done(T0 + 10 * WINDOW, keep=WINDOW)
    assert len(batches) == 0
