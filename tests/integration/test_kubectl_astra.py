"""`kubectl astra` (issue 11) as a user runs it: a real process started by the real
kubectl, against the real control plane, OpenBao and the operator; the fake Astra
is the only fake. Each test asserts on what the command prints."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import hvac
import pytest
import yaml
from kubernetes import client as k8s

from astra_token_operator.fake_astra import FakeAstraThread
from integration.conftest import (
    GROUP,
    VERSION,
    Cluster,
    KubectlAstra,
    OrgHandle,
    org_manifest,
    role_manifest,
    root_token_secret,
    token_manifest,
    wait_for,
)
from testplatform.operator import OperatorProcess
from testplatform.platform import Platform

AUDITOR_POLICY = """
path "secret/data/astra-tokens/*" { capabilities = ["read", "list"] }
path "secret/metadata/astra-tokens/*" { capabilities = ["read", "list"] }
"""
DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: app
        image: registry.example.com/app:1
"""


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def table(text: str) -> list[dict[str, str]]:
    """A printed table as rows keyed by header (columns are 3+ spaces apart; cells hold single spaces)."""
    lines = [line for line in text.splitlines() if line.strip()]
    headers = re.split(r"\s{3,}", lines[0].strip())
    return [dict(zip(headers, re.split(r"\s{3,}", line.strip()), strict=True)) for line in lines[1:]]


def one_line_error(result: Any) -> str:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return str(lines[0])


@pytest.fixture(scope="module")
def auditor(platform: Platform, hvac_client: hvac.Client) -> dict[str, str]:
    """A Vault identity of the caller's own, allowed to read the ledger and nothing else."""
    hvac_client.sys.create_or_update_policy("kubectl-astra-auditor", AUDITOR_POLICY)
    token = hvac_client.auth.token.create(policies=["kubectl-astra-auditor"], ttl="2h")["auth"]["client_token"]
    return {"VAULT_ADDR": platform.openbao.addr, "VAULT_TOKEN": token}


@pytest.fixture(scope="module")
def people(k8s_api: k8s.ApiClient) -> None:
    """ClusterRoles a namespace can bind: token editors (no Secrets) and token readers."""
    rbac = k8s.RbacAuthorizationV1Api(k8s_api)
    for name, verbs in (("kubectl-astra-editor", ["*"]), ("kubectl-astra-reader", ["get", "list", "watch"])):
        try:
            rbac.create_cluster_role(k8s.V1ClusterRole(metadata=k8s.V1ObjectMeta(name=name), rules=[
                k8s.V1PolicyRule(api_groups=[GROUP], resources=["astratokens"], verbs=verbs)]))
        except k8s.exceptions.ApiException as exc:
            if exc.status != 409:
                raise


def bind(k8s_api: k8s.ApiClient, namespace: str, user: str, role: str) -> None:
    k8s.RbacAuthorizationV1Api(k8s_api).create_namespaced_role_binding(namespace, k8s.V1RoleBinding(
        metadata=k8s.V1ObjectMeta(name=f"{user}-{role}"),
        role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role),
        subjects=[k8s.RbacV1Subject(kind="User", name=user, api_group="rbac.authorization.k8s.io")]))


def make_token(cluster: Cluster, name: str, namespace: str, org: str, role: str, labels: dict[str, str] | None = None,
               **spec: Any) -> dict[str, Any]:
    """A Ready AstraToken. Its logical name is unique (one per org and role in the whole cluster, and a
    namespace of an earlier test may still be going away with its tokens)."""
    spec.setdefault("logicalName", f"{name}-{uuid.uuid4().hex[:6]}")
    body = json.loads(token_manifest(name, namespace, org, role, **spec))
    if labels:
        body["metadata"]["labels"] = labels
    cluster.must_apply(json.dumps(body))
    return cluster.wait_ready("astratokens", name, namespace, timeout=60)


# --- listing and lookups -----------------------------------------------------------------------------

