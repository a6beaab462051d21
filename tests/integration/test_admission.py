"""Admission, tenancy and the audit trail (issue 5): bad manifests are refused
with a message that says what is wrong and how to fix it, before anything
reaches Astra; the ledger names who created, renewed and deleted a token."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hvac
import pytest
from kubernetes import client as k8s

from astra_token_operator.fake_astra import FakeAstraThread
from integration.conftest import (
    GROUP,
    VERSION,
    Cluster,
    OrgHandle,
    org_manifest,
    role_manifest,
    root_token_secret,
    token_manifest,
    wait_for,
)

ADMIN_USER = "platform-alice"  # a platform admin without system:masters
TENANT = "tenant-bob"


@pytest.fixture(scope="module")
def rbac(k8s_api: k8s.ApiClient) -> None:
    """alice administers orgs and roles; bob may only manage AstraTokens."""
    api = k8s.RbacAuthorizationV1Api(k8s_api)
    rules = {
        "astra-test-platform-admin": [
            k8s.V1PolicyRule(api_groups=[GROUP], resources=["astraorgs", "astraroles", "astratokens"], verbs=["*"])],
        "astra-test-tenant": [
            k8s.V1PolicyRule(api_groups=[GROUP], resources=["astratokens"], verbs=["*"])],
    }
    for name, policy in rules.items():
        try:
            api.create_cluster_role(k8s.V1ClusterRole(metadata=k8s.V1ObjectMeta(name=name), rules=policy))
        except k8s.exceptions.ApiException as exc:
            if exc.status != 409:
                raise
    try:
        api.create_cluster_role_binding(k8s.V1ClusterRoleBinding(
            metadata=k8s.V1ObjectMeta(name="astra-test-platform-admin"),
            role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole",
                                   name="astra-test-platform-admin"),
            subjects=[k8s.RbacV1Subject(kind="User", name=ADMIN_USER, api_group="rbac.authorization.k8s.io")]))
    except k8s.exceptions.ApiException as exc:
        if exc.status != 409:
            raise


def bind_tenant(k8s_api: k8s.ApiClient, namespace: str, user: str = TENANT) -> None:
    k8s.RbacAuthorizationV1Api(k8s_api).create_namespaced_role_binding(namespace, k8s.V1RoleBinding(
        metadata=k8s.V1ObjectMeta(name=f"tenant-{user}"),
        role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="astra-test-tenant"),
        subjects=[k8s.RbacV1Subject(kind="User", name=user, api_group="rbac.authorization.k8s.io")]))


@dataclass(frozen=True)
class World:
    """What the table's manifests refer to: made once per module."""

    org: str
    org_id: str
    other_org: str
    sidecar_org: str
    selective_org: str
    role: str
    other_role: str
    narrow_role: str
    selective_role: str
    sidecar_role: str
    allowed_ns: str
    unlabelled_ns: str
    foreign_ns: str
    held_name: str


