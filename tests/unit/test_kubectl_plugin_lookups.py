"""kubectl astra: how lookups become selectors, how a request's outcome is read
from the objects, and that the ledger reader drops secrets where it reads.
Pure; no cluster, no Vault."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from astra_token_operator.kubectl_plugin import lookups, outcomes
from astra_token_operator.kubectl_plugin.cli import cli, main
from astra_token_operator.kubectl_plugin.completion import cobra_completions, completion_script
from astra_token_operator.kubectl_plugin.ledger import VaultOptions, scrub
from astra_token_operator.surface import ANNOTATION_RENEW, ANNOTATION_ROTATE

ORG_ID = "6a4c38a6-2a8f-4c1e-9d8e-2b7f0c1d9e01"
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


# --- lookups ---------------------------------------------------------------------------------------

def test_a_lease_id_names_the_org_and_client_id_and_selects_by_their_labels() -> None:
    ref = lookups.parse_lease_id(f"astra-tokens/{ORG_ID}/zjCEYwRGWocLfQJHBNQxvorr")
    assert ref == lookups.LeaseRef(ORG_ID, "zjCEYwRGWocLfQJHBNQxvorr")
    assert ref.selector == f"astra-tokens.io/org-id={ORG_ID},astra-tokens.io/client-id=zjCEYwRGWocLfQJHBNQxvorr"
    assert ref.lease_id == f"astra-tokens/{ORG_ID}/zjCEYwRGWocLfQJHBNQxvorr"


@pytest.mark.parametrize("text", ["orders-api", "astra/org/token/abc", "astra-tokens/only-org",
                                  "astra-tokens/a/b/c", "astra-tokens/a/b c"])
def test_anything_else_is_not_a_lease_id(text: str) -> None:
    assert lookups.parse_lease_id(text) is None
    with pytest.raises(ValueError, match="lease ids look like astra-tokens/<orgId>/<clientId>"):
        lookups.require_lease_id(text)


ORGS = [{"metadata": {"name": "prod"}, "spec": {"orgId": ORG_ID, "logicalName": "production"}}]


@pytest.mark.parametrize(("org", "label"), [
    ("prod", ("astra-tokens.io/org", "prod")),  # the AstraOrg's name
    (ORG_ID, ("astra-tokens.io/org-id", ORG_ID)),  # the plugin's org_id
    (ORG_ID.upper(), ("astra-tokens.io/org-id", ORG_ID)),
    ("production", ("astra-tokens.io/org", "prod")),  # the org's logicalName
    ("unknown", ("astra-tokens.io/org", "unknown")),
])
def test_an_org_is_found_by_name_org_id_or_logical_name(org: str, label: tuple[str, str]) -> None:
    assert lookups.org_label(org, ORGS) == label


def test_the_plugins_read_by_org_role_and_logical_name_lower_cases_names_as_it_did() -> None:
    assert lookups.triple_selector("astra-tokens.io/org", "prod", "App-RW", "Orders-API") == (
        "astra-tokens.io/org=prod,astra-tokens.io/role=app-rw,astra-tokens.io/logical-name=orders-api")


def test_a_rotation_id_is_fresh_per_run_and_a_valid_annotation_value() -> None:
    first = lookups.batch_id(NOW, random.Random(1))
    second = lookups.batch_id(NOW, random.Random(2))
    assert first.startswith("kubectl-astra-20260301T120000Z-")
    assert first != second
    assert len(first) <= 63


@pytest.mark.parametrize(("text", "client_id"), [
    ("zjCEYwRGWocLfQJHBNQxvorr", True), ("orders-api", False), ("ordersapi", False), ("Orders-Api", False)])
def test_a_client_id_has_capitals_and_no_dashes_a_token_name_has_neither(text: str, client_id: bool) -> None:
    assert lookups.could_be_client_id(text) is client_id


# --- outcomes --------------------------------------------------------------------------------------

def obj(annotations: dict[str, str] | None = None, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "t", "namespace": "a", "annotations": annotations or {}},
            "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Renewed"}],
                                   **status}}


def event(reason: str, message: str, when: datetime) -> dict[str, Any]:
    return {"reason": reason, "message": message, "lastTimestamp": when.isoformat()}


def test_a_renewal_is_pending_while_its_annotation_is_on_the_object() -> None:
    before = obj(leaseExpiresAt="2026-03-01T13:00:00Z", maxExpiresAt="2026-03-02T12:00:00Z")
    after = obj({ANNOTATION_RENEW: "2h"}, leaseExpiresAt="2026-03-01T13:00:00Z")
    assert outcomes.renew_outcome(before, after, [], NOW, ANNOTATION_RENEW) is None


def test_a_handled_renewal_reports_the_new_expiry_and_whether_it_was_capped() -> None:
    before = obj(leaseExpiresAt="2026-03-01T13:00:00Z", maxExpiresAt="2026-03-01T13:30:00Z")
    moved = obj(leaseExpiresAt="2026-03-01T13:30:00Z", maxExpiresAt="2026-03-01T13:30:00Z", renewals=3)
    outcome = outcomes.renew_outcome(before, moved, [], NOW, ANNOTATION_RENEW)
    assert outcome is not None
    assert outcome.ok
    assert outcome.summary == "lease renewed until 2026-03-01T13:30:00Z (in 1h30m), capped at the token's max expiry"
    assert outcome.details["cappedAtMaxExpiry"] is True


def test_a_refused_renewal_reports_the_operators_reason() -> None:
    before = obj(leaseExpiresAt="2026-03-01T13:00:00Z")
    events = [event("RenewRefused", "an old refusal", NOW - timedelta(hours=1)),
              event("RenewRefused", "the lease already ends at its max expiry", NOW + timedelta(seconds=1))]
    outcome = outcomes.renew_outcome(before, before, events, NOW, ANNOTATION_RENEW)
    assert outcome is not None
    assert not outcome.ok
    assert outcome.summary == "renewal refused: the lease already ends at its max expiry"
    assert outcomes.renew_outcome(before, before, events[:1], NOW, ANNOTATION_RENEW) is None


def test_a_rotation_is_done_when_a_new_client_id_is_ready_and_the_request_is_gone() -> None:
    before = obj(clientId="OLD", secretName="s")
    assert outcomes.replaced_outcome(before, obj({ANNOTATION_ROTATE: "r1"}, clientId="NEW"), ANNOTATION_ROTATE,
                                     "rotated") is None
    assert outcomes.replaced_outcome(before, obj(clientId="OLD"), ANNOTATION_ROTATE, "rotated") is None
    done = outcomes.replaced_outcome(before, obj(clientId="NEW", secretName="s"), ANNOTATION_ROTATE, "rotated")
    assert done is not None
    assert done.summary == "rotated: token OLD -> NEW, published in Secret s"


def test_a_workload_named_by_several_tokens_is_one_restart_target() -> None:
    def tok(name: str, *targets: str) -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": "a"},
                "spec": {"rolloutRestartTargets": [{"kind": "Deployment", "name": t} for t in targets]}}
    restarts = outcomes.restart_targets([tok("one", "shared", "solo"), tok("two", "shared"), tok("three")])
    assert [(r.ref, r.tokens) for r in restarts] == [("Deployment a/shared", ("one", "two")),
                                                     ("Deployment a/solo", ("one",))]


def test_a_workload_was_restarted_by_a_rotation_when_its_template_carries_the_rotation_id() -> None:
    workload = {"spec": {"template": {"metadata": {"annotations": {"astra-tokens.io/restartedAt": "r1"}}}}}
    assert outcomes.restarted_with(workload, "r1")
    assert not outcomes.restarted_with(workload, "r2")
    assert not outcomes.restarted_with(None, "r1")


def test_role_import_names_what_it_created_updated_and_pruned() -> None:
    def role(name: str, uid: str, ttl: str = "1h") -> dict[str, Any]:
        return {"metadata": {"name": name, "uid": uid}, "spec": {"orgRef": "prod", "ttl": ttl}}
    before = [role("prod-a", "1"), role("prod-b", "2"), role("prod-gone", "3"), role("prod-same", "4")]
    after = [role("prod-a", "1", ttl="2h"), role("prod-b", "9"), role("prod-new", "5"), role("prod-same", "4")]
    changes = outcomes.role_changes(before, after)
    assert changes.created == ("prod-b", "prod-new")  # prod-b was deleted and made again
    assert changes.updated == (("prod-a", "ttl 1h -> 2h"),)
    assert changes.pruned == ("prod-gone",)
    assert changes.unchanged == 1
    assert outcomes.role_changes(before, before).changed is False


# --- the ledger reader -----------------------------------------------------------------------------

def test_records_lose_their_secrets_where_they_are_read() -> None:
    record = {"clientId": "c", "token": "AstraCS:c:abc", "clientSecret": "s3cr3t",
              "nested": {"token": "x", "note": "AstraCS:leaked:123"}, "list": ["AstraCS:z:9", "ok"]}
    assert scrub(record) == {"clientId": "c", "nested": {"note": "<redacted>"}, "list": ["<redacted>", "ok"]}


def test_vault_credentials_are_the_callers_own(tmp_path: Path) -> None:
    env = {"VAULT_ADDR": "http://vault:8200", "VAULT_TOKEN": "hvs.caller",
           "ASTRA_OPERATOR_VAULT_TOKEN": "the-operators"}
    options = VaultOptions.from_environment(env, tmp_path)
    assert options.addr == "http://vault:8200"
    assert options.token is not None
    assert options.token.get_secret_value() == "hvs.caller"
    assert "hvs.caller" not in repr(options)
    bao = VaultOptions.from_environment({"BAO_ADDR": "http://bao", "BAO_TOKEN": "t"}, tmp_path)
    assert bao.addr == "http://bao"
    assert bao.configured


def test_the_vault_cli_token_helper_file_is_used_when_no_token_is_set(tmp_path: Path) -> None:
    (tmp_path / ".vault-token").write_text("hvs.from-login\n")
    options = VaultOptions.from_environment({"VAULT_ADDR": "http://v"}, tmp_path)
    assert options.token is not None
    assert options.token.get_secret_value() == "hvs.from-login"
    assert not VaultOptions.from_environment({}, tmp_path).configured  # no address


def test_a_kubernetes_auth_role_needs_no_token(tmp_path: Path) -> None:
    options = VaultOptions.from_environment({"VAULT_ADDR": "http://v"}, tmp_path, role="auditor", kv_mount="kv")
    assert options.configured
    assert options.token is None
    assert options.kv_mount == "kv"


# --- the command line, where no cluster is needed ----------------------------------------------------

def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), prog_name="kubectl astra", standalone_mode=False)
    return result.exit_code, result.stdout, result.stderr


def test_usage_errors_are_one_line_naming_the_help_to_read(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "--bogus"]) == 2
    err = capsys.readouterr().err
    assert err == "error: No such option '--bogus'. (see kubectl astra tokens --help)\n"


def test_get_needs_exactly_one_way_to_find_the_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "a", "--client-id", "b"]) == 2
    assert capsys.readouterr().err.startswith("error: give exactly one of NAME, --client-id, or --org")


def test_a_missing_kubeconfig_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "--kubeconfig", str(tmp_path / "none")]) == 1
    assert capsys.readouterr().err == f"error: no kubeconfig found at {tmp_path / 'none'}; pass --kubeconfig or " \
                                      "set KUBECONFIG\n"


def test_an_unreachable_apiserver_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config"
    config.write_text("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\n"
                      "users:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                      "current-context: x\n")
    assert main(["tokens", "--kubeconfig", str(config), "--request-timeout", "2s"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the Kubernetes API server at https://127.0.0.1:1")
    assert err.count("\n") == 1


def test_completion_scripts_exist_for_bash_zsh_and_fish() -> None:
    assert "_KUBECTL_ASTRA_COMPLETE=bash_complete" in completion_script("bash")
    assert "compdef" in completion_script("zsh")
    assert "complete --no-files --command kubectl-astra" in completion_script("fish")


def test_kubectl_plugin_completion_answers_in_cobras_format() -> None:
    lines = cobra_completions(["ro"])
    assert lines[-1] == ":4"
    assert [line.split("\t")[0] for line in lines[:-1]] == ["rotate", "roles"]
    assert cobra_completions(["renew", "--incr"])[0].startswith("--increment\t")


def test_version_and_help_exit_zero() -> None:
    code, out, _ = run("version")
    assert code == 0
    assert out.startswith("kubectl-astra ")
    assert main(["--help"]) == 0
