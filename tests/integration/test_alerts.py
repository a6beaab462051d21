"""The chart's alerting rules (helm/astra-token-operator/files/prometheus-rules.yaml):
promtool checks them, then tests each alert against series scraped from the
running operator, once in a healthy state (no alert fires) and once in a
state that should fire it: an org whose root token Astra refuses (401), a
token of that org whose lease runs into its renewBefore unrenewed, a token
whose role was deleted, a mint intent left 20 minutes ago in the ledger, and
no replica answering a scrape.

promtool evaluates on a clock of its own that starts at 0: every sample of a
scrape becomes a series holding that value, and Unix timestamps are rebased
so that promtool's time 0 is the instant of the scrape (the distance from a
lease's end to "now" is exactly what the operator reported). Holding a
snapshot for 20 minutes is what the `for:` clauses need; the healthy snapshot
holds only tokens whose leases outlast that."""

from __future__ import annotations

import asyncio
import subprocess
import time
import urllib.error
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from astra_token_operator.config import OperatorConfig
from astra_token_operator.fake_astra import FakeAstraThread
from astra_token_operator.records import MintIntent, OwnerRef
from astra_token_operator.vault import Ledger
from integration.conftest import Cluster, org_manifest, role_manifest, root_token_secret, token_manifest
from testplatform.gobuild import ensure_promtool
from testplatform.openbao import OpenBao
from testplatform.operator import OperatorProcess
from testplatform.paths import REPO_ROOT
from testplatform.waiting import wait_for

RULES = REPO_ROOT / "helm" / "astra-token-operator" / "files" / "prometheus-rules.yaml"
JOB = "ato-astra-token-operator-metrics"  # the job name a ServiceMonitor on the chart's Service gives
PREFIX = "astra_token_operator_"
HOLD = 40  # samples, one a minute: the snapshot held for 40 minutes of promtool's time
EVAL = "20m"


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    binary, _ = ensure_promtool()
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False)


def rules() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    return loaded


def test_promtool_accepts_the_charts_rules() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules())} rules found" in checked.stdout
    assert {rule["alert"] for rule in rules()} == {
        "AstraTokenRenewalOverdue", "AstraTokenNotReady", "AstraOrgNotReady", "AstraOrgAstraAuthFailing",
        "AstraTokenLedgerIntentStale", "AstraTokenOperatorDown"}


# --- snapshots ------------------------------------------------------------------------------------

