"""The chart's dashboard and alerting rules ask only for metrics the operator
documents (docs/metrics.md), and the dashboard is a Grafana dashboard."""

from __future__ import annotations

import json
import re

import yaml

from testplatform.paths import REPO_ROOT

FILES = REPO_ROOT / "helm" / "astra-token-operator" / "files"
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def documented() -> set[str]:
    text = (REPO_ROOT / "docs" / "metrics.md").read_text()
    return set(re.findall(r"^\| `(astra_token_operator_[a-z_]+)` \|", text, flags=re.MULTILINE))


def asked_for(expression: str) -> set[str]:
    names = set(re.findall(r"astra_token_operator_[a-z_]+", expression))
    stripped = set()
    for name in names:
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and name.removesuffix(suffix) in documented():
                name = name.removesuffix(suffix)
        stripped.add(name)
    return stripped


def test_the_dashboard_queries_documented_metrics_only() -> None:
    dashboard = json.loads((FILES / "dashboard.json").read_text())
    assert dashboard["uid"] == "astra-token-operator"
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(expressions) >= 15
    regex_families = {"astra_token_operator_(mints|renewals|rotations|revocations|secret_restores|"
                      "workload_restarts)_total", "astra_token_operator_.*_total"}
    unknown = {name for expr in expressions for name in asked_for(expr)
               if name not in documented() and not any(name in family for family in regex_families)}
    assert unknown == set()
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_the_alerting_rules_use_documented_metrics_only() -> None:
    rules = yaml.safe_load((FILES / "prometheus-rules.yaml").read_text())["groups"][0]["rules"]
    used = {name for rule in rules for name in asked_for(rule["expr"])}
    assert used
    assert used - documented() == set()
    assert all(rule["labels"]["severity"] in ("warning", "critical") for rule in rules)