def test_the_table_and_json_agree_with_the_objects(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, kubectl_astra: KubectlAstra,
) -> None:
    made = {name: make_token(cluster, name, namespace, test_org.name, test_role, metadata={"team": name})
            for name in ("alpha", "beta")}

    rows = table(kubectl_astra.ok("tokens", "-n", namespace))
    listed = json.loads(kubectl_astra.ok("tokens", "-n", namespace, "-o", "json"))
    as_yaml = yaml.safe_load(kubectl_astra.ok("tokens", "-n", namespace, "-o", "yaml"))

    objects = {name: cluster.token(name, namespace) for name in made}
    assert [row["NAME"] for row in rows] == ["alpha", "beta"]
    for row in rows:
        status = objects[row["NAME"]]["status"]
        assert row["ORG"] == test_org.name
        assert row["ROLE"] == status["roleName"] == test_role
        assert row["LOGICAL NAME"] == status["logicalName"]
        assert status["logicalName"].startswith(row["NAME"])
        assert row["CLIENT ID"] == status["clientId"]
        assert row["STATE"] == "active"
        assert row["RENEWALS"] == str(status["renewals"])
        assert row["READY"] == f"True ({status['conditions'][0]['reason']})"
        assert row["LEASE EXPIRES"].startswith("in ")
        assert row["NEXT"].startswith(f"{status['nextAction']} in ")
    assert listed["kind"] == "List"
    assert {item["metadata"]["name"]: item["status"]["clientId"] for item in listed["items"]} == {
        name: obj["status"]["clientId"] for name, obj in objects.items()}
    assert {item["metadata"]["uid"] for item in listed["items"]} == {o["metadata"]["uid"] for o in objects.values()}
    assert as_yaml == listed

    alpha = objects["alpha"]["status"]["logicalName"]
    wide = table(kubectl_astra.ok("tokens", "-A", "-o", "wide", "-l", f"astra-tokens.io/logical-name={alpha}"))
    mine = [row for row in wide if row["NAMESPACE"] == namespace]
    assert len(wide) == len(mine) == 1
    assert mine[0]["LEASE EXPIRES AT"] == objects["alpha"]["status"]["leaseExpiresAt"]
    assert mine[0]["MAX EXPIRES AT"] == objects["alpha"]["status"]["maxExpiresAt"]
    assert mine[0]["SECRET"] == "alpha"
    bare = kubectl_astra.ok("tokens", "-n", namespace, "--no-headers").splitlines()
    assert [line.split()[0] for line in bare] == ["alpha", "beta"]


def test_lookups_by_client_id_and_by_org_role_and_logical_name_find_the_same_token(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, kubectl_astra: KubectlAstra,
) -> None:
    logical = f"shop-api-{uuid.uuid4().hex[:6]}"
    status = make_token(cluster, "lookup", namespace, test_org.name, test_role, logicalName=logical)["status"]
    uid = cluster.token("lookup", namespace)["metadata"]["uid"]

    by_name = json.loads(kubectl_astra.ok("get", "lookup", "-n", namespace, "-o", "json"))
    by_client_id = json.loads(kubectl_astra.ok("get", "--client-id", status["clientId"], "-o", "json"))
    by_triple = json.loads(kubectl_astra.ok("get", "--org", test_org.name, "--role", test_role,
                                            "--logical-name", logical.upper(), "-o", "json"))  # lower-cased
    by_org_id = yaml.safe_load(kubectl_astra.ok("get", "--org", test_org.org_id, "--role", test_role,
                                                "--logical-name", logical, "-o", "yaml"))

    assert {t["metadata"]["uid"] for t in (by_name, by_client_id, by_triple, by_org_id)} == {uid}
    described = kubectl_astra.ok("get", "--client-id", status["clientId"])
    assert re.search(rf"^Client id:\s+{status['clientId']}$", described, re.MULTILINE)
    assert re.search(rf"^Lease id:\s+{re.escape(status['leaseId'])}$", described, re.MULTILINE)
    assert re.search(r"^Ledger:\s+not read: no Vault credentials", described, re.MULTILINE)

    lease = kubectl_astra.ok("lease", status["leaseId"])
    assert re.search(rf"^owner:\s+AstraToken {namespace}/lookup$", lease, re.MULTILINE)
    assert re.search(rf"^expire_time:\s+{status['leaseExpiresAt']}$", lease, re.MULTILINE)
    leases = table(kubectl_astra.ok("leases", "-n", namespace))
    assert [(row["LEASE ID"], row["OWNER"]) for row in leases] == [
        (status["leaseId"], f"AstraToken {namespace}/lookup")]

    missing = one_line_error(kubectl_astra("get", "--client-id", "NoSuchClientIdAtAllHere"))
    assert missing == "error: no AstraToken has client id NoSuchClientIdAtAllHere (in the namespaces you may list)"


