"""Random SIGKILLs and SIGTERMs of the operator while tokens are created,
renewed, rotated (ttl 20s, maxTtl 45s) and deleted, with Astra answering some
calls with 500, 503 and 429. Once the faults stop the operator must settle
into a state where every invariant holds (testplatform/chaos.py lists them),
and they still hold with the operator stopped.

Seeded: CHAOS_SEED=<n> replays a run; the seed is printed either way.
bench/chaos.py runs the longer version (100 tokens, 30+ kills)."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import hvac
import pytest
from kubernetes import client as k8s

from astra_token_operator.fake_astra import FakeAstraThread
from integration.conftest import Cluster, org_manifest, role_manifest, root_token_secret
from testplatform.chaos import ChaosPlan, ChaosTarget, run_chaos
from testplatform.operator import OperatorProcess

CHAOS_ORG_ID = "5c0a8d3e-8b1f-4e6a-a7c2-9d4e3f2a1b00"


@pytest.fixture
def chaos_target(cluster: Cluster, k8s_api: k8s.ApiClient, fake_astra: FakeAstraThread, hvac_client: hvac.Client,
                 operator: OperatorProcess, namespace: str, request: pytest.FixtureRequest) -> Iterator[ChaosTarget]:
    admin = fake_astra.add_org(CHAOS_ORG_ID)
    cluster.must_apply(root_token_secret("chaos-org-root-token", admin))
    cluster.must_apply(org_manifest("chaos-org", CHAOS_ORG_ID, fake_astra.url, "chaos-org-root-token"))
    cluster.wait_ready("astraorgs", "chaos-org", timeout=30)
    cluster.must_apply(role_manifest("chaos-rw", "chaos-org", astraRoleName="R/W User", ttl="20s", maxTtl="45s"))
    cluster.wait_ready("astraroles", "chaos-rw", timeout=30)
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def say(line: str) -> None:  # past pytest's capture: the seed is worth seeing on every run
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            print(f"\n{line}", flush=True)

    yield ChaosTarget(api=k8s_api, fake=fake_astra, vault=hvac_client, operator=operator, org_name="chaos-org",
                      org_id=CHAOS_ORG_ID, role="chaos-rw", namespace=namespace, log=say)
    fake_astra.set_faults()
    if not operator.alive():
        operator.start()


def test_random_kills_during_mints_renewals_rotations_and_deletions_leave_every_invariant_holding(
    chaos_target: ChaosTarget,
) -> None:
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(2**31))
    chaos_target.log(f"chaos seed={seed} (CHAOS_SEED={seed} replays it)")
    result = run_chaos(ChaosPlan(seed=seed, tokens=40, storm_seconds=100), chaos_target)

    assert result.sigkills + result.sigterms >= 8, result.summary()
    assert result.settle_seconds is not None, f"{result.summary()}: never settled"
    assert result.problems == [], result.summary()
