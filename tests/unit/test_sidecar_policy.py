"""Sidecar mode's pure decisions: what a pod asks for, why it is refused, what is injected, and the
AstraToken the operator makes for it."""

from __future__ import annotations

from typing import Any

import pytest

from astra_token_operator.models import AstraRoleSpec
from astra_token_operator.policy.sidecar import (
    DEFAULT_MOUNT_PATH,
    ENV_NAME,
    VOLUME_NAME,
    PodRequest,
    PodRequestProblem,
    finished,
    injected_spec,
    read_request,
    request_problems,
    secret_name_for,
    token_for_pod,
)

ROLE = AstraRoleSpec.model_validate({"orgRef": "edge", "roleId": "r-1", "ttl": "1h", "maxTtl": "4h"})


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web-1", "namespace": "team-a", "uid": "pod-uid-1",
                         "annotations": {"astra-tokens.io/role": "edge-rw", "astra-tokens.io/secret": "astra-token-ab"},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "web-7d9f"}]},
            "spec": {"containers": [{"name": "app"},
                                    {"name": "proxy", "volumeMounts": [{"name": "x", "mountPath": "/x"}]}],
                     "initContainers": [{"name": "init"}], **spec}}


def test_a_pod_asking_with_the_role_alone_gets_every_default() -> None:
    assert read_request({"astra-tokens.io/role": "edge-rw"}) == PodRequest(role="edge-rw")


def test_every_optional_annotation_is_read() -> None:
    request = read_request({"astra-tokens.io/role": "edge-rw", "astra-tokens.io/mount-path": "/etc/astra",
                            "astra-tokens.io/containers": "app, proxy", "astra-tokens.io/ttl": "30m",
                            "astra-tokens.io/metadata.team": "orders", "astra-tokens.io/env": "true"})
    assert request == PodRequest(role="edge-rw", mount_path="/etc/astra", containers=("app", "proxy"), ttl="30m",
                                 metadata={"team": "orders"}, env=True)


@pytest.mark.parametrize(("annotations", "said"), [
    ({}, "has no astra-tokens.io/role annotation"),
    ({"astra-tokens.io/role": "r", "astra-tokens.io/mount-path": "etc/astra"}, "is not an absolute path"),
    ({"astra-tokens.io/role": "r", "astra-tokens.io/containers": " , "}, "is empty"),
    ({"astra-tokens.io/role": "r", "astra-tokens.io/ttl": "soon"}, "is not a duration"),
    ({"astra-tokens.io/role": "r", "astra-tokens.io/env": "yes"}, "use \"true\" or \"false\""),
    ({"astra-tokens.io/role": "r", "astra-tokens.io/metadata.bad key": "x"}, "is not a metadata key"),
])
def test_an_annotation_that_cannot_be_read_is_refused_with_what_to_do(annotations: dict[str, str],
                                                                       said: str) -> None:
    with pytest.raises(PodRequestProblem, match=said):
        read_request(annotations)


@pytest.mark.parametrize(("request_", "role", "sidecar", "spec", "said"), [
    (PodRequest(role="nope"), None, None, {}, "AstraRole 'nope' does not exist"),
    (PodRequest(role="edge-rw"), ROLE, False, {}, "which is in standard mode"),
    (PodRequest(role="edge-rw"), ROLE, None, {}, "AstraOrg 'edge' of AstraRole 'edge-rw' does not exist"),
    (PodRequest(role="edge-rw", ttl="5h"), ROLE, True, {}, "longer than AstraRole 'edge-rw''s maxTtl 4h"),
    (PodRequest(role="edge-rw"), ROLE, True, {"volumes": [{"name": VOLUME_NAME}]}, "already has a volume named"),
    (PodRequest(role="edge-rw", containers=("ghost",)), ROLE, True, {}, "names ghost, which the pod does not have"),
])
def test_a_pod_that_cannot_have_a_token_is_refused_with_its_own_message(
        request_: PodRequest, role: AstraRoleSpec | None, sidecar: bool | None, spec: dict[str, Any],
        said: str) -> None:
    problems = request_problems(pod(**spec), request_, role, request_.role, sidecar)
    assert len(problems) == 1
    assert said in problems[0]


