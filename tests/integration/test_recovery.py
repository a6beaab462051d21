"""Recovery is prompt and never misleads: a lost check-and-set is read again
and decided at once (never reported as Vault being down), deletions that run
in the first moments after a start wait for the orgs to be verified instead of
calling them missing and advising to abandon the token, and a start that finds
its port still held (the previous pod not gone yet) serves as soon as it is free."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import hvac

from astra_token_operator.fake_astra import FakeAstraThread
from integration.conftest import Cluster, OrgHandle, token_manifest, wait_for
from testplatform.operator import OperatorProcess

LEDGER = "astra-tokens"


def record_path(org_id: str, client_id: str) -> str:
    return f"{LEDGER}/orgs/{org_id}/tokens/{client_id}"


def read_record(hvac_client: hvac.Client, org_id: str, client_id: str) -> tuple[dict[str, Any], int]:
    read = hvac_client.secrets.kv.v2.read_secret_version(path=record_path(org_id, client_id),
                                                         raise_on_deleted_version=True)
    return read["data"]["data"], int(read["data"]["metadata"]["version"])


def audit_time(entry: dict[str, Any]) -> datetime:
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", entry["time"]).replace("Z", "+00:00")  # nanoseconds to micro
    return datetime.fromisoformat(stamp)


def test_a_check_and_set_lost_to_another_writer_is_read_again_and_decided_at_once(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, hvac_client: hvac.Client,
    operator: OperatorProcess, kubectl: Any, vault_audit_log: Path,
) -> None:
    cluster.must_apply(token_manifest("contended", namespace, test_org.name, test_role))
    client_id = cluster.wait_ready("astratokens", "contended", namespace)["status"]["clientId"]
    data, version = read_record(hvac_client, test_org.org_id, client_id)
    log_mark = len(operator.log_text())

    # Another writer (a previous process of the operator, killed mid-pass) bumps the record: the
    # version the operator holds from its last read is now stale.
    hvac_client.secrets.kv.v2.create_or_update_secret(path=record_path(test_org.org_id, client_id),
                                                      secret=data, cas=version)
    annotated = kubectl("-n", namespace, "annotate", "astratoken", "contended", "astra-tokens.io/renew=2h")
    assert annotated.returncode == 0, annotated.stderr

    renewed = wait_for(lambda: (r := read_record(hvac_client, test_org.org_id, client_id))[0]["lastAction"]
                       == "renewed-manually" and r, timeout=10, what="the renewal asked for, in the ledger")
    assert renewed[1] == version + 2  # the other writer's version, then ours on top of it
    reread = [line for line in operator.log_text()[log_mark:].splitlines()
              if "action=reread" in line and "name=contended" in line]
    assert reread, "the lost check-and-set was not noticed as such"
    # Vault's audit log times the refused write and the one that followed it.
    writes = [entry for entry in map(json.loads, vault_audit_log.read_text().splitlines())
              if entry.get("type") == "response" and entry["request"].get("operation") in ("create", "update")
              and entry["request"].get("path") == f"secret/data/{record_path(test_org.org_id, client_id)}"]
    # (the refusal's text is HMAC'd in the audit log: the first refused write is the lost check-and-set)
    lost = next(i for i, entry in enumerate(writes) if entry.get("error"))
    took = (audit_time(writes[lost + 1]) - audit_time(writes[lost])).total_seconds()
    assert "error" not in writes[lost + 1]
    assert 0 <= took < 1.0, f"the write after the lost check-and-set came {took:.3f}s later"
    condition = cluster.condition("astratokens", "contended", namespace)
    assert condition["status"] == "True"
    reasons = {event.reason for event in cluster.events_for("contended", namespace)}
    assert "VaultUnavailable" not in reasons
    assert "LedgerConflict" not in reasons


def test_tokens_deleted_as_the_operator_starts_are_revoked_without_calling_their_org_missing(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, fake_astra: FakeAstraThread,
    operator: OperatorProcess,
) -> None:
    names = [f"early-{i}" for i in range(5)]
    cluster.must_apply("\n---\n".join(token_manifest(n, namespace, test_org.name, test_role) for n in names))
    client_ids = {n: cluster.wait_ready("astratokens", n, namespace)["status"]["clientId"] for n in names}
    operator.stop()
    log_mark = len(operator.log_text())

    operator.start(wait=False)
    for name in names:  # while the new process is starting: its finalizers run in its first moments
        cluster.delete("astratokens", name, namespace)
    operator.wait_ready()
    for name in names:
        cluster.wait_gone("astratokens", name, namespace, timeout=60)

    states = {v.client_id: v.state for v in fake_astra.tokens(test_org.org_id)}
    assert {n: states.get(c) for n, c in client_ids.items()} == dict.fromkeys(names, "revoked")
    said = [event.message or "" for name in names for event in cluster.events_for(name, namespace)]
    said += operator.log_text()[log_mark:].splitlines()
    assert not [line for line in said if "does not exist" in line], "an existing org was called missing"
    assert not [line for line in said if "abandon" in line], "abandoning a token was advised"


@contextlib.contextmanager
def held_port() -> Iterator[int]:
    """A loopback port another process listens on (as the previous operator pod did), until the block ends."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def readiness(operator: OperatorProcess) -> int:
    try:
        with urllib.request.urlopen(f"{operator.ops_url}/readyz", timeout=5) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def test_a_start_that_finds_its_port_still_held_serves_and_mints_as_soon_as_the_port_is_free(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, fake_astra: FakeAstraThread,
    operator: OperatorProcess,
) -> None:
    """A force-deleted operator pod on the host network still holds its ports for a moment when
    its replacement starts: the replacement must not wait a minute, nor lose what its other
    start-up steps learned meanwhile (it once came up unable to mint anything, for good)."""
    cluster.must_apply(token_manifest("before", namespace, test_org.name, test_role))
    before = cluster.wait_ready("astratokens", "before", namespace)["status"]["clientId"]
    operator.stop()
    log_mark = len(operator.log_text())
    with held_port() as port:
        operator.start(extra_env={"ASTRA_OPERATOR_METRICS_PORT": str(port)}, wait=False)
        operator.metrics_port = port
        operator.wait_for_log(f"cannot listen on 127.0.0.1:{port} yet", timeout=30)
        # The other start-up steps run meanwhile; the port is then given up.
        wait_for(lambda: "this cluster's id" in operator.log_text()[log_mark:], timeout=30,
                 what="the cluster's id resolved while the port is held")
    try:
        operator.wait_ready(timeout=30)
        cluster.must_apply(token_manifest("after", namespace, test_org.name, test_role))
        cluster.wait_ready("astratokens", "after", namespace, timeout=30)
        cluster.delete("astratokens", "before", namespace)
        cluster.wait_gone("astratokens", "before", namespace, timeout=30)
        assert {v.client_id: v.state for v in fake_astra.tokens(test_org.org_id)}[before] == "revoked"
        retried = [line for line in operator.log_text()[log_mark:].splitlines() if "cannot listen on" in line]
        assert all("retrying in 2 s" in line for line in retried), retried
    finally:
        operator.restart()


