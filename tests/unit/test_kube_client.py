"""What the client decides before any request: the merge patches it sends,
and the calls it refuses outright. No apiserver here (that is
tests/integration/test_kube.py)."""

from __future__ import annotations

import pytest
import urllib3
from kubernetes import client as k8s

from astra_token_operator.kube import Kube, KubeUnavailable
from astra_token_operator.kube.patches import metadata_patch, restart_patch, status_patch

# Nothing listens on port 9 of the loopback; none of these tests gets that far.
NOWHERE = "http://127.0.0.1:9"


def test_restart_patch_touches_only_the_pod_template_annotation() -> None:
    assert restart_patch("astra-tokens.io/restartedAt", "2025-03-01T12:00:00Z") == {
        "spec": {"template": {"metadata": {"annotations": {"astra-tokens.io/restartedAt": "2025-03-01T12:00:00Z"}}}}
    }


def test_metadata_patch_sets_and_removes_keys() -> None:
    assert metadata_patch({"a": "1", "gone": None}, {"note": None}) == {
        "metadata": {"labels": {"a": "1", "gone": None}, "annotations": {"note": None}}
    }
    assert metadata_patch(None, {"x": "y"}) == {"metadata": {"annotations": {"x": "y"}}}


@pytest.mark.parametrize(("labels", "annotations"), [(None, None), ({}, {}), ({}, None)])
def test_metadata_patch_with_nothing_to_change_is_none(
    labels: dict[str, str | None] | None, annotations: dict[str, str | None] | None
) -> None:
    assert metadata_patch(labels, annotations) is None


def test_status_patch_merges_under_status() -> None:
    assert status_patch({"phase": "Ready", "clientId": None}) == {"status": {"phase": "Ready", "clientId": None}}


async def test_restarting_an_unknown_kind_is_refused_before_any_request() -> None:
    kube = Kube.from_configuration(k8s.Configuration(host=NOWHERE), workers=1)
    try:
        with pytest.raises(ValueError, match="cannot restart a ReplicaSet"):
            await kube.restart_rollout("n", "ReplicaSet", "web", annotation="a", value="v")  # type: ignore[arg-type]
    finally:
        await kube.aclose()


async def test_a_closed_client_refuses_calls() -> None:
    kube = Kube.from_configuration(k8s.Configuration(host=NOWHERE), workers=1)
    await kube.aclose()
    await kube.aclose()  # closing twice is fine
    with pytest.raises(KubeUnavailable, match="closed") as raised:
        await kube.read_secret("n", "s")
    assert raised.value.maybe_applied is False


async def test_a_client_built_here_pools_a_connection_per_worker_and_resends_nothing() -> None:
    configuration = k8s.Configuration(host=NOWHERE)
    await Kube.from_configuration(configuration, workers=24).aclose()
    assert configuration.connection_pool_maxsize == 24
    retries = configuration.retries
    assert isinstance(retries, urllib3.Retry)
    assert retries.connect == 2
    assert retries.read == 0
    assert retries.status == 0


async def test_patching_an_objects_status_through_patch_object_is_refused_before_any_request() -> None:
    kube = Kube.from_configuration(k8s.Configuration(host=NOWHERE), workers=1)
    try:
        with pytest.raises(ValueError, match="metadata and spec only, not status"):
            await kube.patch_object("astraroles", "r", {"spec": {"ttl": "1h"}, "status": {"roleId": "x"}})
    finally:
        await kube.aclose()


async def test_a_closed_client_refuses_custom_object_calls_without_sending_them() -> None:
    kube = Kube.from_configuration(k8s.Configuration(host=NOWHERE), workers=1)
    await kube.aclose()
    calls = [
        kube.list_objects("astraroles", "astra-tokens.io/synced-from=acme"),
        kube.create_object("astraroles", {"metadata": {"name": "r"}}),
        kube.patch_object("astraroles", "r", {"spec": {"ttl": "1h"}}),
        kube.delete_object("astraroles", "r", uid="u"),
    ]
    for call in calls:
        with pytest.raises(KubeUnavailable, match="closed") as raised:
            await call
        assert raised.value.maybe_applied is False
