"""Which failed Kubernetes calls are tried again, after how long, and which
never are (a write that may already have happened)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from astra_token_operator.kube import (
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeNotFound,
    KubeUnavailable,
    RetryPolicy,
)
from astra_token_operator.kube.retry import next_delay, with_retries

POLICY = RetryPolicy(attempts=4, initial_backoff=0.1, max_backoff=0.5)
WHERE: dict[str, Any] = {"operation": "read", "kind": "Secret", "namespace": "n", "name": "s"}


def unavailable(*, maybe_applied: bool = True, retry_after: float | None = None) -> KubeUnavailable:
    return KubeUnavailable("down", **WHERE, maybe_applied=maybe_applied, retry_after=retry_after)


@pytest.mark.parametrize(("error", "attempt", "idempotent", "expected"), [
    (unavailable(), 1, True, 0.1),
    (unavailable(), 2, True, 0.2),
    (unavailable(), 3, True, 0.4),
    (unavailable(), 4, True, None),  # attempts used up
    (unavailable(retry_after=0.3), 1, True, 0.3),  # the server's Retry-After wins ...
    (unavailable(retry_after=30), 1, True, 0.5),  # ... up to the cap
    (unavailable(maybe_applied=False), 1, False, 0.1),  # never sent, or 429: safe for any write
    (unavailable(maybe_applied=True), 1, False, None),  # a create/update that may have happened
    (KubeNotFound("gone", **WHERE), 1, True, None),
    (KubeConflict("moved", **WHERE), 1, True, None),
    (KubeForbidden("no", **WHERE), 1, True, None),
])
def test_next_delay(error: KubeError, attempt: int, idempotent: bool, expected: float | None) -> None:
    assert next_delay(error, attempt=attempt, idempotent=idempotent, policy=POLICY) == pytest.approx(expected)


class Script:
    """A call that fails with the given errors, then returns 'ok'."""

    def __init__(self, *errors: KubeError) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def recorder() -> tuple[list[float], Callable[[float], Awaitable[None]]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    return slept, sleep


async def test_a_read_is_retried_through_brief_outages() -> None:
    slept, sleep = recorder()
    call = Script(unavailable(), unavailable(retry_after=0.25))
    assert await with_retries(call, idempotent=True, policy=POLICY, sleep=sleep) == "ok"
    assert call.calls == 3
    assert slept == [0.1, 0.25]


async def test_a_lasting_outage_raises_after_the_last_attempt() -> None:
    slept, sleep = recorder()
    call = Script(*(unavailable() for _ in range(10)))
    with pytest.raises(KubeUnavailable):
        await with_retries(call, idempotent=True, policy=POLICY, sleep=sleep)
    assert call.calls == 4
    assert slept == [0.1, 0.2, 0.4]


async def test_a_create_that_may_have_happened_is_not_sent_again() -> None:
    slept, sleep = recorder()
    call = Script(unavailable(maybe_applied=True))
    with pytest.raises(KubeUnavailable):
        await with_retries(call, idempotent=False, policy=POLICY, sleep=sleep)
    assert call.calls == 1
    assert slept == []


async def test_a_create_that_never_left_is_sent_again() -> None:
    _slept, sleep = recorder()
    call = Script(unavailable(maybe_applied=False))
    assert await with_retries(call, idempotent=False, policy=POLICY, sleep=sleep) == "ok"
    assert call.calls == 2


async def test_answers_are_not_retried() -> None:
    slept, sleep = recorder()
    call = Script(KubeNotFound("gone", **WHERE))
    with pytest.raises(KubeNotFound):
        await with_retries(call, idempotent=True, policy=POLICY, sleep=sleep)
    assert call.calls == 1
    assert slept == []
