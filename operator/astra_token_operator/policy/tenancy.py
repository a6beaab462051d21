"""Which namespaces may use an org and a role: pure decisions shared by the
token reconciler and the admission webhook."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from astra_token_operator.models import LabelSelector


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""  # a sentence a kubectl user understands, saying how to fix it


def matches_any(name: str, patterns: Sequence[str]) -> bool:
    """Names or globs ('team-*'); '*' allows every namespace."""
    return any(fnmatchcase(name, pattern) for pattern in patterns)


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics: every term must hold."""
    if any(labels.get(key) != value for key, value in selector.match_labels.items()):
        return False
    for requirement in selector.match_expressions:
        present = requirement.key in labels
        value = labels.get(requirement.key)
        if requirement.operator == "In" and value not in requirement.values:
            return False
        if requirement.operator == "NotIn" and present and value in requirement.values:
            return False
        if requirement.operator == "Exists" and not present:
            return False
        if requirement.operator == "DoesNotExist" and present:
            return False
    return True


def namespace_verdict(
    namespace: str,
    namespace_labels: Mapping[str, str] | None,
    *,
    org_name: str,
    org_allowed: Sequence[str],
    org_selector: LabelSelector | None,
    role_name: str,
    role_allowed: Sequence[str] | None,
) -> Verdict:
    """The org's list (and selector) admits the namespace, and the role's list,
    when set, narrows it further (a role can never widen the org's list)."""
    if not matches_any(namespace, org_allowed):
        return Verdict(False, f"namespace {namespace!r} is not in AstraOrg {org_name!r} allowedNamespaces "
                              f"{list(org_allowed)}; ask the org's admin to add it")
    if org_selector is not None and not selector_matches(org_selector, namespace_labels or {}):
        return Verdict(False, f"namespace {namespace!r} does not match AstraOrg {org_name!r} namespaceSelector; "
                              "ask the org's admin to label the namespace or widen the selector")
    if role_allowed is not None and not matches_any(namespace, role_allowed):
        return Verdict(False, f"namespace {namespace!r} is not in AstraRole {role_name!r} allowedNamespaces "
                              f"{list(role_allowed)}; use another role or ask its admin to add the namespace")
    return Verdict(True)