def test_get_reads_the_ledger_with_the_callers_own_vault_token(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, kubectl_astra: KubectlAstra,
    auditor: dict[str, str], platform: Platform,
) -> None:
    make_token(cluster, "ledgered", namespace, test_org.name, test_role)

    described = kubectl_astra.ok("get", "ledgered", "-n", namespace, vault=auditor)
    assert re.search(r"^Ledger state:\s+active$", described, re.MULTILINE)
    assert re.search(r"^Ledger last action:\s+minted by astra-token-operator \(operator\)$", described, re.MULTILINE)
    refused = kubectl_astra.ok("get", "ledgered", "-n", namespace,
                               vault={"VAULT_ADDR": platform.openbao.addr, "VAULT_TOKEN": "not-a-token"})
    assert re.search(r"^Ledger:\s+not read: Vault refused to read secret/astra-tokens/orgs/", refused, re.MULTILINE)


# --- requests: renew, revoke, rotate ------------------------------------------------------------------

@pytest.fixture(scope="module")
def short_role(cluster: Cluster, test_org: OrgHandle) -> str:
    cluster.must_apply(role_manifest("it-cli-3h", test_org.name, astraRoleName="R/W User", ttl="1h", maxTtl="3h"))
    cluster.wait_ready("astraroles", "it-cli-3h")
    return "it-cli-3h"


def test_renew_increment_moves_the_lease_by_the_increment_capped_at_max_expiry(
    cluster: Cluster, test_org: OrgHandle, short_role: str, namespace: str, kubectl_astra: KubectlAstra,
) -> None:
    first = make_token(cluster, "renewable", namespace, test_org.name, short_role)["status"]
    max_expires = parse_time(first["maxExpiresAt"])

    before = datetime.now(UTC).replace(microsecond=0)
    out = kubectl_astra.ok("renew", "renewable", "-n", namespace, "--increment", "2h")
    after = datetime.now(UTC)
    renewed = cluster.token("renewable", namespace)["status"]
    expires = parse_time(renewed["leaseExpiresAt"])
    assert before + timedelta(hours=2) - timedelta(seconds=1) <= expires <= after + timedelta(hours=2)
    assert out.strip().startswith(f"astratoken {namespace}/renewable: lease renewed until "
                                  f"{renewed['leaseExpiresAt']} (in ")
    assert renewed["maxExpiresAt"] == first["maxExpiresAt"]

    capped = kubectl_astra.ok("renew", first["leaseId"], "--increment", "5h", "-o", "json")  # by lease id
    result = json.loads(capped)
    assert result["cappedAtMaxExpiry"] is True
    assert parse_time(cluster.token("renewable", namespace)["status"]["leaseExpiresAt"]) == max_expires
    assert result["leaseExpiresAt"] == first["maxExpiresAt"]

    refused = one_line_error(kubectl_astra("renew", "renewable", "-n", namespace, "--increment", "1h"))
    assert refused == (f"error: renew of {namespace}/renewable: renewal refused: the lease already ends at its max "
                       "expiry; only a rotation gives more time")