def test_a_start_that_finds_its_webhook_port_held_serves_admission_as_soon_as_it_is_free(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, operator: OperatorProcess,
) -> None:
    """Kopf ends the whole operator when its webhook server cannot bind; the operator tries the port
    again every 2 s instead, not ready meanwhile, and admits AstraTokens once it serves."""
    operator.stop()
    log_mark = len(operator.log_text())
    with held_port() as port:
        operator.start(extra_env={"ASTRA_OPERATOR_WEBHOOK_PORT": str(port)}, wait=False)
        said = f"cannot listen for admission reviews on 127.0.0.1:{port} yet"
        wait_for(lambda: operator.log_text()[log_mark:].count(said) >= 2, timeout=30,
                 what="a second try while the port is held")
        assert operator.alive(), operator.log_text()[log_mark:][-2000:]
        assert readiness(operator) == 503
    try:
        operator.wait_ready(timeout=30)  # serving, and both webhook configurations point at it
        cluster.must_apply(token_manifest("admitted", namespace, test_org.name, test_role))
        cluster.wait_ready("astratokens", "admitted", namespace, timeout=30)
        retried = [line for line in operator.log_text()[log_mark:].splitlines() if "admission reviews" in line]
        assert len(retried) >= 2
        assert all("retrying in 2 s" in line for line in retried), retried
    finally:
        operator.restart()