@pytest.fixture(scope="module")
def world(cluster: Cluster, rbac: None, test_org: OrgHandle, fake_astra: FakeAstraThread,
          k8s_api: k8s.ApiClient) -> World:
    core = k8s.CoreV1Api(k8s_api)
    suffix = uuid.uuid4().hex[:5]
    allowed_ns, unlabelled_ns, foreign_ns = f"adm-a-{suffix}", f"adm-u-{suffix}", f"adm-f-{suffix}"
    for name, labels in ((allowed_ns, {"astra-tenant": "yes"}), (unlabelled_ns, {}), (foreign_ns, {})):
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels=labels)))
        bind_tenant(k8s_api, name)
    org, other, sidecar, selective = (f"adm-{k}-{suffix}" for k in ("org", "other", "sidecar", "select"))
    org_ids = {}
    for name in (org, other, sidecar, selective):
        org_ids[name] = str(uuid.uuid4())
        fake_astra.add_org(org_ids[name])
        cluster.must_apply(root_token_secret(f"{name}-root", fake_astra.admin_token(org_ids[name])))
    extra: dict[str, dict[str, Any]] = {
        org: {"allowedNamespaces": [f"adm-a-{suffix}", f"adm-u-{suffix}"]},
        other: {},
        sidecar: {"callerMode": "sidecar"},
        selective: {"namespaceSelector": {"matchLabels": {"astra-tenant": "yes"}}},
    }
    for name, spec in extra.items():
        cluster.must_apply(org_manifest(name, org_ids[name], fake_astra.url, f"{name}-root", **spec))
    role, other_role, narrow, select_role, sidecar_role = (f"adm-{k}-{suffix}" for k in (
        "rw", "other-rw", "narrow", "select-rw", "sidecar-rw"))
    cluster.must_apply(role_manifest(role, org, astraRoleName="R/W User", ttl="1h", maxTtl="2h"))
    cluster.must_apply(role_manifest(other_role, other, astraRoleName="R/W User"))
    cluster.must_apply(role_manifest(narrow, org, astraRoleName="R/W User", allowedNamespaces=[unlabelled_ns]))
    cluster.must_apply(role_manifest(select_role, selective, astraRoleName="R/W User"))
    cluster.must_apply(role_manifest(sidecar_role, sidecar, astraRoleName="R/W User"))
    for name in (org, other, selective):
        cluster.wait_ready("astraorgs", name, timeout=30)
    cluster.wait_ready("astraroles", role, timeout=30)
    held = "held"
    cluster.must_apply(token_manifest(held, allowed_ns, org, role, logicalName="taken"))
    cluster.wait_ready("astratokens", held, allowed_ns, timeout=30)
    return World(org, org_ids[org], other, sidecar, selective, role, other_role, narrow, select_role, sidecar_role,
                 allowed_ns, unlabelled_ns, foreign_ns, held)


def tok(w: World, name: str = "bad", ns: str | None = None, **spec: Any) -> tuple[str, str]:
    spec = {"orgRef": w.org, "roleRef": w.role, **spec}
    org, role = spec.pop("orgRef"), spec.pop("roleRef")
    return "create", token_manifest(name, ns or w.allowed_ns, org, role, **spec)


def tok_update(w: World, change: Callable[[dict[str, Any]], None], **spec: Any) -> tuple[str, str]:
    """An update of a valid, existing token (created by the test first)."""
    body = json.loads(token_manifest("target", w.allowed_ns, w.org, w.role, **spec))
    change(body)
    return "update", json.dumps(body)


def org_doc(w: World, name: str = "bad-org", **spec: Any) -> tuple[str, str]:
    spec = {"orgId": str(uuid.uuid4()), "url": "https://api.astra.datastax.com", "allowedNamespaces": ["*"],
            "rootTokenRef": {"secret": {"namespace": "astra-token-operator", "name": "x"}}, **spec}
    return "create", json.dumps({"apiVersion": f"{GROUP}/{VERSION}", "kind": "AstraOrg",
                                 "metadata": {"name": name}, "spec": {k: v for k, v in spec.items() if v is not None}})


def role_doc(w: World, name: str = "bad-role", **spec: Any) -> tuple[str, str]:
    spec = {"orgRef": w.org, "astraRoleName": "R/W User", **spec}
    return "create", json.dumps({"apiVersion": f"{GROUP}/{VERSION}", "kind": "AstraRole",
                                 "metadata": {"name": name}, "spec": {k: v for k, v in spec.items() if v is not None}})