def test_revoke_kills_the_token_at_the_fake_with_a_replacement_or_for_good(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, kubectl_astra: KubectlAstra,
    fake_astra: FakeAstraThread, hvac_client: hvac.Client,
) -> None:
    first = make_token(cluster, "leaky", namespace, test_org.name, test_role)["status"]
    leaked = cluster.secret_data("leaky", namespace)["token"]
    assert fake_astra.verify(leaked).valid

    out = kubectl_astra.ok("revoke", "leaky", "-n", namespace, "--replace")

    assert not fake_astra.verify(leaked).valid
    second = cluster.token("leaky", namespace)["status"]
    assert out.strip() == (f"astratoken {namespace}/leaky: revoked and replaced: token {first['clientId']} -> "
                           f"{second['clientId']}, published in Secret leaky")
    replacement = cluster.secret_data("leaky", namespace)["token"]
    assert fake_astra.verify(replacement).valid

    gone = kubectl_astra.ok("revoke", second["leaseId"])  # no --replace: revoked for good, as vault lease revoke
    assert gone.strip().startswith(f"astratoken {namespace}/leaky: token {second['clientId']} revoked in Astra")
    assert cluster.get("astratokens", "leaky", namespace) is None
    assert not fake_astra.verify(replacement).valid
    record = hvac_client.secrets.kv.v2.read_secret_version(
        path=f"astra-tokens/orgs/{test_org.org_id}/tokens/{second['clientId']}",
        raise_on_deleted_version=True)["data"]["data"]
    assert record["state"] == "revoked"
    assert record["revokedBy"]["username"] == "admin"


