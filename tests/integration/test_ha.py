"""Two replicas fail over without a double mint: two operator processes peer
through a ClusterKopfPeering with distinct priorities (the chart's setup), both
serve the admission webhooks on one port with one certificate (Kopf listens with
SO_REUSEPORT: the kernel spreads the apiserver's connections over both, as a
Service over its endpoints, and the survivor gets them all). The active one is
killed with SIGKILL while 100 AstraTokens are being created and ten others are
due for renewal on a 2-minute ttl. Measured: how long until the standby works
(it publishes its orgs' state on /metrics once its daemons run). Checked: every
create passed admission, every token is Ready, Astra created exactly one token
per AstraToken, and no renewal was later than the takeover."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from astra_token_operator.certs import make_serving_certificate
from astra_token_operator.fake_astra import FakeAstraThread
from astra_token_operator.times import from_rfc3339
from integration.conftest import (
    GROUP,
    VERSION,
    Cluster,
    org_manifest,
    role_manifest,
    root_token_secret,
    token_manifest,
)
from testplatform.operator import OperatorProcess, operator_env
from testplatform.platform import Platform
from testplatform.processes import free_port
from testplatform.waiting import wait_for

KOPF_CRDS = Path(__file__).resolve().parents[2] / "helm" / "astra-token-operator" / "crds" / "kopf-peerings.yaml"
LIFETIME = 15  # seconds a keep-alive counts (the chart's peering.lifetime; 30 there)
BULK, RENEWING = 100, 10
RENEW_BEFORE = 40.0  # 33% of the renewing role's 2m ttl


def scrape(process: OperatorProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = process.scrape()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def works(process: OperatorProcess, org: str) -> bool:
    """The replica runs its daemons: its org daemon has published the org (a paused one runs none)."""
    try:
        found = scrape(process)
    except OSError:
        return False
    return found.get(("astra_token_operator_org_ready", (("org", org), ("reason", "Verified")))) == 1


def mints_in_flight(process: OperatorProcess) -> float:
    return scrape(process).get(("astra_token_operator_mints_in_flight", ()), 1.0)


class Creator(threading.Thread):
    """Creates the bulk AstraTokens one after another, recording each refusal (none may happen)."""

    def __init__(self, cluster: Cluster, namespace: str, org: str, role: str, names: list[str]) -> None:
        super().__init__(name="ha-creator", daemon=True)
        self.cluster, self.namespace, self.org, self.role, self.names = cluster, namespace, org, role, names
        self.created: list[tuple[str, float]] = []
        self.refused: list[tuple[str, float, str]] = []

    def run(self) -> None:
        for name in self.names:
            body = json.loads(token_manifest(name, self.namespace, self.org, self.role))
            try:
                self.cluster.objects.create_namespaced_custom_object(GROUP, VERSION, self.namespace, "astratokens",
                                                                     body)
                self.created.append((name, time.monotonic()))
            except ApiException as exc:
                self.refused.append((name, time.monotonic(), f"{exc.status} {exc.reason}: {exc.body}"[:300]))
            time.sleep(0.3)


@pytest.fixture
def replicas(platform: Platform, operator: OperatorProcess, operator_namespace: str, kubectl: Any,
             tmp_path: Path) -> Iterator[tuple[OperatorProcess, OperatorProcess, str]]:
    """Two peering operators (A: priority 200, B: 100) in place of the suite's standalone one."""
    applied = kubectl("apply", "-f", str(KOPF_CRDS))
    assert applied.returncode == 0, applied.stderr
    assert kubectl("wait", "--for=condition=Established", "-f", str(KOPF_CRDS), "--timeout=60s").returncode == 0
    peering = f"ha-{uuid.uuid4().hex[:6]}"
    created = kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": peering}}))
    assert created.returncode == 0, created.stderr
    ca, cert, key = make_serving_certificate(["127.0.0.1"]).write(tmp_path)
    shared = {
        "ASTRA_OPERATOR_PEERING_NAME": peering, "ASTRA_OPERATOR_PEERING_LIFETIME_SECONDS": str(LIFETIME),
        "ASTRA_OPERATOR_WEBHOOK_PORT": str(free_port()), "ASTRA_OPERATOR_WEBHOOK_CERT_FILE": str(cert),
        "ASTRA_OPERATOR_WEBHOOK_KEY_FILE": str(key), "ASTRA_OPERATOR_WEBHOOK_CA_FILE": str(ca),
        "ASTRA_OPERATOR_LOG_FORMAT": "json", "ASTRA_OPERATOR_LOG_LEVEL": "INFO",
    }
    env = operator_env(kubeconfig=platform.controlplane.kubeconfig, vault_addr=platform.openbao.addr,
                       vault_token=platform.openbao.token, operator_namespace=operator_namespace, extra=shared)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    active = OperatorProcess(log_dir=tmp_path / "a", env={**env, "POD_ID": "replica-a"}, verbose=False,
                             standalone=False, priority=200)
    standby = OperatorProcess(log_dir=tmp_path / "b", env={**env, "POD_ID": "replica-b"}, verbose=False,
                              standalone=False, priority=100)
    operator.stop()
    try:
        active.start()
        standby.start()
        yield active, standby, peering
    finally:
        for process in (active, standby):
            process.stop()
        kubectl("delete", "clusterkopfpeering", peering, "--ignore-not-found")
        operator.start()


