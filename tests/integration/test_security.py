"""What a security review asks of the standard mode (issue 13), on the real
control plane, OpenBao and the fake Astra: abandoning a token is a permission
of its own and the ledger names who did it; deleting an org, a role or a
namespace never strands a valid token; an org's callerMode does not change
under live tokens; a ledger of the first layout (tokens inline) is migrated
at start-up without a mint."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import hvac
import hvac.exceptions
import pytest
from kubernetes import client as k8s

from astra_token_operator.fake_astra import FakeAstraThread
from integration.conftest import (
    GROUP,
    Cluster,
    org_manifest,
    role_manifest,
    root_token_secret,
    token_manifest,
    wait_for,
)
from testplatform.kube import wait_for_namespace_gone
from testplatform.operator import OperatorProcess

LEDGER = "astra-tokens"
MINT = "POST /v2/clientIdSecrets"
CAROL, DAVE = "sec-carol", "sec-dave"  # both edit AstraTokens in the namespace; only dave may abandon


@dataclass(frozen=True)
class Org:
    name: str
    org_id: str
    role: str


@pytest.fixture(scope="module")
def roles_for_people(k8s_api: k8s.ApiClient) -> None:
    """An editor role as the chart's (explicit verbs, so no "abandon"), and the abandon role."""
    api = k8s.RbacAuthorizationV1Api(k8s_api)
    rules = {
        "sec-test-editor": ["get", "list", "watch", "create", "update", "patch", "delete"],
        "sec-test-abandoner": ["abandon"],
    }
    for name, verbs in rules.items():
        try:
            api.create_cluster_role(k8s.V1ClusterRole(metadata=k8s.V1ObjectMeta(name=name), rules=[
                k8s.V1PolicyRule(api_groups=[GROUP], resources=["astratokens"], verbs=verbs)]))
        except k8s.exceptions.ApiException as exc:
            if exc.status != 409:
                raise


def bind(k8s_api: k8s.ApiClient, namespace: str, role: str, user: str) -> None:
    k8s.RbacAuthorizationV1Api(k8s_api).create_namespaced_role_binding(namespace, k8s.V1RoleBinding(
        metadata=k8s.V1ObjectMeta(name=f"{role}-{user}"),
        role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role),
        subjects=[k8s.RbacV1Subject(kind="User", name=user, api_group="rbac.authorization.k8s.io")]))


@pytest.fixture
def org(cluster: Cluster, fake_astra: FakeAstraThread, operator: OperatorProcess) -> Iterator[Org]:
    """An org of its own (its own Astra org at the fake) with one role, Ready."""
    suffix = uuid.uuid4().hex[:6]
    handle = Org(f"sec-{suffix}", str(uuid.uuid4()), f"sec-rw-{suffix}")
    cluster.must_apply(root_token_secret(f"{handle.name}-root", fake_astra.add_org(handle.org_id)))
    cluster.must_apply(org_manifest(handle.name, handle.org_id, fake_astra.url, f"{handle.name}-root"))
    cluster.must_apply(role_manifest(handle.role, handle.name, astraRoleName="R/W User", ttl="1h", maxTtl="24h"))
    cluster.wait_ready("astraorgs", handle.name)
    cluster.wait_ready("astraroles", handle.role)
    yield handle
    for plural, name in (("astraroles", handle.role), ("astraorgs", handle.name)):
        cluster.kubectl("annotate", plural, name, "astra-tokens.io/cascade=true", "--overwrite")
        cluster.delete(plural, name)


def valid_ids(fake_astra: FakeAstraThread, org_id: str) -> set[str]:
    return {t.client_id for t in fake_astra.tokens(org_id) if t.state == "valid" and not t.is_admin}


def make_tokens(cluster: Cluster, org: Org, namespace: str, names: list[str]) -> dict[str, str]:
    """name -> client id, once every one is Ready."""
    for name in names:
        cluster.must_apply(token_manifest(name, namespace, org.name, org.role))
    return {name: cluster.wait_ready("astratokens", name, namespace, timeout=60)["status"]["clientId"]
            for name in names}


def ledger_record(hvac_client: hvac.Client, org_id: str, client_id: str) -> dict[str, Any]:
    found = hvac_client.secrets.kv.v2.read_secret_version(path=f"{LEDGER}/orgs/{org_id}/tokens/{client_id}",
                                                          raise_on_deleted_version=True)
    data: dict[str, Any] = found["data"]["data"]
    return data


# --- abandoning is a permission -------------------------------------------------------------------

