"""The running operator's /metrics: every metric docs/metrics.md names is there,
with values that match what the test did (N tokens -> N mints, each token's
expiry timestamp = its status's leaseExpiresAt, one renewal, one revocation,
one restore, one workload restart), and a deleted token's series go."""

from __future__ import annotations

import re
import uuid
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from astra_token_operator.fake_astra import FakeAstraThread, ScriptedResponse
from astra_token_operator.times import from_rfc3339
from integration.conftest import Cluster, org_manifest, role_manifest, root_token_secret, token_manifest
from testplatform.operator import OperatorProcess
from testplatform.paths import REPO_ROOT
from testplatform.waiting import wait_for

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
PREFIX = "astra_token_operator_"


def documented_metrics() -> list[str]:
    """The names in docs/metrics.md's table."""
    text = (REPO_ROOT / "docs" / "metrics.md").read_text()
    return re.findall(r"^\| `(astra_token_operator_[a-z_]+)` \|", text, flags=re.MULTILINE)


def samples_of(text: str) -> Samples:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    return samples.get((PREFIX + metric, tuple(sorted(labels.items()))), 0.0)


def series(samples: Samples, metric: str) -> list[dict[str, str]]:
    return [dict(labels) for name, labels in samples if name == PREFIX + metric]


def test_the_scrape_shows_every_documented_metric_with_values_that_match_what_happened(
    operator: OperatorProcess, cluster: Cluster, fake_astra: FakeAstraThread, namespace: str, kubectl: Any,
) -> None:
    # An org of its own (a fresh series for every counter), rate-limited to one call a second so
    # calls queue, and whose first verification meets a 503 (retried).
    suffix = uuid.uuid4().hex[:6]
    org, role, org_id = f"metrics-{suffix}", f"metrics-rw-{suffix}", str(uuid.uuid4())
    secret = f"metrics-root-{suffix}"
    fake_astra.set_faults(fake_astra.faults.model_copy(update={"script": [
        *fake_astra.faults.script,
        ScriptedResponse(status=503, endpoint="GET /v2/currentOrg", org=org_id, times=1)]}))
    cluster.must_apply(root_token_secret(secret, fake_astra.add_org(org_id)))
    cluster.must_apply(org_manifest(org, org_id, fake_astra.url, secret,
                                    rateLimit={"requestsPerSecond": 1, "burst": 1}))
    cluster.must_apply(role_manifest(role, org, astraRoleName="R/W User", ttl="1h", maxTtl="24h"))
    cluster.wait_ready("astraorgs", org, timeout=60)
    cluster.wait_ready("astraroles", role, timeout=60)

    names = ["m-0", "m-1", "m-2"]
    restarted = {"rolloutRestartTargets": [{"kind": "Deployment", "name": "not-there"}]}
    for name in names:
        cluster.must_apply(token_manifest(name, namespace, org, role, **(restarted if name == "m-1" else {})))
    bodies = {name: cluster.wait_ready("astratokens", name, namespace, timeout=90) for name in names}
    scraped = samples_of(operator.scrape())

    assert value(scraped, "mints_total", org=org, outcome="ok") == len(names)
    for name, body in bodies.items():
        labels = {"org": org, "role": role, "namespace": namespace, "name": name}
        status = body["status"]
        assert value(scraped, "token_lease_expiry_timestamp_seconds", **labels) == \
            from_rfc3339(status["leaseExpiresAt"]).timestamp()
        assert value(scraped, "token_max_expiry_timestamp_seconds", **labels) == \
            from_rfc3339(status["maxExpiresAt"]).timestamp()
        assert value(scraped, "token_renew_before_seconds", **labels) == 0.33 * 3600
        assert value(scraped, "token_ready", **labels, reason="Issued") == 1
    assert value(scraped, "tokens", org=org, role=role, state="ready") == len(names)
    assert value(scraped, "org_ready", org=org, reason="Verified") == 1
    creates = [scraped[key] for key in scraped if key[0] == PREFIX + "astra_calls_total"
               and dict(key[1]).get("org") == org and dict(key[1])["route"] == "POST /v2/clientIdSecrets"]
    assert sum(creates) == len(names)
    assert value(scraped, "astra_retries_total", org=org, route="GET /v2/currentOrg") >= 1
    assert value(scraped, "astra_rate_limit_waits_total", org=org) >= 1
    assert value(scraped, "admission_reviews_total", webhook="validate-token", verdict="allowed") >= len(names)

    # A renewal on request, an emergency rotation (with its workload restart), a restored Secret.
    kubectl("annotate", "astratoken", "m-0", "-n", namespace, "astra-tokens.io/renew=2h")
    kubectl("annotate", "astratoken", "m-1", "-n", namespace, "astra-tokens.io/revoke=now")
    cluster.core.delete_namespaced_secret("m-2", namespace)
    wait_for(lambda: (cluster.token("m-0", namespace).get("status") or {}).get("renewals") == 1, timeout=30,
             what="the renewal")
    wait_for(lambda: cluster.token("m-1", namespace)["status"].get("clientId")
             != bodies["m-1"]["status"]["clientId"], timeout=30, what="the rotation")
    wait_for(lambda: cluster.secret("m-2", namespace) is not None, timeout=30, what="the restore")

    def settled() -> Samples | None:
        found = samples_of(operator.scrape())
        done = (value(found, "renewals_total", org=org, outcome="ok") == 1
                and value(found, "workload_restarts_total", org=org, outcome="not_found") == 1
                and value(found, "secret_restores_total", org=org, outcome="ok") == 1)
        return found if done else None

    scraped = wait_for(settled, timeout=30, what="the counters to show the renewal, rotation and restore")
    assert value(scraped, "mints_total", org=org, outcome="ok") == len(names) + 1
    assert value(scraped, "rotations_total", org=org, outcome="ok") == 1
    assert value(scraped, "revocations_total", org=org, outcome="ok") == 1
    assert value(scraped, "token_lease_expiry_timestamp_seconds", org=org, role=role, namespace=namespace,
                 name="m-0") == from_rfc3339(cluster.token("m-0", namespace)["status"]["leaseExpiresAt"]).timestamp()

    present = {name for name, _ in scraped}
    missing = [metric for metric in documented_metrics()
               if not {metric, f"{metric}_count", f"{metric}_bucket"} & present]
    assert len(documented_metrics()) >= 20
    assert missing == [], f"documented but not scraped: {missing}"

    # A deleted token's series go with it.
    for name in names:
        cluster.delete("astratokens", name, namespace)
    for name in names:
        cluster.wait_gone("astratokens", name, namespace, timeout=60)
    scraped = samples_of(operator.scrape())
    assert [labels for labels in series(scraped, "token_ready") if labels["org"] == org] == []
    assert value(scraped, "revocations_total", org=org, outcome="ok") == 1 + len(names)
    for plural, name in (("astraroles", role), ("astraorgs", org)):
        cluster.delete(plural, name)
        cluster.wait_gone(plural, name, timeout=30)
    assert [labels for labels in series(samples_of(operator.scrape()), "org_ready") if labels["org"] == org] == []


def test_livez_and_readyz_answer_on_the_operators_own_port(operator: OperatorProcess) -> None:
    import urllib.request

    for path in ("/livez", "/readyz"):
        with urllib.request.urlopen(f"{operator.ops_url}{path}", timeout=10) as response:  # noqa: S310 (loopback)
            assert (response.status, response.read()) == (200, b"ok\n")