def _set(path: list[str], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(body: dict[str, Any]) -> None:
        node = body
        for key in path[:-1]:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    return apply


CREATED_BY = ["metadata", "annotations", "astra-tokens.io/created-by"]

# (case, who, manifest builder, a distinctive part of the expected message)
CASES: list[tuple[str, str, Callable[[World], tuple[str, str]], str]] = [
    ("unknown org", TENANT, lambda w: tok(w, orgRef="no-such-org"), "AstraOrg 'no-such-org' does not exist"),
    ("unknown role", TENANT, lambda w: tok(w, roleRef="no-such-role"), "AstraRole 'no-such-role' does not exist"),
    ("role of another org", TENANT, lambda w: tok(w, roleRef=w.other_role), "use a role of the same org"),
    ("namespace not allowed by the org", TENANT, lambda w: tok(w, ns=w.foreign_ns),
     "allowedNamespaces"),
    ("namespace not allowed by the role", TENANT, lambda w: tok(w, roleRef=w.narrow_role),
     "use another role or ask its admin to add the namespace"),
    ("namespace not selected by the org", TENANT,
     lambda w: tok(w, ns=w.unlabelled_ns, orgRef=w.selective_org, roleRef=w.selective_role),
     "does not match AstraOrg"),
    ("sidecar org", TENANT, lambda w: tok(w, orgRef=w.sidecar_org, roleRef=w.sidecar_role), "sidecar mode"),
    ("ttl above the role's maxTtl", TENANT, lambda w: tok(w, ttl="3h"), "is longer than AstraRole"),
    ("duplicate logical name", TENANT, lambda w: tok(w, logicalName="taken"), "already used by AstraToken"),
    ("malformed ttl", TENANT, lambda w: tok(w, ttl="1 day"), "ttl"),
    ("malformed renewBefore", TENANT, lambda w: tok(w, renewBefore="150%"), "renewBefore"),
    ("malformed rotationGracePeriod", TENANT, lambda w: tok(w, rotationGracePeriod="5 minutes"),
     "rotationGracePeriod"),
    ("missing roleRef", TENANT, lambda w: ("create", json.dumps({
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "AstraToken",
        "metadata": {"name": "bad", "namespace": w.allowed_ns}, "spec": {"orgRef": w.org}})),
     "roleRef: Required value"),
    ("upper-case logical name", TENANT, lambda w: tok(w, logicalName="Orders"), "logicalName"),
    ("restart target of an unknown kind", TENANT,
     lambda w: tok(w, rolloutRestartTargets=[{"kind": "Pod", "name": "x"}]), "Unsupported value: \"Pod\""),
    ("reserved Secret label", TENANT, lambda w: tok(w, secret={"labels": {"astra-tokens.io/org": "x"}}),
     "astra-tokens.io/"),
    ("renewBefore longer than ttl", TENANT, lambda w: tok(w, ttl="10m", renewBefore="20m"), "renewBefore"),
    ("orgRef changed", TENANT, lambda w: tok_update(w, _set(["spec", "orgRef"], w.other_org)), "orgRef"),
    ("roleRef changed", TENANT, lambda w: tok_update(w, _set(["spec", "roleRef"], w.narrow_role)), "roleRef"),
    ("logicalName added after creation", TENANT, lambda w: tok_update(w, _set(["spec", "logicalName"], "later")),
     "logicalName"),
    ("created-by forged on update", TENANT,
     lambda w: tok_update(w, _set(CREATED_BY, '{"username":"someone-else"}')), "cannot be changed or removed"),
    ("renew request that is not a duration", TENANT,
     lambda w: tok_update(w, _set(["metadata", "annotations", "astra-tokens.io/renew"], "forever")),
     "is not an increment"),
    ("revoke request other than now", TENANT,
     lambda w: tok_update(w, _set(["metadata", "annotations", "astra-tokens.io/revoke"], "later")),
     "the only value is \"now\""),
    ("ttl raised above maxTtl on update", TENANT, lambda w: tok_update(w, _set(["spec", "ttl"], "5h")),
     "is longer than AstraRole"),
    ("root token Secret in a tenant namespace", ADMIN_USER,
     lambda w: org_doc(w, rootTokenRef={"secret": {"namespace": w.allowed_ns, "name": "root"}}),
     "tenant namespaces never hold root tokens"),
    ("orgId already managed", ADMIN_USER, lambda w: org_doc(w, orgId=w.org_id), "already manages orgId"),
    ("org logicalName already used", ADMIN_USER, lambda w: org_doc(w, logicalName="it-shared-logical"),
     "logicalName 'it-shared-logical' is already used"),
    ("plain http to a remote host", ADMIN_USER, lambda w: org_doc(w, url="http://astra.example.com"), "https"),
    ("both root token sources", ADMIN_USER, lambda w: org_doc(w, rootTokenRef={
        "secret": {"namespace": "astra-token-operator", "name": "x"}, "vault": {"path": "secret/x"}}),
     "exactly one"),
    ("no allowedNamespaces", ADMIN_USER, lambda w: org_doc(w, allowedNamespaces=None),
     "allowedNamespaces: Required value"),
    ("orgId not a UUID", ADMIN_USER, lambda w: org_doc(w, orgId="my-org"), "orgId"),
    ("duplicate roleName in an org", ADMIN_USER, lambda w: role_doc(w, roleName=w.role),
     "is already used in AstraOrg"),
    ("role ttl above maxTtl", ADMIN_USER, lambda w: role_doc(w, ttl="2h", maxTtl="1h"), "maxTtl"),
    ("role with both roleId and astraRoleName", ADMIN_USER,
     lambda w: role_doc(w, roleId=str(uuid.uuid4())), "exactly one"),
    ("malformed role maxTtl", ADMIN_USER, lambda w: role_doc(w, maxTtl="forever"), "maxTtl"),
]


@pytest.fixture(scope="module")
def shared_logical_org(cluster: Cluster, world: World, fake_astra: FakeAstraThread) -> None:
    org_id = str(uuid.uuid4())
    fake_astra.add_org(org_id)
    cluster.must_apply(org_manifest("adm-logical-holder", org_id, fake_astra.url, f"{world.org}-root",
                                    logicalName="it-shared-logical"))


@pytest.mark.parametrize(("case", "user", "build", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_manifest_is_refused_with_its_specific_message_and_reaches_no_astra(
    case: str, user: str, build: Callable[[World], tuple[str, str]], expected: str, world: World,
    shared_logical_org: None, cluster: Cluster, fake_astra: FakeAstraThread, kubectl: Any,
) -> None:
    operation, manifest = build(world)
    if operation == "update":
        cluster.must_apply(token_manifest("target", world.allowed_ns, world.org, world.role, ttl="1h"))
        cluster.wait_ready("astratokens", "target", world.allowed_ns)
    mints_before = fake_astra.counters().count(endpoint="POST /v2/clientIdSecrets")

    refused = kubectl("apply", f"--as={user}", "-f", "-", input=manifest)

    assert refused.returncode != 0, f"{case}: accepted"
    assert expected in refused.stderr, refused.stderr
    assert fake_astra.counters().count(endpoint="POST /v2/clientIdSecrets") == mints_before


def ledger_versions(hvac_client: hvac.Client, org_id: str, client_id: str) -> list[dict[str, Any]]:
    path = f"astra-tokens/orgs/{org_id}/tokens/{client_id}"
    versions = hvac_client.secrets.kv.v2.read_secret_metadata(path=path)["data"]["versions"]
    return [hvac_client.secrets.kv.v2.read_secret_version(path=path, version=int(v),
                                                          raise_on_deleted_version=True)["data"]["data"]
            for v in sorted(versions, key=int)]


def test_the_audit_trail_names_creator_requester_and_deleter(
    world: World, cluster: Cluster, kubectl: Any, hvac_client: hvac.Client, vault_audit_log: Any,
    k8s_api: k8s.ApiClient,
) -> None:
    for user in ("alice", "bob"):
        bind_tenant(k8s_api, world.allowed_ns, user)
    forged = json.loads(token_manifest("audited", world.allowed_ns, world.org, world.role))
    forged["metadata"]["annotations"] = {"astra-tokens.io/created-by": '{"username":"mallory"}'}
    created = kubectl("apply", "--as=alice", "--as-group=team-a", "-f", "-", input=json.dumps(forged))
    assert created.returncode == 0, created.stderr
    status = cluster.wait_ready("astratokens", "audited", world.allowed_ns)["status"]

    creator = json.loads(cluster.token("audited", world.allowed_ns)["metadata"]["annotations"][
        "astra-tokens.io/created-by"])
    assert creator["username"] == "alice"  # the forged value was replaced
    assert "team-a" in creator["groups"]
    assert status["createdBy"] == "alice"

    tamper = kubectl("annotate", "--as=bob", "--overwrite", "astratoken", "audited", "-n", world.allowed_ns,
                     'astra-tokens.io/created-by={"username":"bob"}')
    assert tamper.returncode != 0
    assert "cannot be changed or removed" in tamper.stderr

    renew = kubectl("annotate", "--as=bob", "astratoken", "audited", "-n", world.allowed_ns,
                    "astra-tokens.io/renew=90m")
    assert renew.returncode == 0, renew.stderr
    wait_for(lambda: any(v["lastAction"] == "renewed-manually"
                         for v in ledger_versions(hvac_client, world.org_id, status["clientId"])), timeout=15,
             what="the manual renewal in the ledger")

    deleted = kubectl("delete", "--as=bob", "astratoken", "audited", "-n", world.allowed_ns, "--wait=true")
    assert deleted.returncode == 0, deleted.stderr

    history = ledger_versions(hvac_client, world.org_id, status["clientId"])
    assert history[0]["createdBy"]["username"] == "alice"
    manual = next(v for v in history if v["lastAction"] == "renewed-manually")
    assert manual["actor"]["username"] == "bob"
    assert history[-1]["state"] == "revoked"
    assert history[-1]["revokedBy"]["username"] == "bob"
    # Vault's own audit log shows the operator writing this record (values HMAC'd, paths clear).
    record_path = f"secret/data/astra-tokens/orgs/{world.org_id}/tokens/{status['clientId']}"
    writes = [json.loads(line) for line in vault_audit_log.read_text().splitlines()]
    assert sum(1 for e in writes if e.get("type") == "request" and e["request"].get("path") == record_path
               and e["request"].get("operation") in ("create", "update")) >= 3


def test_a_tenant_service_account_stays_in_its_namespace(
    world: World, cluster: Cluster, kubectl: Any, sa_kubeconfig: Any, k8s_api: k8s.ApiClient,
    fake_astra: FakeAstraThread,
) -> None:
    team_a, team_b = world.unlabelled_ns, world.allowed_ns
    rbac = k8s.RbacAuthorizationV1Api(k8s_api)
    rbac.create_namespaced_role(team_a, k8s.V1Role(
        metadata=k8s.V1ObjectMeta(name="deployer"),
        rules=[k8s.V1PolicyRule(api_groups=[GROUP], resources=["astratokens"], verbs=["*"]),
               k8s.V1PolicyRule(api_groups=[""], resources=["secrets"], verbs=["get", "list"])]))
    rbac.create_namespaced_role_binding(team_a, k8s.V1RoleBinding(
        metadata=k8s.V1ObjectMeta(name="deployer"),
        role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="deployer"),
        subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name="deployer", namespace=team_a)]))
    config = sa_kubeconfig(team_a, "deployer")

    read_other = kubectl("get", "secret", world.held_name, "-n", team_b, kubeconfig_path=config)
    assert read_other.returncode != 0
    assert "forbidden" in read_other.stderr.lower()
    create_other = kubectl("apply", "-f", "-", kubeconfig_path=config,
                           input=token_manifest("intruder", team_b, world.org, world.role))
    assert create_other.returncode != 0
    assert "forbidden" in create_other.stderr.lower()
    # In its own namespace, an org that does not admit the namespace is refused by admission.
    mints = fake_astra.counters().count(endpoint="POST /v2/clientIdSecrets")
    refused = kubectl("apply", "-f", "-", kubeconfig_path=config,
                      input=token_manifest("wrong-org", team_a, world.selective_org, world.selective_role))
    assert refused.returncode != 0
    assert "does not match AstraOrg" in refused.stderr
    allowed = kubectl("apply", "-f", "-", kubeconfig_path=config,
                      input=token_manifest("mine", team_a, world.org, world.narrow_role))
    assert allowed.returncode == 0, allowed.stderr
    cluster.wait_ready("astratokens", "mine", team_a)
    assert fake_astra.counters().count(endpoint="POST /v2/clientIdSecrets") == mints + 1