def test_a_good_pod_has_no_problem() -> None:
    assert request_problems(pod(), PodRequest(role="edge-rw", ttl="2h"), ROLE, "edge-rw", True) == []


def test_the_secret_is_mounted_read_only_in_every_container_and_is_not_optional() -> None:
    spec = injected_spec(pod(), PodRequest(role="edge-rw"), "astra-token-ab")
    assert spec["volumes"] == [{"name": VOLUME_NAME, "secret": {"secretName": "astra-token-ab", "optional": False}}]
    mount = {"name": VOLUME_NAME, "mountPath": DEFAULT_MOUNT_PATH, "readOnly": True}
    assert [c["volumeMounts"] for c in spec["containers"]] == [[mount], [{"name": "x", "mountPath": "/x"}, mount]]
    assert spec["initContainers"][0]["volumeMounts"] == [mount]
    assert all("env" not in c for c in spec["containers"])


def test_chosen_containers_only_and_the_environment_variable_when_asked() -> None:
    spec = injected_spec(pod(), PodRequest(role="edge-rw", containers=("app",), env=True), "astra-token-ab")
    app, proxy = spec["containers"]
    assert app["env"] == [{"name": ENV_NAME, "valueFrom": {"secretKeyRef": {"name": "astra-token-ab", "key": "token"}}}]
    assert "env" not in proxy
    assert proxy["volumeMounts"] == [{"name": "x", "mountPath": "/x"}]
    assert "volumeMounts" not in spec["initContainers"][0]


def test_a_pods_secret_is_named_after_it_and_a_draw_so_a_pod_back_under_its_name_gets_a_fresh_one() -> None:
    assert secret_name_for("web-1", "", "3f9a2c1b0d") == "web-1-astra-3f9a2c1b0d"
    assert secret_name_for("", "web-7d9f-", "3f9a2c1b0d") == "web-7d9f-astra-3f9a2c1b0d"  # no name yet
    assert secret_name_for("db-0", "", "aaaaaaaaaa") != secret_name_for("db-0", "", "bbbbbbbbbb")  # a StatefulSet's
    long = secret_name_for("x" * 300, "", "3f9a2c1b0d")
    assert len(long) <= 63
    assert long.endswith("-astra-3f9a2c1b0d")


def test_the_pods_token_is_owned_by_the_pod_and_names_its_workload() -> None:
    body = token_for_pod(pod(), PodRequest(role="edge-rw", ttl="30m", metadata={"team": "orders"}), org="edge",
                         created_by='{"username":"alice"}')
    assert body["metadata"]["name"] == "astra-token-ab"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "pod-uid-1"
    assert body["metadata"]["labels"] == {"astra-tokens.io/pod": "web-1",
                                          "astra-tokens.io/workload": "ReplicaSet.web-7d9f"}
    assert body["metadata"]["annotations"] == {"astra-tokens.io/pod": "pod-uid-1",
                                               "astra-tokens.io/created-by": '{"username":"alice"}'}
    assert body["spec"] == {"orgRef": "edge", "roleRef": "edge-rw", "logicalName": "pod-pod-uid-1", "ttl": "30m",
                            "metadata": {"team": "orders", "pod": "web-1", "podUid": "pod-uid-1",
                                         "workload": "ReplicaSet/web-7d9f"},
                            "secret": {"name": "astra-token-ab"}}


@pytest.mark.parametrize(("phase", "done"), [("Pending", False), ("Running", False), ("Succeeded", True),
                                             ("Failed", True)])
def test_a_finished_pod_is_one_that_succeeded_or_failed(phase: str, done: bool) -> None:
    assert finished({"status": {"phase": phase}}) is done