def test_rotate_by_selector_rotates_every_selected_token_and_restarts_a_shared_deployment_once(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, kubectl_astra: KubectlAstra,
    fake_astra: FakeAstraThread, k8s_api: k8s.ApiClient, auditor: dict[str, str],
) -> None:
    cluster.must_apply(DEPLOYMENT.format(name="shared", namespace=namespace))
    targets = [{"kind": "Deployment", "name": "shared"}]
    before = {name: make_token(cluster, name, namespace, test_org.name, test_role, labels={"app": "shop"},
                               rolloutRestartTargets=targets)["status"] for name in ("cart", "checkout")}
    untouched = make_token(cluster, "other", namespace, test_org.name, test_role, rolloutRestartTargets=targets)
    old_tokens = {name: cluster.secret_data(name, namespace)["token"] for name in before}
    apps = k8s.AppsV1Api(k8s_api)
    generation = apps.read_namespaced_deployment("shared", namespace).metadata.generation

    result = kubectl_astra("rotate", "-n", namespace, "-l", "app=shop", "-o", "json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rotation = report["rotation"]
    after = {name: cluster.token(name, namespace)["status"] for name in before}
    for name, status in after.items():
        assert status["clientId"] != before[name]["clientId"]
        assert fake_astra.verify(cluster.secret_data(name, namespace)["token"]).valid
        assert fake_astra.verify(old_tokens[name]).valid  # the old one lives on through its grace period
    assert cluster.token("other", namespace)["status"]["clientId"] == untouched["status"]["clientId"]
    deployment = apps.read_namespaced_deployment("shared", namespace)  # rotate waited for the restart
    assert deployment.metadata.generation == generation + 1  # one restart for both tokens
    assert deployment.spec.template.metadata.annotations["astra-tokens.io/restartedAt"] == rotation
    assert {"workload": f"Deployment {namespace}/shared", "restarted": True,
            "tokens": ["cart", "checkout"]} in report["results"]
    rotated = {r["name"]: r["clientId"] for r in report["results"] if "name" in r}
    assert rotated == {name: status["clientId"] for name, status in after.items()}

    history = json.loads(kubectl_astra.ok("history", "cart", "-n", namespace, "-o", "json", vault=auditor))
    superseded = next(v for v in history["versions"] if v["action"] == "superseded")
    assert superseded["clientId"] == before["cart"]["clientId"]
    assert superseded["actor"] == "admin"  # the requester, not the operator
    assert history["clientIds"] == [after["cart"]["clientId"], before["cart"]["clientId"]]

    old_lease = kubectl_astra.ok("lease", before["cart"]["leaseId"], vault=auditor)
    assert re.search(r"^state:\s+superseded$", old_lease, re.MULTILINE)
    assert one_line_error(kubectl_astra("lease", before["cart"]["leaseId"])).startswith(
        f"error: no AstraToken holds lease {before['cart']['leaseId']} now")


# --- the ledger's history and the caller's rights ------------------------------------------------------

def test_history_shows_who_renewed_a_token_as_an_impersonated_user(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, kubectl_astra: KubectlAstra,
    k8s_api: k8s.ApiClient, people: None, auditor: dict[str, str],
) -> None:
    bind(k8s_api, namespace, "dora", "kubectl-astra-editor")
    status = make_token(cluster, "audited", namespace, test_org.name, test_role)["status"]

    kubectl_astra.ok("renew", "audited", "-n", namespace, "--increment", "90m", "--as", "dora")

    rows = table(kubectl_astra.ok("history", "audited", "-n", namespace, vault=auditor))
    assert [(row["ACTION"], row["BY"]) for row in rows] == [
        ("minted", "astra-token-operator (operator)"), ("renewed-manually", "dora")]
    assert rows[1]["CLIENT ID"] == status["clientId"]
    assert rows[1]["CHANGES"].startswith("lease until ")
    assert rows[1]["CHANGES"].endswith("renewals 0 -> 1")
    by_client_id = json.loads(kubectl_astra.ok("history", status["clientId"], "-o", "json", vault=auditor))
    by_lease_id = json.loads(kubectl_astra.ok("history", status["leaseId"], "-o", "json", vault=auditor))
    assert by_client_id == by_lease_id
    assert [v["actor"] for v in by_client_id["versions"]] == ["astra-token-operator (operator)", "dora"]

    no_vault = one_line_error(kubectl_astra("history", "audited", "-n", namespace))
    assert no_vault.startswith("error: the ledger is not read: no Vault credentials (set VAULT_ADDR and VAULT_TOKEN")


def test_show_token_reads_the_secret_with_the_callers_own_rights(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, kubectl_astra: KubectlAstra,
    k8s_api: k8s.ApiClient, people: None,
) -> None:
    bind(k8s_api, namespace, "dora", "kubectl-astra-editor")  # AstraTokens, not Secrets
    make_token(cluster, "secretive", namespace, test_org.name, test_role)

    refused = kubectl_astra("get", "secretive", "-n", namespace, "--show-token", "--as", "dora")

    error = one_line_error(refused)
    assert refused.stdout == ""
    assert error.startswith(f"error: you may not read Secret {namespace}/secretive, so the token cannot be shown")
    assert f'User "dora" cannot get resource "secrets" in API group "" in the namespace "{namespace}"' in error
    shown = kubectl_astra.ok("get", "secretive", "-n", namespace, "--show-token")
    assert shown == cluster.secret_data("secretive", namespace)["token"] + "\n"


@pytest.mark.parametrize("request_args", [("renew", "--increment", "1h"), ("revoke", "--replace"), ("rotate",)],
                         ids=["renew", "revoke", "rotate"])
def test_a_user_who_may_not_annotate_gets_the_apiservers_refusal_in_one_line(
    request_args: tuple[str, ...], cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str,
    kubectl_astra: KubectlAstra, k8s_api: k8s.ApiClient, people: None,
) -> None:
    bind(k8s_api, namespace, "erin", "kubectl-astra-reader")
    before = make_token(cluster, "guarded", namespace, test_org.name, test_role)

    verb, *rest = request_args
    refused = kubectl_astra(verb, "guarded", "-n", namespace, *rest, "--as", "erin")

    assert one_line_error(refused) == (
        f'Error from server (Forbidden): astratokens.astra-tokens.io "guarded" is forbidden: User "erin" cannot '
        f'patch resource "astratokens" in API group "{GROUP}" in the namespace "{namespace}"')
    after = cluster.token("guarded", namespace)
    assert after["status"]["clientId"] == before["status"]["clientId"]
    assert not any(key in (after["metadata"].get("annotations") or {}) for key in (
        "astra-tokens.io/renew", "astra-tokens.io/revoke", "astra-tokens.io/rotate"))


# --- orgs, roles, status, completion ---------------------------------------------------------------

@pytest.fixture
def syncing_org(cluster: Cluster, fake_astra: FakeAstraThread, operator: OperatorProcess,
                ) -> Iterator[tuple[str, str, str]]:
    org_id = str(uuid.uuid4())
    name = f"cli-{uuid.uuid4().hex[:5]}"
    admin = fake_astra.add_org(org_id)
    cluster.must_apply(root_token_secret(f"{name}-root", admin))
    cluster.must_apply(org_manifest(name, org_id, fake_astra.url, f"{name}-root",
                                    roleSync={"enabled": True, "interval": "1h", "prune": True}))
    cluster.wait_ready("astraorgs", name)
    wait_for(lambda: len(cluster.objects.list_cluster_custom_object(
        GROUP, VERSION, "astraroles", label_selector=f"astra-tokens.io/synced-from={name}")["items"]) == 16,
        timeout=60, what="the first role sync")
    yield name, admin, org_id
    cluster.delete("astraorgs", name)
    cluster.kubectl("delete", "secret", f"{name}-root", "-n", "astra-token-operator", "--ignore-not-found")


def test_roles_import_syncs_an_orgs_roles_now_and_prints_what_changed(
    syncing_org: tuple[str, str, str], fake_astra: FakeAstraThread, kubectl_astra: KubectlAstra,
) -> None:
    org, admin, org_id = syncing_org
    policy = {"description": "loader", "actions": ["db-table-select"], "effect": "allow",
              "resources": [f"drn:astra:org:{org_id}"]}
    created = httpx.post(f"{fake_astra.url}/v2/organizations/roles", json={"name": "Team Loader", "policy": policy},
                         headers={"Authorization": f"Bearer {admin}"}, timeout=10)
    created.raise_for_status()

    out = kubectl_astra.ok("roles", "import", org)

    assert out.splitlines()[:3] == [f"astraorg {org}: roles synced", f"created  {org}-team-loader", "16 unchanged"]
    assert "RolesSynced: True (Synced): created 1, updated 0, unchanged 16, pruned 0" in out
    again = json.loads(kubectl_astra.ok("roles", "import", org, "-o", "json"))
    assert (again["created"], again["updated"], again["pruned"], again["unchanged"]) == ([], [], [], 17)
    roles = table(kubectl_astra.ok("roles", "--org", org))
    loader = next(row for row in roles if row["NAME"] == f"{org}-team-loader")
    assert loader["ASTRA ROLE"] == "Team Loader"
    assert loader["SYNCED"] == "yes"
    orgs = {row["NAME"]: row for row in table(kubectl_astra.ok("orgs"))}
    assert orgs[org]["READY"] == "True (Verified)"
    assert orgs[org]["ROLE SYNC"] == "True (Synced)"


def test_roles_import_of_an_org_without_role_sync_says_how_to_turn_it_on(
    test_org: OrgHandle, kubectl_astra: KubectlAstra,
) -> None:
    error = one_line_error(kubectl_astra("roles", "import", test_org.name))
    assert error.startswith(f"error: AstraOrg {test_org.name} does not sync roles (spec.roleSync.enabled is false)")


def test_status_reports_the_webhooks_vault_orgs_and_tokens(
    test_org: OrgHandle, test_role: str, kubectl_astra: KubectlAstra, platform: Platform,
) -> None:
    vault = {"VAULT_ADDR": platform.openbao.addr}  # sys/health needs no credentials
    report = json.loads(kubectl_astra("status", "-o", "json", vault=vault).stdout)
    text = kubectl_astra("status", vault=vault).stdout

    assert report["webhooks"]["reachable"] is True
    assert {c["name"] for c in report["webhooks"]["configurations"]} == {"astra-token-operator.astra-tokens.io"}
    assert report["vault"]["fromHere"]["reachable"] is True
    assert report["vault"]["fromHere"]["sealed"] is False
    org = next(o for o in report["orgs"] if o["name"] == test_org.name)
    assert (org["ready"], org["reason"]) == (True, "Verified")
    assert "reachable: a dry-run AstraToken in default was reviewed (and refused, as expected)" in text
    assert f"from here ({platform.openbao.addr}): reachable, unsealed" in text
    assert re.search(rf"^  {test_org.name}: Ready \(Verified\), last verified ", text, re.MULTILINE)


def test_kubectl_completes_the_plugins_commands_and_token_names(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, kubectl_astra: KubectlAstra,
    kubeconfig: Path, platform: Platform,
) -> None:
    make_token(cluster, "completed", namespace, test_org.name, test_role)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}  # kubectl hands its global flags to no plugin

    def complete(*words: str) -> str:
        done = subprocess.run([str(platform.kubectl), "__complete", "astra", *words], env=env, capture_output=True,
                              text=True, timeout=60, check=True)
        return done.stdout

    commands = complete("ro")
    names = complete("get", "-n", namespace, "")

    assert [line.split("\t")[0] for line in commands.splitlines()] == ["rotate", "roles", ":4"]
    assert names.splitlines() == ["completed", ":4"]
    script = kubectl_astra.ok("completion", "bash")
    assert "_KUBECTL_ASTRA_COMPLETE=bash_complete" in script