def test_a_tenant_setting_abandon_is_refused_naming_the_permission_and_a_granted_user_abandons(
    cluster: Cluster, org: Org, namespace: str, roles_for_people: None, k8s_api: k8s.ApiClient, kubectl: Any,
    fake_astra: FakeAstraThread, hvac_client: hvac.Client,
) -> None:
    for user in (CAROL, DAVE):
        bind(k8s_api, namespace, "sec-test-editor", user)
    bind(k8s_api, namespace, "sec-test-abandoner", DAVE)
    client_id = make_tokens(cluster, org, namespace, ["kept"])["kept"]
    token = cluster.secret_data("kept", namespace)["token"]

    abandon = "astra-tokens.io/abandon=true"
    refused = kubectl("annotate", f"--as={CAROL}", "astratoken", "kept", "-n", namespace, abandon)
    assert refused.returncode != 0
    assert "verb 'abandon' on astratokens.astra-tokens.io" in refused.stderr
    assert CAROL in refused.stderr
    born_abandoned = json.loads(token_manifest("born-abandoned", namespace, org.name, org.role))
    born_abandoned["metadata"]["annotations"] = {"astra-tokens.io/abandon": "true"}
    created = kubectl("apply", f"--as={CAROL}", "-f", "-", input=json.dumps(born_abandoned))
    assert created.returncode != 0
    assert "verb 'abandon'" in created.stderr
    assert "astra-tokens.io/abandon" not in cluster.token("kept", namespace)["metadata"]["annotations"]

    granted = kubectl("annotate", f"--as={DAVE}", "astratoken", "kept", "-n", namespace, abandon)
    assert granted.returncode == 0, granted.stderr
    forged = kubectl("annotate", f"--as={CAROL}", "--overwrite", "astratoken", "kept", "-n", namespace,
                     'astra-tokens.io/abandoned-by={"username":"someone-else"}')
    assert forged.returncode == 0, forged.stderr  # accepted, but the stamp is the webhook's
    stamp = json.loads(cluster.token("kept", namespace)["metadata"]["annotations"]["astra-tokens.io/abandoned-by"])
    assert stamp["username"] == DAVE

    deleted = kubectl("delete", f"--as={CAROL}", "astratoken", "kept", "-n", namespace, "--wait=true")
    assert deleted.returncode == 0, deleted.stderr
    assert fake_astra.verify(token).valid  # released, not revoked
    record = ledger_record(hvac_client, org.org_id, client_id)
    assert record["state"] == "abandoned"
    assert record["actor"]["username"] == DAVE
    assert CAROL in record["reason"]  # who deleted it, beside who abandoned it
    wait_for(lambda: any(e.reason == "Abandoned" and DAVE in (e.message or "")
                         for e in cluster.events_for("kept", namespace)), timeout=15, what="the Abandoned Event")


# --- deleting an org or a role never strands a token -----------------------------------------------

def test_deleting_an_org_with_live_tokens_is_refused_listing_them_and_cascade_revokes_all_first(
    cluster: Cluster, org: Org, namespace: str, kubectl: Any, fake_astra: FakeAstraThread,
    hvac_client: hvac.Client,
) -> None:
    names = ["alpha", "beta", "gamma"]
    client_ids = make_tokens(cluster, org, namespace, names)
    assert valid_ids(fake_astra, org.org_id) == set(client_ids.values())

    refused = kubectl("delete", "astraorg", org.name, "--wait=false")
    assert refused.returncode != 0
    assert "is used by 3 AstraTokens" in refused.stderr
    assert all(f"{namespace}/{name}" in refused.stderr for name in names)
    assert "astra-tokens.io/cascade=true" in refused.stderr
    role_refused = kubectl("delete", "astrarole", org.role, "--wait=false")
    assert role_refused.returncode != 0
    assert "is used by 3 AstraTokens" in role_refused.stderr
    assert cluster.get("astraorgs", org.name) is not None
    assert valid_ids(fake_astra, org.org_id) == set(client_ids.values())

    annotated = kubectl("annotate", "astraorg", org.name, "astra-tokens.io/cascade=true")
    assert annotated.returncode == 0, annotated.stderr
    started = time.monotonic()
    cluster.delete("astraorgs", org.name)
    while True:  # the org must never be seen gone while one of its tokens is still valid
        gone = cluster.get("astraorgs", org.name) is None
        still_valid = valid_ids(fake_astra, org.org_id)
        if gone:
            assert still_valid == set(), "the org went before its tokens were revoked"
            break
        assert time.monotonic() - started < 90, f"the org is still there; valid: {still_valid}"
        time.sleep(0.1)
    print(f"\ncascade: 3 tokens revoked and the org gone in {time.monotonic() - started:.1f}s")
    for name, client_id in client_ids.items():
        assert cluster.get("astratokens", name, namespace) is None
        assert ledger_record(hvac_client, org.org_id, client_id)["state"] == "revoked"
    events = k8s.CoreV1Api(cluster.api).list_namespaced_event(
        "astra-token-operator", field_selector=f"involvedObject.name={org.name}").items
    assert any(e.reason == "CascadeDeleting" and "3 AstraTokens" in (e.message or "") for e in events)


