"""Sidecar mode's pod events against the in-memory systems: a labelled pod gets one AstraToken of
its own, whatever events repeat; it goes when the pod is gone or finished; a pod whose request
cannot be served gets nothing and says why in the log."""

from __future__ import annotations

from typing import Any

import pytest
from test_reconcile_tokens import NS, World

from astra_token_operator.reconcile.pods import reconcile_pod

SECRET = "astra-token-ab12"


def pod(phase: str = "Running", uid: str = "pod-uid-1", **annotations: str) -> dict[str, Any]:
    return {"metadata": {"name": "web-1", "namespace": NS, "uid": uid,
                         "annotations": {"astra-tokens.io/role": "reader", "astra-tokens.io/secret": SECRET,
                                         **annotations}},
            "spec": {"containers": [{"name": "app"}]}, "status": {"phase": phase}}


def tokens(w: World) -> list[dict[str, Any]]:
    return [body for (plural, _, _), body in w.kube.objects.items() if plural == "astratokens"]


async def test_a_labelled_pod_gets_one_token_of_its_own_however_often_it_is_seen() -> None:
    w = World()
    for event in ("ADDED", "MODIFIED", "MODIFIED", None):
        await reconcile_pod(w.deps, pod(), event)
    (token,) = tokens(w)
    assert token["metadata"]["name"] == SECRET
    assert token["spec"]["orgRef"] == "acme"
    assert token["metadata"]["ownerReferences"][0]["uid"] == "pod-uid-1"
    assert w.kube.writes["create astratokens"] == 1


async def test_after_a_restart_a_pod_whose_token_exists_costs_one_refused_create_and_nothing_else() -> None:
    w = World()
    await reconcile_pod(w.deps, pod(), "ADDED")
    w.restart()
    await reconcile_pod(w.deps, pod(), None)
    await reconcile_pod(w.deps, pod(), "MODIFIED")
    assert len(tokens(w)) == 1


@pytest.mark.parametrize(("event", "phase"), [("DELETED", "Running"), ("MODIFIED", "Succeeded"),
                                              ("MODIFIED", "Failed")])
async def test_a_pod_gone_or_finished_has_its_token_deleted_and_never_remade(event: str, phase: str) -> None:
    w = World()
    await reconcile_pod(w.deps, pod(), "ADDED")
    await reconcile_pod(w.deps, pod(phase), event)
    assert tokens(w) == []
    if event != "DELETED":
        await reconcile_pod(w.deps, pod(phase), "MODIFIED")  # a finished pod lingers and is seen again
        assert tokens(w) == []


async def test_a_role_not_verified_yet_still_gets_the_pod_its_token_from_the_role_as_written() -> None:
    w = World()
    w.kube.objects[("astraroles", None, "fresh")] = {"metadata": {"name": "fresh"},
                                                     "spec": {"orgRef": "acme", "ttl": "1h", "maxTtl": "2h"}}
    await reconcile_pod(w.deps, pod(**{"astra-tokens.io/role": "fresh"}), "ADDED")
    (token,) = tokens(w)
    assert (token["spec"]["orgRef"], token["spec"]["roleRef"]) == ("acme", "fresh")


@pytest.mark.parametrize(("annotations", "said"), [
    ({"astra-tokens.io/role": "gone"}, "AstraRole 'gone' does not exist"),
    ({"astra-tokens.io/ttl": "soon"}, "is not a duration"),
])
async def test_a_pod_whose_request_cannot_be_served_gets_nothing_and_the_log_says_why(
    annotations: dict[str, str], said: str, caplog: pytest.LogCaptureFixture,
) -> None:
    w = World()
    await reconcile_pod(w.deps, pod(**annotations), "ADDED")
    assert tokens(w) == []
    assert said in caplog.text


async def test_a_pod_the_webhook_did_not_inject_is_left_alone() -> None:
    w = World()
    body = pod()
    del body["metadata"]["annotations"]["astra-tokens.io/secret"]
    await reconcile_pod(w.deps, body, "ADDED")
    await reconcile_pod(w.deps, body, "DELETED")
    assert w.kube.total_writes == 0