def test_history_logs_in_to_vault_with_a_kubernetes_auth_role_as_a_service_account(
    cluster: Cluster, test_org: OrgHandle, test_role: str, namespace: str, kubectl_astra: KubectlAstra,
    k8s_api: k8s.ApiClient, hvac_client: hvac.Client, platform: Platform, sa_kubeconfig: Any,
) -> None:
    status = make_token(cluster, "k8s-auth", namespace, test_org.name, test_role)["status"]
    rbac = k8s.RbacAuthorizationV1Api(k8s_api)
    reviewer_jwt = sa_kubeconfig.token(namespace, "token-reviewer")
    sa_kubeconfig.token(namespace, "auditor")  # creates the ServiceAccount the plugin logs in as
    rbac.create_cluster_role_binding(k8s.V1ClusterRoleBinding(
        metadata=k8s.V1ObjectMeta(name=f"{namespace}-token-reviewer"),
        role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole",
                               name="system:auth-delegator"),
        subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name="token-reviewer", namespace=namespace)]))
    mount = f"k8s-{namespace}"
    hvac_client.sys.create_or_update_policy("kubectl-astra-auditor", AUDITOR_POLICY)
    try:
        hvac_client.sys.enable_auth_method("kubernetes", path=mount)
        hvac_client.auth.kubernetes.configure(
            kubernetes_host=platform.controlplane.server, kubernetes_ca_cert=platform.controlplane.ca_file.read_text(),
            token_reviewer_jwt=reviewer_jwt, mount_point=mount)
        hvac_client.auth.kubernetes.create_role(
            "ledger-reader", bound_service_account_names=["auditor"], bound_service_account_namespaces=[namespace],
            policies=["kubectl-astra-auditor"], mount_point=mount)

        out = kubectl_astra.ok("history", "k8s-auth", "-n", namespace, "--vault-role", "ledger-reader",
                               "--vault-auth-mount", mount, "--vault-service-account", f"{namespace}/auditor",
                               vault={"VAULT_ADDR": platform.openbao.addr})

        assert [(row["CLIENT ID"], row["ACTION"]) for row in table(out)] == [(status["clientId"], "minted")]
        refused = one_line_error(kubectl_astra(
            "history", "k8s-auth", "-n", namespace, "--vault-role", "ledger-reader", "--vault-auth-mount", mount,
            "--vault-service-account", f"{namespace}/token-reviewer", vault={"VAULT_ADDR": platform.openbao.addr}))
        assert refused.startswith(f"error: Vault refused to read secret/astra-tokens/orgs/{test_org.org_id}/")
    finally:
        hvac_client.sys.disable_auth_method(mount)
        rbac.delete_cluster_role_binding(f"{namespace}-token-reviewer")