def test_a_role_deleted_with_cascade_revokes_its_tokens_first_and_an_unused_role_goes_at_once(
    cluster: Cluster, org: Org, namespace: str, kubectl: Any, fake_astra: FakeAstraThread,
) -> None:
    client_ids = make_tokens(cluster, org, namespace, ["one", "two"])
    spare = f"{org.role}-spare"
    cluster.must_apply(role_manifest(spare, org.name, astraRoleName="R/W User"))
    cluster.delete("astraroles", spare)  # nothing uses it: no annotation needed
    cluster.wait_gone("astraroles", spare, timeout=30)

    annotated = kubectl("annotate", "astrarole", org.role, "astra-tokens.io/cascade=true")
    assert annotated.returncode == 0, annotated.stderr
    cluster.delete("astraroles", org.role)
    cluster.wait_gone("astraroles", org.role, timeout=60)
    assert valid_ids(fake_astra, org.org_id) == set()
    assert not any(cluster.get("astratokens", name, namespace) for name in client_ids)


def test_a_namespace_with_20_tokens_is_deleted_with_every_token_revoked(
    cluster: Cluster, org: Org, fake_astra: FakeAstraThread, k8s_api: k8s.ApiClient,
) -> None:
    doomed = f"sec-doomed-{uuid.uuid4().hex[:6]}"
    k8s.CoreV1Api(k8s_api).create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=doomed)))
    client_ids = make_tokens(cluster, org, doomed, [f"app-{n:02d}" for n in range(20)])
    assert valid_ids(fake_astra, org.org_id) == set(client_ids.values())

    k8s.CoreV1Api(k8s_api).delete_namespace(doomed)
    seconds = wait_for_namespace_gone(k8s_api, doomed, timeout=180)

    print(f"\nnamespace with 20 AstraTokens deleted in {seconds:.1f}s, every token revoked")
    assert valid_ids(fake_astra, org.org_id) == set()
    assert seconds < 120  # measured at a few seconds; the bound leaves room for a loaded machine


# --- callerMode does not flip under live tokens ------------------------------------------------------

def test_caller_mode_cannot_change_while_the_org_has_tokens_and_can_once_it_has_none(
    cluster: Cluster, org: Org, namespace: str, kubectl: Any, fake_astra: FakeAstraThread,
) -> None:
    make_tokens(cluster, org, namespace, ["only"])
    to_sidecar = json.dumps({"spec": {"callerMode": "sidecar"}})

    refused = kubectl("patch", "astraorg", org.name, "--type=merge", "-p", to_sidecar)
    assert refused.returncode != 0
    assert "callerMode cannot change from standard to sidecar while 1 AstraToken" in refused.stderr
    assert f"{namespace}/only" in refused.stderr
    assert cluster.get("astraorgs", org.name)["spec"]["callerMode"] == "standard"  # type: ignore[index]

    cluster.delete("astratokens", "only", namespace)
    cluster.wait_gone("astratokens", "only", namespace, timeout=30)
    assert valid_ids(fake_astra, org.org_id) == set()
    switched = kubectl("patch", "astraorg", org.name, "--type=merge", "-p", to_sidecar)
    assert switched.returncode == 0, switched.stderr
    to_standard = json.dumps({"spec": {"callerMode": "standard"}})
    back = kubectl("patch", "astraorg", org.name, "--type=merge", "-p", to_standard)
    assert back.returncode == 0, back.stderr


# --- a ledger of the first layout, migrated at start-up ---------------------------------------------

def to_first_layout(hvac_client: hvac.Client, org_id: str, client_id: str) -> int:
    """Rewrite a record as the previous release wrote it: the token and client secret in every
    version, no credentials apart. Returns the number of versions."""
    kv = hvac_client.secrets.kv.v2
    key, credentials = f"{LEDGER}/orgs/{org_id}/tokens/{client_id}", f"{LEDGER}/credentials/{org_id}/{client_id}"
    secret = kv.read_secret_version(path=credentials, raise_on_deleted_version=True)["data"]["data"]
    meta = kv.read_secret_metadata(path=key)["data"]
    versions = [kv.read_secret_version(path=key, version=int(n), raise_on_deleted_version=True)["data"]["data"]
                for n in sorted(meta["versions"], key=int)]
    kv.delete_metadata_and_all_versions(path=key)
    kv.delete_metadata_and_all_versions(path=credentials)
    for number, data in enumerate(versions):
        old = {k: v for k, v in data.items() if k != "recordedAt"}
        kv.create_or_update_secret(path=key, cas=number, secret={
            **old, "schemaVersion": 1, "token": secret["token"], "clientSecret": secret["clientSecret"]})
    return len(versions)