def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def series_of(scraped: str | None, at: float, orgs: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """promtool input series: each of the operator's samples held for HOLD minutes (timestamps
    rebased to promtool's clock), and `up` as Prometheus would record the scrape (0: it failed).
    Only this test's orgs: other tests leave orgs of their own behind, in any state."""
    found = [{"series": f'up{{instance="operator",job="{JOB}"}}', "values": f"{1 if scraped else 0}x{HOLD}"}]
    for family in text_string_to_metric_families(scraped or ""):
        for sample in family.samples:
            if not sample.name.startswith(PREFIX) or sample.name.endswith("_created"):
                continue
            if "org" in sample.labels and sample.labels["org"] not in orgs:
                continue
            value = sample.value - at if family.name.endswith("_timestamp_seconds") else sample.value
            labels = {**sample.labels, "job": JOB, "instance": "operator"}
            text = ",".join(f'{key}="{_quote(val)}"' for key, val in sorted(labels.items()))
            found.append({"series": f"{sample.name}{{{text}}}", "values": f"{value:.3f}x{HOLD}"})
    return found


def expected(alert: str, **labels: str) -> dict[str, Any]:
    rule = next(rule for rule in rules() if rule["alert"] == alert)
    return {"exp_labels": {**rule["labels"], **labels}, "exp_annotations": rule["annotations"]}


def run_promtool_tests(tmp_path: Path, groups: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "rules.yaml").write_text(RULES.read_text())
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(
        {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": groups}, sort_keys=False))
    return promtool("test", "rules", "tests.yaml", cwd=tmp_path)


def scrape_at(operator: OperatorProcess) -> tuple[str, float]:
    at = time.time()
    return operator.scrape(), at


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def plant_intent(openbao: OpenBao, owner: dict[str, Any], org_id: str, written: datetime) -> None:
    """A mint intent as a crashed operator leaves it, written with the operator's own ledger client."""
    intent = MintIntent(intent_id=owner["metadata"]["uid"], owner=OwnerRef(
        kind="AstraToken", namespace=owner["metadata"]["namespace"], name=owner["metadata"]["name"],
        uid=owner["metadata"]["uid"]), org_id=org_id, role_id="role-gone", role_name="r/w user",
        logical_name=owner["metadata"]["name"], marker=f"astra-token-operator planted mint={uuid.uuid4().hex[:12]}",
        created_at=written)

    async def write() -> None:
        async with Ledger.from_config(OperatorConfig(vault_addr=openbao.addr, vault_token=openbao.token)) as ledger:
            await ledger.write_intent(intent)

    asyncio.run(write())


# --- the test -------------------------------------------------------------------------------------

@pytest.mark.timeout(600)
def test_each_alert_fires_on_a_failing_operator_and_none_on_a_healthy_one(
    operator: OperatorProcess, cluster: Cluster, fake_astra: FakeAstraThread, make_namespace: Any,
    openbao: OpenBao, tmp_path: Path,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    ns = make_namespace("alerts")
    refused_org, quiet_org = f"alerts-a-{suffix}", f"alerts-b-{suffix}"
    refused_id, quiet_id = str(uuid.uuid4()), str(uuid.uuid4())
    short_role, long_role = f"alerts-short-{suffix}", f"alerts-long-{suffix}"
    for org, org_id in ((refused_org, refused_id), (quiet_org, quiet_id)):
        cluster.must_apply(root_token_secret(f"{org}-root", fake_astra.add_org(org_id)))
        cluster.must_apply(org_manifest(org, org_id, fake_astra.url, f"{org}-root"))
    # The ledger sweep (which reads the intents' ages) runs with each verification: often here.
    often = {"ASTRA_OPERATOR_INTENT_SWEEP_INTERVAL_SECONDS": "1", "ASTRA_OPERATOR_ORG_VERIFY_INTERVAL_SECONDS": "3"}
    operator.restart(extra_env=often)
    try:
        cluster.must_apply(role_manifest(long_role, quiet_org, astraRoleName="R/W User", ttl="1h", maxTtl="24h"))
        # brief's max expiry comes 1 minute after its mint: its lease cannot be renewed past that, and
        # the rotation due then (about 50 s after the mint) waits for Astra, which refuses the org's
        # root token.
        cluster.must_apply(role_manifest(short_role, refused_org, astraRoleName="R/W User", ttl="30s",
                                         maxTtl="1m"))
        for org in (refused_org, quiet_org):
            cluster.wait_ready("astraorgs", org, timeout=60)
        cluster.must_apply(token_manifest("steady", ns, quiet_org, long_role))
        cluster.wait_ready("astratokens", "steady", ns, timeout=60)
        healthy, healthy_at = scrape_at(operator)

        cluster.must_apply(token_manifest("brief", ns, refused_org, short_role))
        cluster.wait_ready("astratokens", "brief", ns, timeout=60)
        # Astra refuses the org's root token from now on; the long role names a role Astra does not
        # know (deleting it is refused while "steady" uses it); a mint intent of "steady" is left
        # from 20 minutes ago, by a process before this one.
        cluster.must_apply(root_token_secret(f"{refused_org}-root", "AstraCS:refused:" + "0" * 64))
        cluster.must_apply(role_manifest(long_role, quiet_org, roleId=str(uuid.uuid4()), ttl="1h", maxTtl="24h"))
        plant_intent(openbao, cluster.token("steady", ns), quiet_id, datetime.now(UTC) - timedelta(minutes=20))
        # As a process killed mid-mint leaves it: the next process lists the intents when it starts
        # (a running one lists them again only while one of its own or one found before can be left).
        operator.restart(extra_env=often)
        token = {"namespace": ns, "name": "brief", "org": refused_org, "role": short_role}

        def failing() -> tuple[str, float] | None:
            text, at = scrape_at(operator)
            found = samples(text)
            lease = found.get((PREFIX + "token_lease_expiry_timestamp_seconds", tuple(sorted(token.items()))))
            renew_before = found.get((PREFIX + "token_renew_before_seconds", tuple(sorted(token.items()))))
            ready = {dict(labels).get("org"): value for (name, labels), value in found.items()
                     if name == PREFIX + "org_ready"}
            intent_age = found.get((PREFIX + "ledger_oldest_intent_age_seconds", (("org", quiet_org),)), 0)
            due = lease is not None and renew_before is not None and lease - at < renew_before  # 33% of 30s

            def token_ready(name: str) -> float | None:
                return max((value for (metric, labels), value in found.items()
                            if metric == PREFIX + "token_ready" and dict(labels).get("name") == name
                            and dict(labels).get("namespace") == ns), default=None)

            # Both tokens' passes have reported (brief's once its rotation found the org refused).
            return (text, at) if (due and ready.get(refused_org) == 0 and intent_age > 900
                                  and token_ready("steady") == 0 and token_ready("brief") == 0) else None

        broken, broken_at = wait_for(failing, timeout=180, interval=1, what="the failing state in the scrape")
        operator.stop()
        with pytest.raises(urllib.error.URLError):
            operator.scrape()  # what Prometheus would see: up = 0
    finally:
        cluster.must_apply(root_token_secret(f"{refused_org}-root", fake_astra.admin_token(refused_id)))
        if not operator.alive():
            operator.start()
        else:
            operator.restart()
        cluster.must_apply(role_manifest(long_role, quiet_org, astraRoleName="R/W User", ttl="1h", maxTtl="24h"))
        for name in ("brief", "steady"):
            cluster.delete("astratokens", name, ns)
        for name in ("brief", "steady"):
            cluster.wait_gone("astratokens", name, ns, timeout=90)
        for plural, name in (("astraroles", long_role), ("astraroles", short_role), ("astraorgs", refused_org),
                             ("astraorgs", quiet_org)):
            cluster.delete(plural, name)

    steady = {"namespace": ns, "name": "steady", "org": quiet_org, "role": long_role}
    ours = (refused_org, quiet_org)
    none_fire = [{"eval_time": EVAL, "alertname": rule["alert"], "exp_alerts": []} for rule in rules()]
    groups = [
        {"name": "healthy: a Ready token with an hour's lease, Ready orgs, no intent, the replica scraped",
         "interval": "1m", "input_series": series_of(healthy, healthy_at, ours), "alert_rule_test": none_fire},
        {"name": "failing: a refused root token, a lease in its renewBefore, an unknown role, a stale intent",
         "interval": "1m", "input_series": series_of(broken, broken_at, ours), "alert_rule_test": [
             {"eval_time": EVAL, "alertname": "AstraTokenRenewalOverdue",
              "exp_alerts": [expected("AstraTokenRenewalOverdue", **token)]},
             {"eval_time": EVAL, "alertname": "AstraTokenNotReady",
              "exp_alerts": [expected("AstraTokenNotReady", **token), expected("AstraTokenNotReady", **steady)]},
             {"eval_time": EVAL, "alertname": "AstraOrgNotReady",
              "exp_alerts": [expected("AstraOrgNotReady", org=refused_org)]},
             {"eval_time": EVAL, "alertname": "AstraOrgAstraAuthFailing",
              "exp_alerts": [expected("AstraOrgAstraAuthFailing", org=refused_org)]},
             {"eval_time": EVAL, "alertname": "AstraTokenLedgerIntentStale",
              "exp_alerts": [expected("AstraTokenLedgerIntentStale", org=quiet_org)]},
             {"eval_time": EVAL, "alertname": "AstraTokenOperatorDown", "exp_alerts": []},
         ]},
        {"name": "down: no replica answers a scrape", "interval": "1m", "input_series": series_of(None, 0),
         "alert_rule_test": [{"eval_time": EVAL, "alertname": "AstraTokenOperatorDown",
                              "exp_alerts": [expected("AstraTokenOperatorDown")]}]},
    ]
    result = run_promtool_tests(tmp_path, groups)
    assert result.returncode == 0, f"promtool test rules:\n{result.stdout}\n{result.stderr}"
    assert "SUCCESS" in result.stdout