def test_with_the_webhook_down_token_creation_fails_closed_then_works_again(
    world: World, cluster: Cluster, kubectl: Any, operator: Any,
) -> None:
    operator.stop()
    try:
        refused = kubectl("apply", "-f", "-", input=token_manifest("while-down", world.allowed_ns, world.org,
                                                                    world.role), timeout=90)
        assert refused.returncode != 0
        assert "stamp-token.astra-token-operator.astra-tokens.io" in refused.stderr  # names the webhook
        assert cluster.get("astratokens", "while-down", world.allowed_ns) is None
    finally:
        operator.start()
    accepted = wait_for(lambda: kubectl("apply", "-f", "-", input=token_manifest(
        "while-down", world.allowed_ns, world.org, world.role)).returncode == 0, timeout=30,
        what="creation accepted once the webhook is back")
    assert accepted
    cluster.wait_ready("astratokens", "while-down", world.allowed_ns)


def token_reviews(kubectl: Any) -> dict[str, int]:
    """UPDATE reviews the apiserver sent to the AstraToken webhooks, and the ones their
    matchConditions excluded, from its own metrics (cluster-wide counters)."""
    metrics = kubectl("get", "--raw", "/metrics")
    assert metrics.returncode == 0, metrics.stderr
    found = {"sent": 0, "excluded": 0}
    for line in metrics.stdout.splitlines():
        if 'name="stamp-token.' not in line and 'name="validate-token.' not in line:
            continue
        if 'operation="UPDATE"' not in line:
            continue
        if line.startswith("apiserver_admission_webhook_admission_duration_seconds_count{"):
            found["sent"] += int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("apiserver_admission_match_condition_exclusions_total{"):
            found["excluded"] += int(float(line.rsplit(" ", 1)[1]))
    return found


