"""The typed views of AstraOrg, AstraRole and AstraToken, and their agreement
with the CRD schemas in crds/ (the source of truth)."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from astra_token_operator.durations import DURATION_PATTERN
from astra_token_operator.models import (
    AstraOrgSpec,
    AstraOrgStatus,
    AstraRole,
    AstraRoleSpec,
    AstraRoleStatus,
    AstraToken,
    AstraTokenSpec,
    AstraTokenStatus,
    Condition,
    effective_logical_name,
    effective_role_name,
    effective_secret_name,
    find_condition,
    set_condition,
    status_patch,
)
from astra_token_operator.policy.leases import renewal_policy
from astra_token_operator.surface import OrgReason, TokenReason

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"
T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)

ORG_SPEC = {
    "orgId": "6f2d5b0e-1c3a-4b7e-9d2f-0a1b2c3d4e5f",
    "rootTokenRef": {"secret": {"namespace": "astra-token-operator", "name": "astra-root"}},
    "allowedNamespaces": ["team-*"],
}


# ---------------------------------------------------------------- specs


def test_org_spec_fills_the_documented_defaults() -> None:
    spec = AstraOrgSpec.model_validate(ORG_SPEC)
    assert spec.url == "https://api.astra.datastax.com"
    assert spec.caller_mode == "standard"
    assert spec.root_token_ref.secret is not None
    assert spec.root_token_ref.secret.key == "token"
    assert spec.root_token_ref.vault is None
    assert spec.role_sync.enabled is False
    assert spec.role_sync.interval_delta == timedelta(hours=1)
    assert spec.role_sync.ttl_delta == spec.role_sync.max_ttl_delta == timedelta(hours=24)
    assert spec.token_defaults.native_expiry is True
    assert spec.rate_limit.requests_per_second is None


def test_org_spec_reads_every_field_written_in_camel_case() -> None:
    spec = AstraOrgSpec.model_validate({
        **ORG_SPEC,
        "url": "http://127.0.0.1:8080/",
        "logicalName": "prod",
        "callerMode": "sidecar",
        "rootTokenRef": {"vault": {"path": "secret/astra/root", "key": "admin"}},
        "namespaceSelector": {
            "matchLabels": {"tier": "apps"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}],
        },
        "roleSync": {"enabled": True, "interval": 900, "ttl": "1h", "maxTtl": "720h", "prune": True},
        "tokenDefaults": {"nativeExpiry": False, "descriptionPrefix": "k8s-prod"},
        "rateLimit": {"requestsPerSecond": 2.5, "burst": 5, "concurrency": 2},
    })
    assert spec.api_base_url == "http://127.0.0.1:8080"
    assert spec.caller_mode == "sidecar"
    assert spec.root_token_ref.vault is not None
    assert spec.root_token_ref.vault.key == "admin"
    assert spec.namespace_selector is not None
    assert spec.namespace_selector.match_expressions[0].values == ["prod"]
    assert spec.role_sync.interval_delta == timedelta(minutes=15)
    assert spec.role_sync.max_ttl_delta == timedelta(days=30)
    assert spec.token_defaults.description_prefix == "k8s-prod"
    assert spec.rate_limit.requests_per_second == 2.5


@pytest.mark.parametrize(
    ("ttl", "expected"),
    [
        (3600, timedelta(hours=1)),
        ("3600", timedelta(hours=1)),
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h30m", timedelta(minutes=90)),
        ("1.5h", timedelta(minutes=90)),
        ("500ms", timedelta(milliseconds=500)),
    ],
)
def test_role_ttl_accepts_every_duration_form_the_plugin_did(ttl: int | str, expected: timedelta) -> None:
    spec = AstraRoleSpec.model_validate({"orgRef": "prod", "roleId": "x", "ttl": ttl})
    assert spec.ttl_delta == expected
    assert spec.ttl == ttl  # kept as written, so it round-trips


def test_role_lease_limits_default_to_the_plugins_24_hours() -> None:
    spec = AstraRoleSpec.model_validate({"orgRef": "prod", "astraRoleName": "R/W User"})
    assert spec.ttl_delta == spec.max_ttl_delta == timedelta(seconds=86400)


@pytest.mark.parametrize("bad", ["2d", "1 hour", "", "-5m", -1])
def test_a_duration_the_operator_cannot_read_is_refused_with_the_forms_it_can(bad: int | str) -> None:
    with pytest.raises(ValidationError, match=r"duration|negative"):
        AstraRoleSpec.model_validate({"orgRef": "prod", "roleId": "x", "ttl": bad})


def test_token_spec_defaults_renew_a_third_before_the_lease_ends() -> None:
    spec = AstraTokenSpec.model_validate({"orgRef": "prod", "roleRef": "app-rw"})
    assert spec.ttl_delta is None  # the role's ttl applies
    assert spec.renew_before == "33%"
    policy = renewal_policy(role_ttl="24h", role_max_ttl="24h", renew_before=spec.renew_before,
                            rotation_grace_period=spec.rotation_grace_period)
    assert policy.renew_before == timedelta(hours=24) * 0.33
    assert policy.rotation_grace_period == timedelta(minutes=5)
    assert spec.secret.name is None
    assert spec.rollout_restart_targets == []


def test_token_spec_reads_a_realistic_manifest() -> None:
    manifest = yaml.safe_load(
        """
        orgRef: prod
        roleRef: app-rw
        logicalName: orders-api
        metadata: {owner: team-orders, ticket: OPS-1234}
        ttl: 1h
        secret:
          name: orders-astra
          labels: {app: orders}
          annotations: {note: rotated by astra-token-operator}
        renewBefore: 600
        rotationGracePeriod: 0s
        rolloutRestartTargets:
          - {kind: Deployment, name: orders-api}
          - {kind: StatefulSet, name: orders-cache}
        someFieldFromANewerVersion: ignored
        """
    )
    spec = AstraTokenSpec.model_validate(manifest)
    assert spec.ttl_delta == timedelta(hours=1)
    assert spec.metadata == {"owner": "team-orders", "ticket": "OPS-1234"}
    policy = renewal_policy(role_ttl="24h", role_max_ttl="24h", token_ttl=spec.ttl, renew_before=spec.renew_before,
                            rotation_grace_period=spec.rotation_grace_period)
    assert policy.renew_before == timedelta(minutes=10)
    assert policy.rotation_grace_period == timedelta(0)
    assert [(t.kind, t.name) for t in spec.rollout_restart_targets] == [
        ("Deployment", "orders-api"),
        ("StatefulSet", "orders-cache"),
    ]


@pytest.mark.parametrize(("value", "fraction"), [("33%", 0.33), ("1%", 0.01), ("99%", 0.99), ("50%", 0.5)])
def test_renew_before_percentages_are_fractions_of_the_lease(value: str, fraction: float) -> None:
    spec = AstraTokenSpec.model_validate({"orgRef": "prod", "roleRef": "app-rw", "renewBefore": value})
    ttl = timedelta(hours=100)  # long enough that no clamp applies
    policy = renewal_policy(role_ttl=ttl, role_max_ttl=ttl, renew_before=spec.renew_before)
    assert policy.renew_before.total_seconds() == pytest.approx(min(fraction, 0.5) * ttl.total_seconds())


@pytest.mark.parametrize("bad", ["0%", "100%", "150%", "33"])
def test_renew_before_outside_1_to_99_percent_is_refused(bad: str) -> None:
    spec = {"orgRef": "prod", "roleRef": "app-rw", "renewBefore": bad}
    if bad == "33":  # bare digits are seconds, which is fine
        renew_before = AstraTokenSpec.model_validate(spec).renew_before
        assert renewal_policy(role_ttl="1h", role_max_ttl="1h", renew_before=renew_before).renew_before == \
            timedelta(seconds=33)
        return
    with pytest.raises(ValidationError, match="percentage from 1% to 99%"):
        AstraTokenSpec.model_validate(spec)


# ---------------------------------------------------------------- defaults the operator applies


def test_logical_name_defaults_to_the_resource_name_lower_cased() -> None:
    spec = AstraTokenSpec.model_validate({"orgRef": "prod", "roleRef": "app-rw"})
    assert effective_logical_name(spec, "Orders-API") == "orders-api"
    named = spec.model_copy(update={"logical_name": "Billing"})
    assert effective_logical_name(named, "orders-api") == "billing"


def test_role_name_defaults_to_the_role_resource_name_lower_cased() -> None:
    spec = AstraRoleSpec.model_validate({"orgRef": "prod", "roleId": "x"})
    assert effective_role_name(spec, "App-RW") == "app-rw"
    assert effective_role_name(spec.model_copy(update={"role_name": "Readers"}), "app-rw") == "readers"


def test_secret_name_defaults_to_the_token_resource_name() -> None:
    spec = AstraTokenSpec.model_validate({"orgRef": "prod", "roleRef": "app-rw"})
    assert effective_secret_name(spec, "orders-api") == "orders-api"
    spec = AstraTokenSpec.model_validate({"orgRef": "prod", "roleRef": "app-rw", "secret": {"name": "db"}})
    assert effective_secret_name(spec, "orders-api") == "db"


def test_whole_resources_parse_from_a_kubernetes_body() -> None:
    body = {
        "apiVersion": "astra-tokens.io/v1alpha1",
        "kind": "AstraToken",
        "metadata": {"name": "orders-api", "namespace": "team-a", "uid": "u-1", "generation": 3,
                     "labels": {"app": "orders"}, "managedFields": [{"manager": "kubectl"}]},
        "spec": {"orgRef": "prod", "roleRef": "app-rw", "secret": {"name": "orders-astra"}},
        "status": {"clientId": "zjCEYwRGWocLfQJHBNQxvorr", "renewals": 2,
                   "leaseExpiresAt": "2025-03-01T13:00:00Z",
                   "conditions": [{"type": "Ready", "status": "True", "reason": "Renewed",
                                   "lastTransitionTime": "2025-03-01T12:00:00Z"}]},
    }
    token = AstraToken.model_validate(body)
    assert (token.logical_name, token.secret_name) == ("orders-api", "orders-astra")
    assert token.status.lease_expires_at == datetime(2025, 3, 1, 13, tzinfo=UTC)
    assert token.status.renewals == 2
    ready = find_condition(token.status.conditions, "Ready")
    assert ready is not None
    assert ready.is_true
    role = AstraRole.model_validate(
        {"metadata": {"name": "App-RW"}, "spec": {"orgRef": "prod", "roleId": "x"}}
    )
    assert role.role_name == "app-rw"
    assert role.status == AstraRoleStatus()


# ---------------------------------------------------------------- conditions


def test_a_new_condition_is_appended_with_the_time_it_appeared() -> None:
    synced = Condition(type="RolesSynced", status="True", last_transition_time=T0)
    conditions = set_condition([synced], Condition(type="Ready", status="False", reason="OrgNotReady"), T0)
    assert [c.type for c in conditions] == ["RolesSynced", "Ready"]
    assert conditions[1].last_transition_time == T0


def test_same_status_keeps_the_transition_time_but_takes_the_new_reason() -> None:
    before = [Condition(type="Ready", status="True", reason=TokenReason.ISSUED, last_transition_time=T0)]
    later = T0 + timedelta(hours=8)
    after = set_condition(before, Condition(type="Ready", status="True", reason=TokenReason.RENEWED), later)
    assert after[0].reason == "Renewed"
    assert after[0].last_transition_time == T0


def test_status_change_moves_the_transition_time_and_leaves_other_conditions_alone() -> None:
    synced = Condition(type="RolesSynced", status="True", last_transition_time=T0)
    ready = Condition(type="Ready", status="True", reason=OrgReason.VERIFIED, last_transition_time=T0)
    later = T0 + timedelta(minutes=5)
    after = set_condition(
        [ready, synced],
        Condition(type="Ready", status="False", reason=OrgReason.UNAUTHORIZED, message="401 from Astra"),
        later,
    )
    assert [c.type for c in after] == ["Ready", "RolesSynced"]
    assert (after[0].status, after[0].reason) == ("False", "Unauthorized")
    assert after[0].last_transition_time == later
    assert after[1] is synced


def test_setting_the_same_condition_twice_changes_nothing() -> None:
    first = set_condition([], Condition(type="Ready", status="True", reason="Verified"), T0)
    again = set_condition(first, Condition(type="Ready", status="True", reason="Verified"), T0 + timedelta(1))
    assert again == first  # so a handler can skip a status patch that would change nothing


# ---------------------------------------------------------------- status patches


def test_status_patch_is_camel_case_with_kubernetes_timestamps() -> None:
    status = AstraTokenStatus(
        client_id="zjCEYwRGWocLfQJHBNQxvorr",
        lease_expires_at=datetime(2025, 3, 1, 13, 0, 0, 987654, tzinfo=UTC),
        lease_duration=3600,
        conditions=set_condition([], Condition(type="Ready", status="True", reason="Issued"), T0),
    )
    assert status_patch(AstraTokenStatus(), status) == {
        "clientId": "zjCEYwRGWocLfQJHBNQxvorr",
        "leaseExpiresAt": "2025-03-01T13:00:00Z",
        "leaseDuration": 3600,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Issued",
                        "lastTransitionTime": "2025-03-01T12:00:00Z"}],
    }


def test_status_patch_sends_only_what_was_given_and_differs_and_none_clears_a_field() -> None:
    assert status_patch(AstraOrgStatus(org_name="Old"), AstraOrgStatus(org_name="Acme", last_verified=T0)) == {
        "orgName": "Acme", "lastVerified": "2025-03-01T12:00:00Z"}
    was_due = AstraTokenStatus(next_action_at=T0)
    assert status_patch(was_due, AstraTokenStatus(next_action_at=None)) == {"nextActionAt": None}
    assert status_patch(was_due, AstraTokenStatus(next_action_at=T0)) == {}
    assert status_patch({"renewals": 1, "clientId": "x"}, AstraTokenStatus(renewals=2)) == {"renewals": 2}


def test_status_times_without_a_timezone_are_refused() -> None:
    with pytest.raises(ValidationError):
        AstraTokenStatus(lease_expires_at=datetime(2025, 3, 1, 13))


# ---------------------------------------------------------------- the models mirror the CRDs


def _crd(plural: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CRD_DIR / f"{plural}.yaml").read_text())
    return loaded


def _root(plural: str) -> dict[str, Any]:
    root: dict[str, Any] = _crd(plural)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return root


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model inside X, X | None, list[X] (None when the field is a scalar or a map)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _nested_model(arg)
            if found is not None:
                return found
    return None


def _mismatches(schema: dict[str, Any], model: type[BaseModel], where: str) -> Iterator[str]:
    fields = {f.alias or name: f for name, f in model.model_fields.items()}
    properties: dict[str, Any] = schema.get("properties", {})
    for missing in sorted(set(properties) - set(fields)):
        yield f"{where}.{missing} is in the CRD but not in {model.__name__}"
    for extra in sorted(set(fields) - set(properties)):
        yield f"{where}.{extra} is in {model.__name__} but not in the CRD"
    for key in sorted(set(properties) & set(fields)):
        prop, field = properties[key], fields[key]
        if "default" in prop and prop["default"] != {} and field.default != prop["default"]:
            yield f"{where}.{key}: CRD default {prop['default']!r} != model default {field.default!r}"
        nested = _nested_model(field.annotation)
        if nested is not None:
            yield from _mismatches(prop.get("items", prop), nested, f"{where}.{key}")


@pytest.mark.parametrize(
    ("plural", "spec_model", "status_model"),
    [
        ("astraorgs", AstraOrgSpec, AstraOrgStatus),
        ("astraroles", AstraRoleSpec, AstraRoleStatus),
        ("astratokens", AstraTokenSpec, AstraTokenStatus),
    ],
)
def test_models_have_exactly_the_crd_fields_and_defaults(
    plural: str, spec_model: type[BaseModel], status_model: type[BaseModel]
) -> None:
    properties = _root(plural)["properties"]
    problems = [
        *_mismatches(properties["spec"], spec_model, "spec"),
        *_mismatches(properties["status"], status_model, "status"),
    ]
    assert problems == []


def _walk(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, prop in schema.get("properties", {}).items():
        yield from _walk(prop, f"{path}.{name}")
    if "items" in schema:
        yield from _walk(schema["items"], f"{path}[]")


@pytest.mark.parametrize("plural", ["astraorgs", "astraroles", "astratokens"])
def test_every_crd_field_has_a_description_for_kubectl_explain(plural: str) -> None:
    root = _root(plural)["properties"]
    undescribed = [
        path
        for top in ("spec", "status")
        for path, prop in _walk(root[top], top)
        if not prop.get("description") and not path.endswith("[]")
    ]
    assert undescribed == []


def _cel_regexes(plural: str) -> Iterator[str]:
    text = (CRD_DIR / f"{plural}.yaml").read_text()
    # CEL single-quoted literals: a doubled backslash in YAML's block text is one in the regex.
    for literal in re.findall(r"'(\^[^']*\$)'", text):
        yield literal.replace("\\\\", "\\")


@pytest.mark.parametrize("plural", ["astraorgs", "astraroles", "astratokens"])
def test_crd_duration_rules_use_the_same_grammar_as_the_operator(plural: str) -> None:
    duration_regexes = {r for r in _cel_regexes(plural) if "(ms|s|m|h)" in r}
    assert duration_regexes == {DURATION_PATTERN}


@pytest.mark.parametrize("plural", ["astraorgs", "astraroles", "astratokens"])
def test_every_duration_field_is_int_or_string_with_a_format_rule(plural: str) -> None:
    root = _root(plural)["properties"]["spec"]
    for path, prop in _walk(root, "spec"):
        if prop.get("x-kubernetes-int-or-string"):
            rules = " ".join(r["rule"] for r in prop.get("x-kubernetes-validations", []))
            assert "self.matches('^([0-9]+|" in rules, path
            assert "maxLength" in prop, f"{path}: CEL cost needs a bounded string"


def test_the_names_kubectl_users_type() -> None:
    names = {plural: _crd(plural)["spec"] for plural in ("astraorgs", "astraroles", "astratokens")}
    assert {p: (s["names"]["kind"], s["names"]["shortNames"], s["scope"]) for p, s in names.items()} == {
        "astraorgs": ("AstraOrg", ["aorg"], "Cluster"),
        "astraroles": ("AstraRole", ["arole"], "Cluster"),
        "astratokens": ("AstraToken", ["atok"], "Namespaced"),
    }
    assert all(s["names"]["categories"] == ["astra"] for s in names.values())
    assert all(s["group"] == "astra-tokens.io" for s in names.values())


def test_printer_columns_match_the_design() -> None:
    columns = {
        plural: [c["name"].upper() for c in _crd(plural)["spec"]["versions"][0]["additionalPrinterColumns"]]
        for plural in ("astraorgs", "astraroles", "astratokens")
    }
    assert columns == {
        "astraorgs": ["ORG ID", "LOGICAL NAME", "MODE", "READY", "TOKENS", "AGE"],
        "astraroles": ["ORG", "ROLE", "ASTRA ROLE", "TTL", "MAX TTL", "READY", "AGE"],
        "astratokens": ["ORG", "ROLE", "LOGICAL NAME", "CLIENT ID", "EXPIRES", "READY", "AGE"],
    }
    expires = _crd("astratokens")["spec"]["versions"][0]["additionalPrinterColumns"][4]
    assert expires["type"] == "string"  # a date column shows <invalid> for a future time
