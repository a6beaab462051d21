"""Runs last: the operator's logs (DEBUG level, every restart of the suite),
its /metrics, every Event, every custom resource (annotations such as abandoned-by included) and
everything `kubectl astra` printed in the whole run (but the token --show-token was asked for)
hold no root token, issued token or client secret, in clear or base64; nor does any ledger record
(they live apart, as credentials).

With xdist (make test) each worker is a session of its own, with its own platform and operator:
the test is collected once per worker ([gw0], [gw1], ...) and each copy runs last on its own
worker (testplatform/scheduling.py), so every session's outputs are scanned."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import hvac
import pytest

from astra_token_operator.fake_astra import FakeAstraThread
from integration.conftest import TEST_ORG_ID, Cluster, KubectlAstra, OrgHandle, token_manifest, wait_for
from testplatform.operator import OperatorProcess
from testplatform.platform import Platform
from testplatform.scheduling import this_worker, worker_parametrize


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    worker_parametrize(metafunc, "scanned_worker")


@pytest.fixture
def scanned_worker() -> str:
    """Without xdist: the one session there is."""
    return "gw0"


def every_ledger_secret(hvac_client: hvac.Client, fake_astra: FakeAstraThread) -> set[str]:
    """Every token and client secret the ledger holds (its credentials, apart from the records),
    and the root token of every org it has records for."""
    kv = hvac_client.secrets.kv.v2
    found: set[str] = set()
    for org in kv.list_secrets(path="astra-tokens/credentials")["data"]["keys"]:
        for client_id in kv.list_secrets(path=f"astra-tokens/credentials/{org}")["data"]["keys"]:
            data = kv.read_secret_version(path=f"astra-tokens/credentials/{org}{client_id}",
                                          raise_on_deleted_version=True)["data"]["data"]
            found.update({data["token"], data["clientSecret"], data["token"].rsplit(":", 1)[-1]})
    for org in kv.list_secrets(path="astra-tokens/orgs")["data"]["keys"]:
        if org.rstrip("/") in fake_astra.state.org_ids():
            found.add(fake_astra.admin_token(org.rstrip("/")))
    return found


def every_ledger_record(hvac_client: hvac.Client) -> str:
    """The latest version of every record, as JSON text: what an auditor's policy reads."""
    kv = hvac_client.secrets.kv.v2
    records = []
    for org in kv.list_secrets(path="astra-tokens/orgs")["data"]["keys"]:
        try:
            ids = kv.list_secrets(path=f"astra-tokens/orgs/{org}tokens")["data"]["keys"]
        except hvac.exceptions.InvalidPath:
            continue
        records += [kv.read_secret_version(path=f"astra-tokens/orgs/{org}tokens/{client_id}",
                                           raise_on_deleted_version=True)["data"]["data"] for client_id in ids]
    return json.dumps(records)


def test_no_secret_appears_in_logs_events_or_resources(
    operator: OperatorProcess, cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str,
    fake_astra: FakeAstraThread, hvac_client: hvac.Client, kubectl: Any, kubectl_astra: KubectlAstra,
    platform: Platform, scanned_worker: str,
) -> None:
    # What this copy scans is its own worker's session: it must run there (and runs last there).
    assert this_worker() == scanned_worker, f"the scan of {scanned_worker} ran on {this_worker()}"
    # At least one full life in this run, whatever else ran: issue, renew, rotate, revoke-and-replace,
    # delete; and every kubectl astra subcommand, in every output format, along the way.
    vault = {"VAULT_ADDR": platform.openbao.addr, "VAULT_TOKEN": platform.openbao.token}
    cluster.must_apply(token_manifest("witness", namespace, test_org.name, test_role))
    cluster.wait_ready("astratokens", "witness", namespace)
    # The read-only commands, a few at a time (each is a process of its own: the same runs, sooner).
    def read(args: tuple[str, ...]) -> None:
        if args[0] == "status":
            kubectl_astra(*args, vault=vault)  # exits 1 if an earlier test left an org not Ready
        else:
            kubectl_astra.ok(*args, vault=vault)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(read, [
            (*args, "-o", output) for output in ("table", "wide", "json", "yaml")
            for args in (("status",), ("tokens", "-A"), ("get", "witness", "-n", namespace), ("leases", "-A"),
                         ("orgs",), ("roles",), ("history", "witness", "-n", namespace))]))
    kubectl_astra.ok("renew", "witness", "-n", namespace, "--increment", "2h", vault=vault)
    kubectl_astra.ok("rotate", "witness", "-n", namespace, vault=vault)
    kubectl_astra.ok("revoke", "witness", "-n", namespace, "--replace", vault=vault)
    lease = cluster.token("witness", namespace)["status"]["leaseId"]
    kubectl_astra.ok("lease", lease, vault=vault)
    kubectl_astra.ok("history", lease, "-o", "wide", vault=vault)
    shown = kubectl_astra("get", "witness", "-n", namespace, "--show-token")
    assert shown.stdout.strip() == cluster.secret_data("witness", namespace)["token"]
    wait_for(lambda: "astra-tokens.io/revoke" not in (
        cluster.token("witness", namespace)["metadata"].get("annotations") or {}), timeout=30,
        what="the request of `revoke --replace` cleared")
    asked = kubectl("annotate", "astratoken", "witness", "-n", namespace, "astra-tokens.io/revoke=now")
    assert asked.returncode == 0, asked.stderr
    wait_for(lambda: cluster.token("witness", namespace)["status"].get("leaseId") not in (None, lease), timeout=60,
             what="the revoke-and-replace by annotation")
    cluster.wait_ready("astratokens", "witness", namespace)
    kubectl_astra.ok("revoke", "witness", "-n", namespace)  # deletes it: revoked in Astra before it goes
    assert cluster.get("astratokens", "witness", namespace) is None

    secrets = every_ledger_secret(hvac_client, fake_astra) | {fake_astra.admin_token(TEST_ORG_ID),
                                                              test_org.admin_token}
    assert len(secrets) >= 6
    needles = secrets | {base64.b64encode(s.encode()).decode() for s in secrets}

    haystacks = {
        "operator logs": operator.log_text(),
        "metrics": operator.scrape(),
        "events": kubectl("get", "events", "-A", "-o", "json").stdout,
        "custom resources": kubectl("get", "astra", "-A", "-o", "json").stdout,
        "kubectl astra outputs": "\n".join(run.stderr + ("" if run.shows_token else run.stdout)
                                            for run in kubectl_astra.runs),
        "ledger records": every_ledger_record(hvac_client),
    }
    assert len(kubectl_astra.runs) >= 30
    assert all(haystacks.values())
    for where, text in haystacks.items():
        leaked = [needle[:12] + "..." for needle in needles if needle in text]
        assert leaked == [], f"secrets found in {where}"
