"""The examples and the local demo's steps: what a new user sees first."""

from __future__ import annotations

import json
from typing import Any

import pytest

from astra_token_operator.fake_astra import FakeAstraThread
from integration.conftest import Cluster
from testplatform.demo import AstraTarget, apply_examples, overview, wait_examples_ready
from testplatform.examples import rendered_examples
from testplatform.operator import OperatorProcess

DEMO_ORG_ID = "3f1c2b9a-0d4e-4b8f-a6c7-5e9d1f2a3b4c"
DEMO_SIDECAR_ORG_ID = "7d2e4f6a-8b0c-4d1e-9f3a-5b7c9d1e3f5a"


def test_the_demo_steps_bring_every_example_to_ready(
    operator: OperatorProcess, cluster: Cluster, fake_astra: FakeAstraThread, kubectl: Any,
) -> None:
    fake_astra.add_org(DEMO_ORG_ID)
    fake_astra.add_org(DEMO_SIDECAR_ORG_ID)
    target = AstraTarget(DEMO_ORG_ID, fake_astra.admin_token(DEMO_ORG_ID), fake_astra.url, DEMO_SIDECAR_ORG_ID,
                         fake_astra.admin_token(DEMO_SIDECAR_ORG_ID))

    apply_examples(kubectl, target)
    wait_examples_ready(kubectl, timeout=60)

    table = overview(kubectl)
    for name in ("astraorg.astra-tokens.io/demo", "astrarole.astra-tokens.io/app-rw",
                 "astratoken.astra-tokens.io/orders-api", "astratoken.astra-tokens.io/nightly-report"):
        assert name in table
    orders = cluster.secret_data("orders-api-astra", "team-a")
    assert fake_astra.verify(orders["token"]).valid
    report = cluster.token("nightly-report", "team-b")["status"]
    assert report["roleName"] == "reporting-ro"
    assert fake_astra.verify(cluster.secret_data("nightly-report", "team-b")["token"]).valid
    # The Deployment that mounts the token exists and would be restarted on rotation.
    deployment = kubectl("get", "deployment", "orders-api", "-n", "team-a", "-o", "name")
    assert deployment.stdout.strip() == "deployment.apps/orders-api"
    # Sidecar mode: the labelled pod's own token, mounted from a Secret the webhook named.
    pod = json.loads(kubectl("get", "pod", "inventory-worker", "-n", "team-a", "-o", "json").stdout)
    secret = pod["metadata"]["annotations"]["astra-tokens.io/secret"]
    assert any(v.get("secret", {}).get("secretName") == secret for v in pod["spec"]["volumes"])
    assert fake_astra.verify(cluster.secret_data(secret, "team-a")["token"]).valid


def test_without_a_second_org_the_demo_leaves_the_sidecar_example_out() -> None:
    values = {"ASTRA_ORG_ID": DEMO_ORG_ID, "ASTRA_TOKEN": "AstraCS:x", "ASTRA_URL": "https://astra.test"}
    names = [name for name, _ in rendered_examples(values, skip_missing=True)]
    assert "60-sidecar.yaml" not in names
    assert "40-tokens.yaml" in names
    with pytest.raises(KeyError, match="ASTRA_SIDECAR"):
        rendered_examples(values)
