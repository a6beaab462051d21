"""kubectl astra: what each table, description and history line shows, from
objects shaped as the API returns them. Pure; no cluster, no Vault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from astra_token_operator.kubectl_plugin import views

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
ORG_ID = "6a4c38a6-2a8f-4c1e-9d8e-2b7f0c1d9e01"
CLIENT_ID = "zjCEYwRGWocLfQJHBNQxvorr"


def at(**delta: float) -> str:
    return (NOW + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def token(name: str = "orders-api", namespace: str = "team-a", ready: str = "True", reason: str = "Renewed",
          **status: Any) -> dict[str, Any]:
    base = {
        "clientId": CLIENT_ID, "orgId": ORG_ID, "roleName": "app-rw", "logicalName": name,
        "leaseId": f"astra-tokens/{ORG_ID}/{CLIENT_ID}", "leaseDuration": 3600, "generatedOn": at(hours=-3),
        "leaseExpiresAt": at(minutes=42), "maxExpiresAt": at(hours=21), "lastRenewedAt": at(minutes=-18),
        "renewals": 2, "secretName": name, "createdBy": "alice", "nextAction": "renew",
        "nextActionAt": at(minutes=22),
        "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": "token is valid"}],
    }
    base.update(status)
    return {"apiVersion": "astra-tokens.io/v1alpha1", "kind": "AstraToken",
            "metadata": {"name": name, "namespace": namespace, "uid": "u-1", "creationTimestamp": at(hours=-3),
                         "annotations": {"astra-tokens.io/created-by":
                                         '{"username":"alice","uid":"","groups":["team-a","system:authenticated"]}'}},
            "spec": {"orgRef": "prod", "roleRef": "app-rw", "metadata": {"owner": "team-a"},
                     "rolloutRestartTargets": [{"kind": "Deployment", "name": "orders-api"}]},
            "status": base}


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (45, "45s"), (119, "119s"), (150, "2m30s"), (300, "5m"), (42 * 60, "42m"), (119 * 60, "1h59m"),
    (3 * 3600 + 60, "3h1m"),
    (5 * 3600, "5h"), (30 * 3600, "30h"), (3 * 86400 + 5 * 3600, "3d5h"), (12 * 86400, "12d"),
    (800 * 86400, "2y70d"),
])
def test_durations_read_as_kubectl_prints_them(seconds: int, text: str) -> None:
    assert views.short_duration(timedelta(seconds=seconds)) == text


def test_times_say_how_far_ahead_or_behind() -> None:
    assert views.relative(NOW + timedelta(minutes=42), NOW) == "in 42m"
    assert views.relative(NOW - timedelta(hours=5), NOW) == "5h ago"
    assert views.relative(NOW, NOW) == "now"
    assert views.relative(None, NOW) == "<none>"
    assert views.both(NOW + timedelta(minutes=42), NOW) == "2026-03-01T12:42:00Z (in 42m)"


@pytest.mark.parametrize("text", ["2026-03-01T12:00:00Z", "2026-03-01T12:00:00.123456789Z",
                                  "2026-03-01T12:00:00+00:00", "2026-03-01T13:00:00+01:00"])
def test_times_from_kubernetes_and_vault_are_read_alike(text: str) -> None:
    parsed = views.parse_time(text)
    assert parsed is not None
    assert parsed.replace(microsecond=0) == NOW


def test_the_token_table_shows_org_role_lease_renewals_next_action_and_ready_reason() -> None:
    table = views.token_table([token()], NOW)

    assert table.headers == ("NAME", "ORG", "ROLE", "LOGICAL NAME", "CLIENT ID", "STATE", "LEASE EXPIRES",
                             "MAX EXPIRY", "RENEWALS", "NEXT", "READY")
    assert table.rows == (("orders-api", "prod", "app-rw", "orders-api", CLIENT_ID, "active", "in 42m", "in 21h",
                           "2", "renew in 22m", "True (Renewed)"),)


def test_wide_adds_absolute_times_secret_creator_and_age_and_all_namespaces_the_namespace() -> None:
    table = views.token_table([token()], NOW, wide=True, namespaces=True)
    row = dict(zip(table.headers, table.rows[0], strict=True))

    assert row["NAMESPACE"] == "team-a"
    assert row["LEASE EXPIRES"] == "in 42m"
    assert row["LEASE EXPIRES AT"] == at(minutes=42)
    assert row["MAX EXPIRES AT"] == at(hours=21)
    assert row["SECRET"] == "orders-api"
    assert row["CREATED BY"] == "alice"
    assert row["AGE"] == "3h"


@pytest.mark.parametrize(("obj", "state"), [
    (token(), "active"),
    (token(ready="False", reason="VaultUnavailable"), "blocked"),
    (token(ready="False", reason="OrgNotReady", clientId=None), "pending"),
    ({"metadata": {"name": "x", "deletionTimestamp": at()}, "status": {}}, "terminating"),
    ({"metadata": {"name": "new"}}, "pending"),
])
def test_a_token_state_is_one_word(obj: dict[str, Any], state: str) -> None:
    assert views.token_state(obj) == state


def test_a_token_the_operator_has_not_reported_on_reads_unknown_pending() -> None:
    row = views.token_table([{"metadata": {"name": "new", "namespace": "a"}, "spec": {"orgRef": "prod"}}], NOW).rows[0]
    assert row == ("new", "prod", "<none>", "<none>", "<none>", "pending", "<none>", "<none>", "<none>", "<none>",
                   "Unknown (Pending)")


def test_tables_align_columns_three_spaces_apart_and_drop_headers_on_request() -> None:
    table = views.Table(("A", "LONGER"), (("wide-cell", "x"), ("y", "z")))
    assert table.render() == "A           LONGER\nwide-cell   x\ny           z"
    assert table.render(no_headers=True) == "wide-cell   x\ny           z"


def test_a_lease_lists_as_vault_lease_lookup_shows_it() -> None:
    lease = views.lease_view(token(), NOW)
    assert lease is not None

    assert dict(views.lease_lines(lease)) == {
        "id": f"astra-tokens/{ORG_ID}/{CLIENT_ID}", "issue_time": at(hours=-3), "expire_time": at(minutes=42),
        "max_expire_time": at(hours=21), "last_renewal": at(minutes=-18), "renewable": "true", "renewals": "2",
        "ttl": "42m", "owner": "AstraToken team-a/orders-api"}
    assert lease.as_dict()["ttl"] == 42 * 60


def test_a_lease_at_its_max_expiry_or_expired_is_not_renewable() -> None:
    at_max = views.lease_view(token(leaseExpiresAt=at(hours=21)), NOW)
    expired = views.lease_view(token(leaseExpiresAt=at(minutes=-1)), NOW)
    assert at_max is not None
    assert not at_max.renewable
    assert expired is not None
    assert not expired.renewable
    assert expired.ttl == "expired"
    assert views.lease_view(token(leaseId=None), NOW) is None


def test_a_lease_no_token_holds_reads_from_its_ledger_record() -> None:
    record = {"state": "superseded", "issuedAt": at(hours=-3), "leaseExpiresAt": at(minutes=30),
              "maxExpiresAt": at(hours=21), "renewals": 2, "revokeAfter": at(minutes=4),
              "owner": {"kind": "AstraToken", "namespace": "team-a", "name": "orders-api", "uid": "u-1"}}
    lease = views.ledger_lease("astra-tokens/o/c", record, NOW)
    lines = dict(views.ledger_lease_lines(lease))

    assert lease["ttl"] == 30 * 60
    assert lines["state"] == "superseded"
    assert lines["ttl"] == "30m"
    assert lines["renewable"] == "false"
    assert lines["revoke_after"] == at(minutes=4)
    assert lines["revoked_at"] == "<none>"
    revoked = views.ledger_lease("astra-tokens/o/c", {**record, "state": "revoked"}, NOW)
    assert dict(views.ledger_lease_lines(revoked))["ttl"] == "expired"


def test_get_describes_status_and_ledger_but_no_secret() -> None:
    record = {"state": "active", "lastAction": "renewed-manually", "actor": {"username": "bob", "kind": "user"},
              "issuedAt": at(hours=-3), "ttlSeconds": 3600, "maxTtlSeconds": 86400, "roleId": "r-1",
              "supersedes": "OLDclientID", "owner": {"kind": "AstraToken", "namespace": "team-a",
                                                     "name": "orders-api", "uid": "u-1"}}
    lines = dict(views.describe_token(token(), NOW, record, "", versions=7))

    assert lines["Client id"] == CLIENT_ID
    assert lines["Lease expires"] == f"{at(minutes=42)} (in 42m)"
    assert lines["Lease duration"] == "1h"
    assert lines["Next action"] == "renew in 22m"
    assert lines["Created by"] == "alice (groups team-a)"
    assert lines["Restart targets"] == "Deployment/orders-api"
    assert lines["Metadata"] == "owner=team-a"
    assert lines["Ledger last action"] == "renewed-manually by bob"
    assert lines["Ledger versions"] == "7"
    assert lines["Ttl / max ttl"] == "1h / 24h"
    assert lines["Supersedes"] == "OLDclientID"
    assert lines["Owner"] == "AstraToken team-a/orders-api (uid u-1)"


def test_get_without_ledger_access_says_why() -> None:
    lines = dict(views.describe_token(token(), NOW, None, "not read: no Vault credentials"))
    assert lines["Ledger"] == "not read: no Vault credentials"
    assert "Ledger state" not in lines


def test_pairs_render_as_aligned_key_value_lines() -> None:
    assert views.render_pairs([("id", "x"), ("renewable", "true")]) == "id:         x\nrenewable:  true"


def test_orgs_show_readiness_counts_role_sync_and_when_verified() -> None:
    org = {"metadata": {"name": "prod"}, "spec": {"orgId": ORG_ID, "logicalName": "prod",
                                                  "roleSync": {"enabled": True}},
           "status": {"activeTokens": 3, "roles": 16, "lastVerified": at(minutes=-2), "orgName": "Prod",
                      "conditions": [{"type": "Ready", "status": "True", "reason": "Verified"},
                                     {"type": "RolesSynced", "status": "True", "reason": "Synced"}]}}
    assert views.org_table([org], NOW).rows == (
        ("prod", ORG_ID, "prod", "standard", "True (Verified)", "3", "16", "True (Synced)", "2m ago"),)
    off = {"metadata": {"name": "dev"}, "spec": {"orgId": ORG_ID}}
    assert views.role_sync_state(off) == "off"


def test_roles_show_ttls_readiness_and_whether_role_sync_made_them() -> None:
    synced = {"metadata": {"name": "prod-r-w-user", "labels": {"astra-tokens.io/synced-from": "prod"}},
              "spec": {"orgRef": "prod", "roleId": "r-1", "ttl": "1h", "maxTtl": "12h"},
              "status": {"roleName": "prod-r-w-user", "astraRoleName": "R/W User", "activeTokens": 1,
                         "conditions": [{"type": "Ready", "status": "True", "reason": "Verified"}]}}
    hand = {"metadata": {"name": "app-rw"}, "spec": {"orgRef": "prod", "astraRoleName": "R/W User"}}
    rows = views.role_table([synced, hand], NOW).rows
    assert rows[0] == ("prod-r-w-user", "prod", "prod-r-w-user", "R/W User", "1h", "12h", "True (Verified)", "1",
                       "yes")
    assert rows[1] == ("app-rw", "prod", "app-rw", "R/W User", "24h", "24h", "Unknown (Pending)", "<none>", "no")


# --- history ---------------------------------------------------------------------------------------

MINTED = {"clientId": CLIENT_ID, "roleName": "app-rw", "logicalName": "orders-api", "state": "active",
          "lastAction": "minted", "actor": {"username": "astra-token-operator", "kind": "operator"},
          "createdBy": {"username": "alice", "kind": "user"}, "leaseExpiresAt": "2026-03-01T13:00:00Z",
          "maxExpiresAt": "2026-03-02T12:00:00Z", "renewals": 0, "metadata": {"team": "a"}}


def test_history_says_when_what_changed_and_who_caused_it() -> None:
    renewed = {**MINTED, "lastAction": "renewed-manually", "actor": {"username": "bob", "kind": "user"},
               "leaseExpiresAt": "2026-03-01T15:00:00Z", "renewals": 1}
    superseded = {**renewed, "lastAction": "superseded", "state": "superseded", "supersededBy": "NEWclientID",
                  "revokeAfter": "2026-03-01T16:05:00Z", "actor": {"username": "carol", "kind": "user"}}
    entries = views.history_entries(CLIENT_ID, [(1, NOW, MINTED), (2, NOW, renewed), (3, NOW, superseded)])

    assert [(e.version, e.action, e.actor, e.state) for e in entries] == [
        (1, "minted", "astra-token-operator (operator)", "active"),
        (2, "renewed-manually", "bob", "active"),
        (3, "superseded", "carol", "superseded")]
    assert entries[0].changes == ("app-rw/orders-api", "created by alice", "lease until 2026-03-01T13:00:00Z",
                                  "max 2026-03-02T12:00:00Z", "metadata {team=a}")
    assert entries[1].changes == ("lease until 2026-03-01T15:00:00Z (+2h)", "renewals 0 -> 1")
    assert entries[2].changes == ("state active -> superseded", "supersededBy NEWclientID",
                                  "revokeAfter 2026-03-01T16:05:00Z")


def test_history_names_metadata_edits_and_revocations() -> None:
    edited = {**MINTED, "lastAction": "metadata-updated", "metadata": {"team": "b"}}
    revoked = {**edited, "lastAction": "revoked", "state": "revoked", "revokedAt": "2026-03-01T12:30:00Z",
               "revokedBy": {"username": "dave", "kind": "user"}, "reason": "AstraToken deleted"}
    entries = views.history_entries(CLIENT_ID, [(1, NOW, MINTED), (2, NOW, edited), (3, NOW, revoked)])
    assert entries[1].changes == ("metadata {team=a} -> {team=b}",)
    assert entries[2].changes == ("state active -> revoked", "revokedAt 2026-03-01T12:30:00Z", "revoked by dave",
                                  "reason AstraToken deleted")


def test_a_deleted_version_is_listed_without_data() -> None:
    entries = views.history_entries(CLIENT_ID, [(1, NOW, MINTED), (2, NOW, None)])
    assert entries[1].action == "(version deleted)"


def test_history_rows_carry_no_secret_even_if_a_record_had_one() -> None:
    leaky = {**MINTED, "token": "AstraCS:abc:def", "clientSecret": "s3cr3t"}
    entries = views.history_entries(CLIENT_ID, [(1, NOW, leaky), (2, NOW, {**leaky, "renewals": 1})])
    text = views.history_table(entries, wide=True).render()
    assert "AstraCS" not in text
    assert "s3cr3t" not in text


# --- status ----------------------------------------------------------------------------------------

def peering(**peers: tuple[int, float]) -> dict[str, Any]:
    return {"status": {name: {"priority": priority, "lifetime": 60, "lastseen": at(seconds=-age)}
                       for name, (priority, age) in peers.items()}}


def test_the_live_peer_with_the_highest_priority_is_active() -> None:
    peers = views.peers_from(peering(a=(10, 5), b=(20, 5), dead=(99, 600)))
    active, detail = views.active_peer(peers, NOW)
    assert active is not None
    assert active.identity == "b"
    assert detail == "b (priority 20); 1 standby"


def test_equal_top_priorities_mean_no_active_replica() -> None:
    active, detail = views.active_peer(views.peers_from(peering(a=(5, 1), b=(5, 2))), NOW)
    assert active is None
    assert "share priority 5" in detail


def test_no_live_peer_means_no_active_replica() -> None:
    assert views.active_peer(views.peers_from(peering(a=(5, 3600))), NOW)[0] is None
    assert views.peers_from(None) == []
