"""Which namespaces may use an org and a role: globs, label selectors, and a
role that narrows but never widens its org's list."""

from __future__ import annotations

from typing import Any

import pytest

from astra_token_operator.models import LabelSelector
from astra_token_operator.policy.tenancy import Verdict, matches_any, namespace_verdict, selector_matches


def selector(**body: Any) -> LabelSelector:
    return LabelSelector.model_validate(body)


@pytest.mark.parametrize(("name", "patterns", "expected"), [
    ("team-a", ["*"], True),
    ("team-a", ["team-a"], True),
    ("team-a", ["team-*"], True),
    ("team-a", ["team-?"], True),
    ("team-ab", ["team-?"], False),
    ("team-a", ["team-[ab]"], True),
    ("team-c", ["team-[ab]"], False),
    ("team-a", ["other", "team-*"], True),
    ("team-a", ["Team-A"], False),  # namespaces are lower-case: no case folding
    ("team-a", ["team"], False),  # a name is not a prefix
    ("prod-team-a", ["team-*"], False),  # globs are anchored
    ("team-a", [], False),
    ("", ["*"], True),
])
def test_allowed_namespaces_are_names_or_globs(name: str, patterns: list[str], expected: bool) -> None:
    assert matches_any(name, patterns) is expected


@pytest.mark.parametrize(("body", "labels", "expected"), [
    ({}, {}, True),
    ({}, {"any": "thing"}, True),
    ({"matchLabels": {"tier": "prod"}}, {"tier": "prod", "x": "y"}, True),
    ({"matchLabels": {"tier": "prod"}}, {"tier": "dev"}, False),
    ({"matchLabels": {"tier": "prod"}}, {}, False),
    ({"matchLabels": {"tier": "prod", "team": "a"}}, {"tier": "prod"}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["prod", "stage"]}]}, {"tier": "stage"}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["prod"]}]}, {"tier": "dev"}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["prod"]}]}, {}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["dev"]}]}, {"tier": "prod"}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["dev"]}]}, {"tier": "dev"}, False),
    # Kubernetes: NotIn holds for a namespace without the label at all.
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["dev"]}]}, {}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"tier": ""}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"other": "x"}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"other": "x"}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"tier": "prod"}, False),
    # Every term must hold: labels and expressions together.
    ({"matchLabels": {"team": "a"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["prod"]}]},
     {"team": "a", "tier": "prod"}, True),
    ({"matchLabels": {"team": "a"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["prod"]}]},
     {"team": "b", "tier": "prod"}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"},
                           {"key": "frozen", "operator": "DoesNotExist"}]}, {"tier": "x", "frozen": "1"}, False),
])
def test_selectors_follow_kubernetes_label_selector_semantics(
        body: dict[str, Any], labels: dict[str, str], expected: bool) -> None:
    assert selector_matches(selector(**body), labels) is expected


def verdict(namespace: str, *, org_allowed: list[str], role_allowed: list[str] | None = None,
            org_selector: LabelSelector | None = None, labels: dict[str, str] | None = None) -> Verdict:
    return namespace_verdict(namespace, labels, org_name="acme", org_allowed=org_allowed,
                             org_selector=org_selector, role_name="reader", role_allowed=role_allowed)


@pytest.mark.parametrize(("namespace", "org_allowed", "role_allowed", "expected"), [
    ("team-a", ["*"], None, True),
    ("team-a", ["team-*"], None, True),
    ("prod", ["team-*"], None, False),
    ("team-a", ["team-*"], ["team-a"], True),
    ("team-b", ["team-*"], ["team-a"], False),
    # A role's list narrows the org's; it never widens it.
    ("prod", ["team-*"], ["*"], False),
    ("prod", ["team-*"], ["prod"], False),
    ("team-a", ["*"], [], False),  # an empty role list admits nobody
])
def test_a_role_narrows_its_orgs_namespaces_and_never_widens_them(
        namespace: str, org_allowed: list[str], role_allowed: list[str] | None, expected: bool) -> None:
    assert verdict(namespace, org_allowed=org_allowed, role_allowed=role_allowed).allowed is expected


def test_a_namespace_outside_the_orgs_list_is_told_to_ask_the_orgs_admin() -> None:
    result = verdict("prod", org_allowed=["team-*"], role_allowed=["*"])
    assert not result.allowed
    assert "'prod'" in result.reason
    assert "AstraOrg 'acme' allowedNamespaces ['team-*']" in result.reason
    assert "ask the org's admin to add it" in result.reason


def test_a_namespace_outside_the_roles_list_is_told_to_use_another_role() -> None:
    result = verdict("team-b", org_allowed=["*"], role_allowed=["team-a"])
    assert not result.allowed
    assert "AstraRole 'reader' allowedNamespaces ['team-a']" in result.reason
    assert "use another role" in result.reason


@pytest.mark.parametrize(("labels", "expected"), [
    ({"astra": "yes"}, True),
    ({"astra": "no"}, False),
    ({}, False),
    (None, False),  # labels unknown: a selector with matchLabels cannot hold
])
def test_an_org_selector_must_also_match_the_namespace_labels(labels: dict[str, str] | None,
                                                               expected: bool) -> None:
    result = verdict("team-a", org_allowed=["*"], org_selector=selector(matchLabels={"astra": "yes"}), labels=labels)
    assert result.allowed is expected
    if not expected:
        assert "namespaceSelector" in result.reason
        assert "ask the org's admin to label the namespace" in result.reason


def test_the_org_list_is_checked_before_its_selector() -> None:
    result = verdict("prod", org_allowed=["team-*"], org_selector=selector(matchLabels={"astra": "yes"}),
                     labels={"astra": "yes"})
    assert not result.allowed
    assert "allowedNamespaces" in result.reason


def test_an_allowed_namespace_has_no_reason() -> None:
    assert verdict("team-a", org_allowed=["team-*"], role_allowed=["team-a"]) == Verdict(True, "")
