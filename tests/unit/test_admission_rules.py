"""Admission rules the CRD schema cannot express: each refusal names what is
wrong and says how to fix it, in one sentence a kubectl user understands."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from astra_token_operator.models import AstraOrgSpec, AstraRoleSpec, AstraToken
from astra_token_operator.policy.admission_rules import (
    Holder,
    NamedOrg,
    NamedRole,
    abandon_problems,
    abandon_refusal,
    abandon_set,
    abandon_stamp,
    caller_mode_problems,
    deletion_problems,
    labels_at_creation,
    org_problems,
    pod_token_problems,
    principal_json,
    request_changed,
    request_problems,
    role_problems,
    token_create_problems,
    token_update_problems,
    with_match_conditions,
)
from astra_token_operator.surface import (
    ANNOTATION_ABANDON,
    ANNOTATION_ABANDONED_BY,
    ANNOTATION_CREATED_BY,
    ANNOTATION_OWNED_BY_POD,
    ANNOTATION_RENEW,
    ANNOTATION_REQUESTED_BY,
    ANNOTATION_REVOKE,
    ANNOTATION_ROTATE,
)

ORG_ID = "6f2d5b0e-1c3a-4b7e-9d2f-0a1b2c3d4e5f"
OTHER_ORG_ID = "0a1b2c3d-0000-4000-8000-000000000001"
OPERATOR_NAMESPACE = "astra-token-operator"
CREATOR = principal_json({"username": "alice", "uid": "u-1", "groups": ["devs"]})
# Words that tell a person what to do next.
FIX_VERBS = ("choose", "set", "use", "ask", "lower", "retry", "move", "edit", "leave", "annotate")


def says_how_to_fix(problem: str) -> bool:
    return any(re.search(rf"\b{verb}\b", problem) for verb in FIX_VERBS)


def org_spec(**changes: Any) -> AstraOrgSpec:
    body: dict[str, Any] = {
        "orgId": ORG_ID,
        "rootTokenRef": {"secret": {"namespace": OPERATOR_NAMESPACE, "name": "astra-root"}},
        "allowedNamespaces": ["team-*"],
        **changes,
    }
    return AstraOrgSpec.model_validate(body)


def role_spec(**changes: Any) -> AstraRoleSpec:
    return AstraRoleSpec.model_validate({"orgRef": "acme", "roleId": "r-1", "ttl": "1h", "maxTtl": "24h", **changes})


ACME = NamedOrg("acme", org_spec())
READER = NamedRole("reader", role_spec())


def token(*, namespace: str = "team-a", uid: str = "uid-1", annotations: dict[str, str] | None = None,
          **spec: Any) -> AstraToken:
    return AstraToken.model_validate({
        "metadata": {"name": "app", "namespace": namespace, "uid": uid, "annotations": annotations or {}},
        "spec": {"orgRef": "acme", "roleRef": "reader", **spec},
    })


def create_problems(tok: AstraToken | None = None, *, org: NamedOrg | None = ACME, role: NamedRole | None = READER,
                    labels: dict[str, str] | None = None, holders: tuple[Holder, ...] = ()) -> list[str]:
    return token_create_problems(tok or token(), org=org, role=role, namespace_labels=labels, holders=holders)


# --- AstraToken: create ---------------------------------------------------------------------------

def test_a_token_of_a_known_org_and_role_in_an_allowed_namespace_is_admitted() -> None:
    assert create_problems() == []


def test_an_unknown_org_is_the_only_problem_reported() -> None:
    problems = create_problems(org=None, role=None)
    assert len(problems) == 1
    assert "AstraOrg 'acme' does not exist" in problems[0]
    assert "set spec.orgRef" in problems[0]
    assert "kubectl get astraorgs" in problems[0]


def test_a_sidecar_org_refuses_tokens_and_says_to_annotate_pods_instead() -> None:
    problems = create_problems(org=NamedOrg("acme", org_spec(callerMode="sidecar")))
    assert len(problems) == 1
    assert "sidecar mode" in problems[0]
    assert "astra-tokens.io/inject=true" in problems[0]
    assert "annotate your pods" in problems[0]


def test_an_unknown_role_is_reported_with_the_command_to_list_roles() -> None:
    problems = create_problems(role=None)
    assert problems == [
        "AstraRole 'reader' does not exist; set spec.roleRef to an existing AstraRole (kubectl get astraroles)"
    ]


def test_an_unknown_role_of_a_sidecar_org_reports_both() -> None:
    problems = create_problems(org=NamedOrg("acme", org_spec(callerMode="sidecar")), role=None)
    assert [("sidecar" in p, "does not exist" in p) for p in problems] == [(True, False), (False, True)]


def test_a_role_of_another_org_is_refused() -> None:
    problems = create_problems(role=NamedRole("reader", role_spec(orgRef="globex")))
    assert problems == ["AstraRole 'reader' belongs to AstraOrg 'globex', not 'acme'; use a role of the same org"]


@pytest.mark.parametrize(("namespace", "org", "role", "labels", "fragment"), [
    ("prod", ACME, READER, None, "not in AstraOrg 'acme' allowedNamespaces"),
    ("team-b", ACME, NamedRole("reader", role_spec(allowedNamespaces=["team-a"])), None,
     "not in AstraRole 'reader' allowedNamespaces"),
    ("team-a", NamedOrg("acme", org_spec(namespaceSelector={"matchLabels": {"astra": "yes"}})), READER,
     {"astra": "no"}, "does not match AstraOrg 'acme' namespaceSelector"),
])
def test_a_namespace_the_org_or_role_does_not_admit_is_refused(
        namespace: str, org: NamedOrg, role: NamedRole, labels: dict[str, str] | None, fragment: str) -> None:
    problems = create_problems(token(namespace=namespace), org=org, role=role, labels=labels)
    assert len(problems) == 1
    assert fragment in problems[0]
    assert "ask" in problems[0]


def test_a_namespace_with_the_selected_labels_is_admitted() -> None:
    org = NamedOrg("acme", org_spec(namespaceSelector={"matchLabels": {"astra": "yes"}}))
    assert create_problems(org=org, labels={"astra": "yes"}) == []


@pytest.mark.parametrize(("ttl", "admitted"), [
    (None, True),
    ("1h", True),
    ("24h", True),  # equal to maxTtl
    (86400, True),
    ("86401", False),
    ("24h1s", False),
    ("48h", False),
])
def test_a_ttl_above_the_roles_max_ttl_is_refused(ttl: str | int | None, admitted: bool) -> None:
    problems = create_problems(token(ttl=ttl) if ttl is not None else token())
    assert (problems == []) is admitted
    if not admitted:
        assert problems == [f"spec.ttl {ttl} is longer than AstraRole 'reader' maxTtl 24h; lower spec.ttl or ask "
                            "for a role with a longer maxTtl"]


def test_the_token_itself_as_holder_is_not_a_conflict() -> None:
    assert create_problems(holders=(Holder("team-a", "app", "uid-1"),)) == []


def test_a_logical_name_held_by_another_token_is_refused() -> None:
    problems = create_problems(holders=(Holder("team-b", "other", "uid-2"),))
    assert problems == ["logical name 'app' for AstraRole 'reader' in AstraOrg 'acme' is already used by AstraToken "
                        "team-b/other; choose another spec.logicalName"]


def test_a_logical_name_held_by_a_token_being_deleted_says_to_retry() -> None:
    problems = create_problems(holders=(Holder("team-b", "other", "uid-2", deleting=True),))
    assert len(problems) == 1
    assert "team-b/other, which is being deleted; retry once it is gone" in problems[0]


def test_a_conflict_is_reported_once_whatever_the_number_of_holders() -> None:
    holders = (Holder("team-a", "app", "uid-1"), Holder("team-b", "x", "uid-2"), Holder("team-c", "y", "uid-3"))
    problems = create_problems(holders=holders)
    assert len(problems) == 1
    assert "team-b/x" in problems[0]


def test_the_logical_name_in_a_conflict_is_the_lower_cased_effective_one() -> None:
    problems = create_problems(token(logicalName="Billing"), holders=(Holder("team-b", "other", "uid-2"),))
    assert "logical name 'billing'" in problems[0]


def test_every_problem_of_one_token_is_reported_together() -> None:
    problems = create_problems(token(namespace="prod", ttl="48h"), role=NamedRole("reader", role_spec(orgRef="x")),
                               holders=(Holder("team-b", "other", "uid-2"),))
    assert len(problems) == 4
    assert all(says_how_to_fix(p) for p in problems), problems


# --- AstraToken: update ---------------------------------------------------------------------------

@pytest.mark.parametrize(("old", "new", "refused"), [
    (CREATOR, CREATOR, False),
    (CREATOR, principal_json({"username": "mallory"}), True),
    (CREATOR, None, True),
    (None, CREATOR, True),
    (None, None, False),
])
def test_the_created_by_annotation_cannot_be_changed_or_removed(old: str | None, new: str | None,
                                                                refused: bool) -> None:
    def annotated(value: str | None) -> AstraToken:
        return token(annotations={ANNOTATION_CREATED_BY: value} if value is not None else {})

    problems = token_update_problems(annotated(old), annotated(new), role=READER)
    assert (problems != []) is refused
    if refused:
        assert problems == [f"annotation {ANNOTATION_CREATED_BY} records who created this AstraToken and cannot be "
                            "changed or removed; leave it as it is"]


@pytest.mark.parametrize(("old_ttl", "new_ttl", "role", "refused"), [
    ("1h", "2h", READER, False),
    ("1h", "48h", READER, True),
    (None, "48h", READER, True),
    ("1h", "48h", None, False),  # the role is gone: nothing to compare with
])
def test_a_ttl_change_is_checked_against_the_roles_max_ttl(old_ttl: str | None, new_ttl: str,
                                                           role: NamedRole | None, refused: bool) -> None:
    old = token(ttl=old_ttl) if old_ttl is not None else token()
    problems = token_update_problems(old, token(ttl=new_ttl), role=role)
    assert (problems != []) is refused
    if refused:
        assert "lower spec.ttl" in problems[0]


def test_an_unchanged_ttl_is_not_rechecked_after_the_role_shrank() -> None:
    """Tightening a role must not make every existing token uneditable."""
    shrunk = NamedRole("reader", role_spec(ttl="1h", maxTtl="1h"))
    assert token_update_problems(token(ttl="12h"), token(ttl="12h", metadata={"team": "x"}), role=shrunk) == []


def test_a_bad_request_annotation_is_refused_on_update() -> None:
    problems = token_update_problems(token(), token(annotations={ANNOTATION_REVOKE: "yes"}), role=READER)
    assert len(problems) == 1
    assert ANNOTATION_REVOKE in problems[0]


# --- requests made by annotating ------------------------------------------------------------------

@pytest.mark.parametrize("increment", ["1h", "30m", "3600", "1.5h", "250ms", " 1h "])
def test_a_positive_renew_increment_is_accepted(increment: str) -> None:
    assert request_problems({ANNOTATION_RENEW: increment}) == []


@pytest.mark.parametrize("increment", ["0", "0s", "0.0h", "", "-1h", "soon", "1d", "true"])
def test_a_renew_increment_that_is_not_positive_is_refused(increment: str) -> None:
    problems = request_problems({ANNOTATION_RENEW: increment})
    assert problems == [f"{ANNOTATION_RENEW}={increment!r} is not an increment; use a positive duration such as "
                        "1h, 30m or 3600"]


def test_now_is_the_only_revoke_request() -> None:
    assert request_problems({ANNOTATION_REVOKE: "now"}) == []


@pytest.mark.parametrize("value", ["", "Now", "true", "yes", "1h"])
def test_any_other_revoke_value_is_refused_naming_the_value_to_use(value: str) -> None:
    problems = request_problems({ANNOTATION_REVOKE: value})
    assert len(problems) == 1
    assert f"{ANNOTATION_REVOKE}={value!r} is not understood" in problems[0]
    assert 'the only value is "now"' in problems[0]


@pytest.mark.parametrize("value", ["now", "kubectl-astra-20261206T011500Z-a1b2c3", "release-42",
                                   "2026-12-06T01:15:00Z"])
def test_a_rotation_id_is_a_rotate_request(value: str) -> None:
    assert request_problems({ANNOTATION_ROTATE: value}) == []


@pytest.mark.parametrize("value", ["", "two words", "x" * 64, "a/b", "{}"])
def test_a_rotate_value_that_is_not_a_rotation_id_is_refused(value: str) -> None:
    problems = request_problems({ANNOTATION_ROTATE: value})
    assert len(problems) == 1
    assert f"{ANNOTATION_ROTATE}={value!r} is not a rotation id" in problems[0]


def test_bad_renew_and_revoke_requests_are_both_reported() -> None:
    assert len(request_problems({ANNOTATION_RENEW: "0", ANNOTATION_REVOKE: "later"})) == 2


def test_annotations_without_requests_have_no_problems() -> None:
    assert request_problems({"team": "billing", ANNOTATION_CREATED_BY: CREATOR}) == []


@pytest.mark.parametrize(("old", "new", "changed"), [
    ({}, {}, False),
    ({}, {ANNOTATION_RENEW: "1h"}, True),
    ({ANNOTATION_RENEW: "1h"}, {ANNOTATION_RENEW: "1h"}, False),
    ({ANNOTATION_RENEW: "1h"}, {ANNOTATION_RENEW: "2h"}, True),
    ({ANNOTATION_RENEW: "1h"}, {}, False),  # the operator removing a handled request is not a request
    ({}, {ANNOTATION_REVOKE: "now"}, True),
    ({ANNOTATION_REVOKE: "now"}, {ANNOTATION_REVOKE: "now"}, False),
    ({ANNOTATION_REVOKE: "now"}, {}, False),
    ({}, {ANNOTATION_ROTATE: "now"}, True),
    ({ANNOTATION_ROTATE: "batch-1"}, {ANNOTATION_ROTATE: "batch-2"}, True),
    ({ANNOTATION_ROTATE: "batch-1"}, {}, False),
    ({}, {"team": "billing"}, False),
    ({ANNOTATION_RENEW: "1h"}, {ANNOTATION_RENEW: "1h", ANNOTATION_REVOKE: "now"}, True),
])
def test_a_request_is_a_renew_or_revoke_annotation_added_or_changed(
        old: dict[str, str], new: dict[str, str], changed: bool) -> None:
    assert request_changed(old, new) is changed


# --- abandoning: a permission of its own -------------------------------------------------------------

DAVE = principal_json({"username": "dave", "uid": "u-dave", "groups": ["ops"]})
CAROL = principal_json({"username": "carol", "uid": "u-carol", "groups": ["devs"]})


@pytest.mark.parametrize(("old", "new", "needs_permission"), [
    ({}, {ANNOTATION_ABANDON: "true"}, True),  # at creation or by an update
    ({ANNOTATION_ABANDON: "true"}, {ANNOTATION_ABANDON: "true"}, False),  # unchanged (e.g. a label edit)
    ({ANNOTATION_ABANDON: "true"}, {}, False),  # removing it makes the token revoked again: anyone may
    ({ANNOTATION_ABANDON: "false"}, {ANNOTATION_ABANDON: "true"}, True),
    ({}, {"team": "billing"}, False),
    ({}, {ANNOTATION_ABANDONED_BY: DAVE}, False),  # forging the stamp is not setting abandon (it is undone)
])
def test_setting_abandon_is_what_needs_the_permission(old: dict[str, str], new: dict[str, str],
                                                     needs_permission: bool) -> None:
    assert abandon_set(old, new) is needs_permission


@pytest.mark.parametrize(("old", "new", "stamp"), [
    ({}, {ANNOTATION_ABANDON: "true"}, DAVE),  # who set it
    ({}, {ANNOTATION_ABANDON: "true", ANNOTATION_ABANDONED_BY: CAROL}, DAVE),  # whatever the client sent
    ({ANNOTATION_ABANDON: "true", ANNOTATION_ABANDONED_BY: CAROL},
     {ANNOTATION_ABANDON: "true", ANNOTATION_ABANDONED_BY: DAVE}, CAROL),  # kept: nobody rewrites it
    ({ANNOTATION_ABANDON: "true", ANNOTATION_ABANDONED_BY: CAROL}, {ANNOTATION_ABANDONED_BY: CAROL}, None),
    ({}, {ANNOTATION_ABANDONED_BY: CAROL}, None),  # no abandon, no stamp
])
def test_the_abandoned_by_stamp_names_who_set_abandon_and_cannot_be_forged(
        old: dict[str, str], new: dict[str, str], stamp: str | None) -> None:
    assert abandon_stamp(old, new, DAVE) == stamp


@pytest.mark.parametrize(("value", "refused"), [("true", False), ("True", True), ("yes", True), ("", True)])
def test_true_is_the_only_abandon_value(value: str, refused: bool) -> None:
    assert bool(abandon_problems({ANNOTATION_ABANDON: value})) is refused


def test_a_refused_abandon_names_the_permission_and_how_to_get_it() -> None:
    message = abandon_refusal("carol", "team-a")
    assert "'abandon' on astratokens.astra-tokens.io" in message
    assert "carol" in message
    assert "team-a" in message
    assert says_how_to_fix(message)


# --- who made the request -------------------------------------------------------------------------

def test_the_principal_is_compact_sorted_json_of_username_uid_and_groups() -> None:
    userinfo = {"username": "alice", "uid": "u-1", "groups": ["devs", "system:authenticated"], "extra": {"x": ["y"]}}
    assert principal_json(userinfo) == (
        '{"groups":["devs","system:authenticated"],"uid":"u-1","username":"alice"}'
    )


@pytest.mark.parametrize("userinfo", [{}, {"groups": None}, {"username": None}])
def test_a_principal_with_missing_fields_is_still_readable(userinfo: dict[str, Any]) -> None:
    parsed = json.loads(principal_json(userinfo))
    assert set(parsed) == {"username", "uid", "groups"}
    assert parsed["groups"] == []


# --- AstraOrg -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("secret_namespace", "allowed", "admitted"), [
    (OPERATOR_NAMESPACE, [OPERATOR_NAMESPACE], True),
    ("astra-system", ["astra-*"], True),
    ("team-a", [OPERATOR_NAMESPACE], False),
    ("team-a", [OPERATOR_NAMESPACE, "astra-*"], False),
])
def test_the_root_token_secret_must_live_in_the_operators_namespace(
        secret_namespace: str, allowed: list[str], admitted: bool) -> None:
    spec = org_spec(rootTokenRef={"secret": {"namespace": secret_namespace, "name": "root"}})
    problems = org_problems("acme", spec, others=[], root_token_namespaces=allowed)
    assert (problems == []) is admitted
    if not admitted:
        assert f"not in {secret_namespace!r}" in problems[0]
        assert "move the Secret" in problems[0]


def test_a_root_token_in_vault_has_no_namespace_to_check() -> None:
    spec = org_spec(rootTokenRef={"vault": {"path": "astra/root"}})
    assert org_problems("acme", spec, others=[], root_token_namespaces=[OPERATOR_NAMESPACE]) == []


def test_a_second_org_for_the_same_org_id_is_refused() -> None:
    problems = org_problems("acme-2", org_spec(), others=[ACME], root_token_namespaces=[OPERATOR_NAMESPACE])
    assert problems == [f"AstraOrg 'acme' already manages orgId {ORG_ID}; one AstraOrg per Astra organization "
                        "(edit that one instead)"]


def test_a_logical_name_used_by_another_org_is_refused() -> None:
    others = [NamedOrg("acme", org_spec(logicalName="prod"))]
    spec = org_spec(orgId=OTHER_ORG_ID, logicalName="prod")
    problems = org_problems("globex", spec, others=others, root_token_namespaces=[OPERATOR_NAMESPACE])
    assert problems == ["logicalName 'prod' is already used by AstraOrg 'acme'; choose another logicalName"]


def test_orgs_without_logical_names_do_not_collide() -> None:
    others = [NamedOrg("acme", org_spec())]
    assert org_problems("globex", org_spec(orgId=OTHER_ORG_ID), others=others,
                        root_token_namespaces=[OPERATOR_NAMESPACE]) == []


def test_an_org_updating_itself_does_not_collide_with_itself() -> None:
    me = NamedOrg("acme", org_spec(logicalName="prod"))
    assert org_problems("acme", org_spec(logicalName="prod", url="https://example.test"), others=[me],
                        root_token_namespaces=[OPERATOR_NAMESPACE]) == []


def test_every_org_problem_says_how_to_fix_it() -> None:
    spec = org_spec(logicalName="prod", rootTokenRef={"secret": {"namespace": "team-a", "name": "root"}})
    problems = org_problems("acme-2", spec, others=[NamedOrg("acme", org_spec(logicalName="prod"))],
                            root_token_namespaces=[OPERATOR_NAMESPACE])
    assert len(problems) == 3
    assert all(says_how_to_fix(p) for p in problems), problems


# --- AstraRole ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "spec", "others", "refused"), [
    ("reader", role_spec(), [], False),
    ("reader", role_spec(), [NamedRole("reader", role_spec())], False),  # itself
    ("reader-2", role_spec(roleName="reader"), [READER], True),
    ("reader-2", role_spec(roleName="Reader"), [READER], True),  # role names are lower-cased
    ("Reader", role_spec(), [READER], True),
    ("reader-2", role_spec(roleName="reader", orgRef="globex"), [READER], False),  # another org
    ("writer", role_spec(), [READER], False),
])
def test_a_role_name_is_unique_within_its_org(name: str, spec: AstraRoleSpec, others: list[NamedRole],
                                               refused: bool) -> None:
    problems = role_problems(name, spec, others=others)
    assert (problems != []) is refused
    if refused:
        assert problems == ["roleName 'reader' is already used in AstraOrg 'acme' by AstraRole 'reader'; "
                            "set spec.roleName to another name"]


def test_the_labels_set_at_creation_name_the_org_role_and_logical_name() -> None:
    org = NamedOrg("acme", AstraOrgSpec.model_validate({
        "orgId": "6f2d5b0e-1c3a-4b7e-9d2f-0a1b2c3d4e5f", "rootTokenRef": {"vault": {"path": "a/b"}},
        "allowedNamespaces": ["*"]}))
    role = NamedRole("reader", AstraRoleSpec.model_validate({"orgRef": "acme", "roleId": "x"}))
    assert labels_at_creation("acme", "Orders-API", org, role) == {
        "astra-tokens.io/org": "acme", "astra-tokens.io/org-id": "6f2d5b0e-1c3a-4b7e-9d2f-0a1b2c3d4e5f",
        "astra-tokens.io/role": "reader", "astra-tokens.io/logical-name": "orders-api"}
    # Unknown org and role (not indexed yet), and a name Kubernetes would refuse as a label value:
    assert labels_at_creation("acme", "", None, None) == {"astra-tokens.io/org": "acme"}


# --- sidecar mode: a pod's own AstraToken -------------------------------------------------------------

OPERATOR = "system:serviceaccount:astra-token-operator:astra-token-operator"
POD_TOKEN = {ANNOTATION_OWNED_BY_POD: "pod-uid-1"}


def test_nobody_but_the_operator_makes_a_pods_token() -> None:
    (problem,) = pod_token_problems(token(annotations=POD_TOKEN), "CREATE", "alice", OPERATOR)
    assert "label your pod astra-tokens.io/inject=true instead" in problem
    assert pod_token_problems(token(annotations=POD_TOKEN), "CREATE", OPERATOR, OPERATOR) == []
    assert pod_token_problems(token(), "CREATE", "alice", OPERATOR) == []  # standard mode: not this rule


@pytest.mark.parametrize("request_annotation", [{ANNOTATION_ROTATE: "now"}, {ANNOTATION_RENEW: "2h"}])
def test_anyone_who_may_annotate_a_pods_token_may_ask_for_a_renewal_or_a_rotation(
    request_annotation: dict[str, str],
) -> None:
    asked = token(annotations={**POD_TOKEN, **request_annotation, ANNOTATION_REQUESTED_BY: CREATOR})
    assert pod_token_problems(token(annotations=POD_TOKEN), "UPDATE", "alice", OPERATOR, changed=asked) == []


@pytest.mark.parametrize("changed", [
    token(annotations={**POD_TOKEN, ANNOTATION_REVOKE: "now"}),
    token(annotations={**POD_TOKEN, ANNOTATION_ROTATE: "now", "team": "x"}),
    token(annotations=POD_TOKEN, secret={"name": "elsewhere"}),
    token(annotations={}),
], ids=["revoke", "request-and-more", "spec", "pod-annotation-removed"])
def test_any_other_change_to_a_pods_token_is_refused_and_says_what_to_do_instead(changed: AstraToken) -> None:
    (problem,) = pod_token_problems(token(annotations=POD_TOKEN), "UPDATE", "alice", OPERATOR, changed=changed)
    assert "change or delete the pod instead" in problem
    assert pod_token_problems(token(annotations=POD_TOKEN), "UPDATE", OPERATOR, OPERATOR, changed=changed) == []


# --- deleting an org or a role, switching callerMode ---------------------------------------------------

USERS = tuple(Holder("team-a", f"app-{n:02d}", f"uid-{n}") for n in range(12))


def test_deleting_an_org_in_use_is_refused_saying_how_many_and_which() -> None:
    (problem,) = deletion_problems("AstraOrg", "acme", USERS[:3], cascade=False)
    assert "AstraOrg 'acme' is used by 3 AstraTokens (team-a/app-00, team-a/app-01, team-a/app-02)" in problem
    assert "astra-tokens.io/cascade=true" in problem
    assert says_how_to_fix(problem)


def test_a_long_list_of_users_is_cut_but_counted() -> None:
    (problem,) = deletion_problems("AstraRole", "reader", USERS, cascade=False)
    assert "12 AstraTokens (" in problem
    assert "team-a/app-09 and 2 more)" in problem


@pytest.mark.parametrize(("users", "cascade"), [((), False), (USERS[:1], True), ((), True)])
def test_an_unused_org_or_a_cascade_is_not_refused(users: tuple[Holder, ...], cascade: bool) -> None:
    assert deletion_problems("AstraOrg", "acme", users, cascade=cascade) == []


@pytest.mark.parametrize(("old", "new", "users", "refused"), [
    ("standard", "sidecar", USERS[:1], True),
    ("sidecar", "standard", USERS[:1], True),
    ("standard", "sidecar", (), False),  # an org with no token may switch
    ("standard", "standard", USERS[:1], False),  # other edits are not this rule's business
])
def test_caller_mode_changes_only_on_an_org_without_tokens(old: str, new: str, users: tuple[Holder, ...],
                                                          refused: bool) -> None:
    problems = caller_mode_problems("acme", org_spec(callerMode=old), org_spec(callerMode=new), users)
    assert bool(problems) is refused
    if refused:
        assert f"callerMode cannot change from {old} to {new} while 1 AstraToken (team-a/app-00)" in problems[0]


# --- which AstraToken updates reach the webhooks ------------------------------------------------------

@pytest.mark.parametrize("annotations", [
    {ANNOTATION_CREATED_BY: CREATOR},
    {ANNOTATION_CREATED_BY: CREATOR, ANNOTATION_ABANDON: "true", ANNOTATION_ABANDONED_BY: CREATOR},
    {ANNOTATION_CREATED_BY: CREATOR, ANNOTATION_RENEW: "90m"},
], ids=["plain", "abandoned", "request-pending"])
def test_an_update_that_changes_neither_spec_nor_annotations_has_nothing_to_review(
        annotations: dict[str, str]) -> None:
    """What lets the apiserver skip such updates (matchConditions): the reviews would neither
    refuse them nor stamp anything new."""
    old, new = token(annotations=annotations, ttl="1h"), token(annotations=dict(annotations), ttl="1h")
    assert token_update_problems(old, new, role=READER) == []
    assert not request_changed(old.metadata.annotations, new.metadata.annotations)
    assert not abandon_set(old.metadata.annotations, new.metadata.annotations)
    assert abandon_stamp(old.metadata.annotations, new.metadata.annotations, "bob") == annotations.get(
        ANNOTATION_ABANDONED_BY)


def test_only_the_astratoken_reviews_get_the_match_condition() -> None:
    suffix = "astra-token-operator.astra-tokens.io"
    webhooks = [{"name": f"{handler}.{suffix}", "rules": [{"operations": ["CREATE", "UPDATE"]}]}
                for handler in ("stamp-token", "validate-token", "record-deleter", "validate-org", "validate-role")]

    limited = with_match_conditions(webhooks)

    conditions = {w["name"].split(".")[0]: w.get("matchConditions") for w in limited}
    assert conditions["record-deleter"] is None
    assert conditions["validate-org"] is None
    assert conditions["validate-role"] is None
    for handler in ("stamp-token", "validate-token"):
        (condition,) = conditions[handler]
        assert "request.operation != 'UPDATE'" in condition["expression"]
        assert "object.spec != oldObject.spec" in condition["expression"]
        assert "'astra-tokens.io/pod' in oldObject.metadata.annotations" in condition["expression"]  # sidecar
    assert [w["rules"] for w in limited] == [w["rules"] for w in webhooks]  # nothing else changes
    assert "matchConditions" not in webhooks[0]  # Kopf's own list is left as it was