@pytest.mark.timeout(900)
def test_the_standby_takes_over_a_killed_replica_without_a_double_mint_or_a_late_renewal(
    replicas: tuple[OperatorProcess, OperatorProcess, str], cluster: Cluster, fake_astra: FakeAstraThread,
    make_namespace: Any,
) -> None:
    active, standby, _ = replicas
    suffix = uuid.uuid4().hex[:6]
    org, org_id = f"ha-{suffix}", str(uuid.uuid4())
    renewing_role, bulk_role = f"ha-renewing-{suffix}", f"ha-bulk-{suffix}"
    namespace = make_namespace("ha")
    cluster.must_apply(root_token_secret(f"{org}-root", fake_astra.add_org(org_id)))
    cluster.must_apply(org_manifest(org, org_id, fake_astra.url, f"{org}-root"))
    cluster.must_apply(role_manifest(renewing_role, org, astraRoleName="R/W User", ttl="2m", maxTtl="1h"))
    cluster.must_apply(role_manifest(bulk_role, org, astraRoleName="R/W User", ttl="1h", maxTtl="24h"))
    cluster.wait_ready("astraorgs", org, timeout=60)
    wait_for(lambda: works(active, org), timeout=30, what="replica A to work")
    assert not works(standby, org), "the lower-priority replica works too: peering did not pause it"

    renewing = [f"renew-{i:02d}" for i in range(RENEWING)]
    for name in renewing:
        cluster.must_apply(token_manifest(name, namespace, org, renewing_role))
    issued = {name: cluster.wait_ready("astratokens", name, namespace, timeout=60)["status"] for name in renewing}
    due = {name: from_rfc3339(status["leaseExpiresAt"]).timestamp() - RENEW_BEFORE
           for name, status in issued.items()}

    # The bulk creates start 14 s before the first renewal is due; A dies a few seconds in,
    # between two mints (never between an Astra create and its record).
    time.sleep(max(0.0, min(due.values()) - 14 - time.time()))
    bulk = [f"bulk-{i:03d}" for i in range(BULK)]
    creator = Creator(cluster, namespace, org, bulk_role, bulk)
    creator.start()
    def between_mints() -> bool:
        """Halfway between two creates (the last one's mint done), and A says no mint is in flight."""
        if len(creator.created) < 15:
            return False
        since = time.monotonic() - creator.created[-1][1]
        return 0.15 <= since <= 0.25 and mints_in_flight(active) == 0

    wait_for(between_mints, timeout=60, interval=0.02, what="a moment with no mint in flight on A")
    assert active.child is not None
    active.child.signal_group(signal.SIGKILL)
    killed = time.monotonic()
    killed_wall = time.time()
    active.child.process.wait(timeout=10)
    wait_for(lambda: works(standby, org), timeout=LIFETIME + 60, interval=0.25, what="replica B to take over")
    takeover = time.monotonic() - killed
    print(f"\nHA: replica B took over {takeover:.1f} s after replica A was killed (peering lifetime {LIFETIME} s)")

    creator.join(timeout=120)
    assert creator.refused == [], f"creates refused during the takeover: {creator.refused}"
    assert len(creator.created) == BULK
    during = [name for name, at in creator.created if killed <= at <= killed + takeover]
    assert during, "no create happened during the takeover: the test did not test that"

    for name in bulk + renewing:
        cluster.wait_ready("astratokens", name, namespace, timeout=180)
    late: dict[str, float] = {}
    by_standby = []
    for name in renewing:
        status = wait_for(lambda name=name: (body := cluster.token(name, namespace)).get("status", {}).get(
            "renewals", 0) >= 1 and body["status"], timeout=120, what=f"{name} renewed")
        renewed_at = from_rfc3339(status["lastRenewedAt"]).timestamp()
        late[name] = renewed_at - due[name]
        if renewed_at >= int(killed_wall):  # pending when A died (A renews at most ~8 s early: jitter)
            by_standby.append(name)
        assert renewed_at < from_rfc3339(issued[name]["leaseExpiresAt"]).timestamp(), f"{name}'s lease lapsed"
    worst = max(late.values())
    print(f"HA: renewals pending at the kill, made by B: {len(by_standby)} of {RENEWING}; the latest renewal came "
          f"{worst:.1f} s after its due time")
    assert by_standby, "every renewal was made before the kill: the test did not test a takeover's renewals"
    assert worst <= takeover + 2, f"renewals later than the takeover ({takeover:.1f} s): {late}"

    tokens = [t for t in fake_astra.tokens(org_id) if not t.is_admin]
    client_ids = {cluster.token(name, namespace)["status"]["clientId"] for name in bulk + renewing}
    assert len(tokens) == BULK + RENEWING, f"Astra created {len(tokens)} tokens for {BULK + RENEWING} AstraTokens"
    assert {t.client_id for t in tokens if t.state == "valid"} == client_ids

    # The standby's JSON log: the same keys on every line, and INFO as set (no DEBUG line).
    lines = [json.loads(line) for line in standby.log_text().splitlines() if line.startswith("{")]
    assert lines
    assert all(list(line)[:4] == ["timestamp", "severity", "logger", "message"] for line in lines)
    assert not [line for line in lines if line["severity"] == "debug"]

    for name in bulk + renewing:
        cluster.delete("astratokens", name, namespace)
    for name in bulk + renewing:
        cluster.wait_gone("astratokens", name, namespace, timeout=180)
    for plural, name in (("astraroles", renewing_role), ("astraroles", bulk_role), ("astraorgs", org)):
        cluster.delete(plural, name)
        cluster.wait_gone(plural, name, timeout=60)