def test_updates_that_change_neither_spec_nor_annotations_skip_the_webhooks(
    world: World, cluster: Cluster, kubectl: Any,
) -> None:
    """The operator's own label write after a mint (and any label-only edit) is not sent to the
    webhooks, which would have nothing to say about it; a tenant's annotation edit still is."""
    bind_tenant(k8s_api=cluster.api, namespace=world.allowed_ns, user="carol")
    before = token_reviews(kubectl)
    created = kubectl("apply", "--as=carol", "-f", "-", input=token_manifest("unjudged", world.allowed_ns, world.org,
                                                                            world.role))
    assert created.returncode == 0, created.stderr
    ready = cluster.wait_ready("astratokens", "unjudged", world.allowed_ns)
    assert ready["metadata"]["labels"]["astra-tokens.io/client-id"] == ready["status"]["clientId"]  # the operator's
    relabelled = kubectl("label", "--as=carol", "astratoken", "unjudged", "-n", world.allowed_ns, "team=blue")
    assert relabelled.returncode == 0, relabelled.stderr
    after_labels = token_reviews(kubectl)
    assert after_labels["sent"] == before["sent"]
    assert after_labels["excluded"] >= before["excluded"] + 4  # two writes, two webhooks each

    tamper = kubectl("annotate", "--as=carol", "--overwrite", "astratoken", "unjudged", "-n", world.allowed_ns,
                     'astra-tokens.io/created-by={"username":"carol-again"}')
    assert tamper.returncode != 0
    assert "cannot be changed or removed" in tamper.stderr
    renew = kubectl("annotate", "--as=carol", "astratoken", "unjudged", "-n", world.allowed_ns,
                    "astra-tokens.io/renew=90m", "-o", "json")
    assert renew.returncode == 0, renew.stderr
    # The object as the apiserver stored it: the operator may handle the request (and remove it with
    # its stamp) before a later read.
    annotations = json.loads(renew.stdout)["metadata"]["annotations"]
    assert annotations["astra-tokens.io/requested-by"] == "carol"  # stamped by the mutating review
    assert token_reviews(kubectl)["sent"] > after_labels["sent"]