def test_a_ledger_of_the_first_layout_is_split_at_start_up_without_a_mint(
    cluster: Cluster, org: Org, namespace: str, kubectl: Any, fake_astra: FakeAstraThread,
    hvac_client: hvac.Client, operator: OperatorProcess,
) -> None:
    client_ids = make_tokens(cluster, org, namespace, ["old-a", "old-b"])
    renewed = kubectl("annotate", "astratoken", "old-a", "-n", namespace, "astra-tokens.io/renew=2h")
    assert renewed.returncode == 0, renewed.stderr
    wait_for(lambda: cluster.token("old-a", namespace)["status"].get("renewals") == 1, timeout=30,
             what="the manual renewal")
    secrets_before = {name: cluster.secret_data(name, namespace) for name in client_ids}

    operator.stop()
    try:
        versions = {cid: to_first_layout(hvac_client, org.org_id, cid) for cid in client_ids.values()}
        hvac_client.secrets.kv.v2.delete_metadata_and_all_versions(path=f"{LEDGER}/layout")
        creates = fake_astra.counters().count(org=org.org_id, endpoint=MINT)
    finally:
        operator.start()

    def split() -> bool:
        try:
            layout = hvac_client.secrets.kv.v2.read_secret_version(path=f"{LEDGER}/layout",
                                                                   raise_on_deleted_version=True)
        except hvac.exceptions.InvalidPath:
            return False
        return bool(layout["data"]["data"]["version"] >= 2)

    wait_for(split, timeout=60, what="the ledger's layout migrated")
    for name in client_ids:
        cluster.wait_ready("astratokens", name, namespace, timeout=60)
    assert fake_astra.counters().count(org=org.org_id, endpoint=MINT) == creates  # nothing minted again
    assert {name: cluster.secret_data(name, namespace) for name in client_ids} == secrets_before
    assert valid_ids(fake_astra, org.org_id) == set(client_ids.values())
    kv = hvac_client.secrets.kv.v2
    for client_id, count in versions.items():
        key = f"{LEDGER}/orgs/{org.org_id}/tokens/{client_id}"
        meta = kv.read_secret_metadata(path=key)["data"]
        stored = [kv.read_secret_version(path=key, version=int(n), raise_on_deleted_version=True)["data"]["data"]
                  for n in sorted(meta["versions"], key=int)]
        assert len(stored) >= count  # every version kept (and maybe one more since)
        assert all("token" not in v and "clientSecret" not in v for v in stored)
        credentials = kv.read_secret_version(path=f"{LEDGER}/credentials/{org.org_id}/{client_id}",
                                             raise_on_deleted_version=True)["data"]["data"]
        assert credentials["clientId"] == client_id
    assert "migrate-layout" in operator.log_text()


# --- when the operator is away ------------------------------------------------------------------------

def test_a_token_expires_in_astra_at_its_max_lifetime_whatever_becomes_of_the_operator(
    cluster: Cluster, org: Org, namespace: str, fake_astra: FakeAstraThread,
) -> None:
    client_id = make_tokens(cluster, org, namespace, ["mortal"])["mortal"]
    status = cluster.token("mortal", namespace)["status"]
    (view,) = [t for t in fake_astra.tokens(org.org_id) if t.client_id == client_id]
    assert view.token_expiry is not None
    assert view.token_expiry.strftime("%Y-%m-%dT%H:%M:%SZ") == status["maxExpiresAt"]  # issuedAt + maxTtl


def test_with_the_operator_down_a_deleted_token_stays_terminating_and_is_revoked_when_it_returns_and_orgs_stay(
    cluster: Cluster, org: Org, namespace: str, kubectl: Any, fake_astra: FakeAstraThread,
    operator: OperatorProcess,
) -> None:
    client_id = make_tokens(cluster, org, namespace, ["parked"])["parked"]
    operator.stop()
    try:
        deleted = kubectl("delete", "astratoken", "parked", "-n", namespace, "--wait=false")
        assert deleted.returncode == 0, deleted.stderr  # the DELETE webhook's failure is ignored
        assert cluster.token("parked", namespace)["metadata"].get("deletionTimestamp")  # Terminating
        assert client_id in valid_ids(fake_astra, org.org_id)  # nothing revoked it yet
        kept = kubectl("delete", "astraorg", org.name, "--wait=false", timeout=90)
        assert kept.returncode != 0  # fails closed: nothing could tell whether tokens still use it
        assert "guard-org-deletion" in kept.stderr
        assert cluster.get("astraorgs", org.name) is not None
    finally:
        operator.start()
    cluster.wait_gone("astratokens", "parked", namespace, timeout=60)
    assert client_id not in valid_ids(fake_astra, org.org_id)
