"""An AstraToken's status as a pure function of its ledger record and the
lease decision, and the patch that brings .status there: only what changed,
nothing at all at rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from astra_token_operator.models import AstraToken, AstraTokenStatus, find_condition
from astra_token_operator.models import status_patch as patch_from
from astra_token_operator.policy.leases import (
    Decision,
    Lease,
    NextStep,
    Renew,
    RevokeAndRotate,
    Rotate,
    WaitUntil,
    renewal_policy,
)
from astra_token_operator.policy.token_plan import (
    Blocked,
    OrgFacts,
    Presence,
    Requests,
    TokenFacts,
    blocked_status,
    ready_status,
)
from astra_token_operator.records import Principal, TokenRecord
from astra_token_operator.surface import CONDITION_READY

T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)
ORG_ID = "6f2d5b0e-1c3a-4b7e-9d2f-0a1b2c3d4e5f"
CLIENT_ID = "AbCdEfGhIjKlMnOpQrStUvWx"
TOKEN_VALUE = "AstraCS:AbCdEfGhIjKlMnOpQrStUvWx:0123456789abcdef0123456789abcdef"
CLIENT_SECRET = "unit-test-client-secret-0123456789"
VAULT_PATH = f"secret/astra-tokens/orgs/{ORG_ID}/tokens/{CLIENT_ID}"
WAIT = WaitUntil(at=T0 + timedelta(minutes=40), next=NextStep.RENEW)


def record(**changes: Any) -> TokenRecord:
    fields: dict[str, Any] = {
        "token": SecretStr(TOKEN_VALUE), "client_secret": SecretStr(CLIENT_SECRET), "client_id": CLIENT_ID,
        "org_id": ORG_ID, "role_name": "reader", "role_id": "r-1", "logical_name": "app",
        "generated_on": "2030-01-01T11:59:59.123456789Z", "ttl_seconds": 3600, "max_ttl_seconds": 86400,
        "issued_at": T0, "lease_expires_at": T0 + H, "max_expires_at": T0 + 24 * H,
        "created_by": Principal(username="alice", uid="u-1", groups=["devs"]),
        **changes,
    }
    return TokenRecord(**fields)


def astra_token(*, status: dict[str, Any] | None = None, generation: int = 1, **spec: Any) -> AstraToken:
    return AstraToken.model_validate({
        "metadata": {"name": "app", "namespace": "team-a", "uid": "uid-1", "generation": generation},
        "spec": {"orgRef": "acme", "roleRef": "reader", **spec},
        "status": status or {},
    })


def at_rest(status: AstraTokenStatus) -> dict[str, Any]:
    """The status as the apiserver stores it and hands it back."""
    return status_patch(status)


def status_patch(status: AstraTokenStatus) -> dict[str, Any]:
    """Every field the status sets, as a merge patch would send it."""
    return status.model_dump(mode="json", by_alias=True, exclude_unset=True)


def facts_of(token: AstraToken) -> TokenFacts:
    """The facts a pass gathers for ``token``, as far as its status needs them."""
    return TokenFacts(
        namespace="team-a", name=token.metadata.name, uid="uid-1", generation=token.metadata.generation,
        logical_name=token.logical_name, metadata={}, secret_name=token.secret_name, has_restart_targets=False,
        owned_by_pod=False, requests=Requests(), status=token.status.model_dump(mode="json", by_alias=True),
        labels={},
        org=OrgFacts(name="acme", presence=Presence.PUBLISHED, ready=True, org_id=ORG_ID), role=None,
        policy=renewal_policy(role_ttl=H, role_max_ttl=24 * H),
        record_path_prefix=VAULT_PATH.removesuffix(CLIENT_ID))


def status_changes(token: AstraToken, wanted: AstraTokenStatus) -> dict[str, Any] | None:
    return patch_from(token.status, wanted) or None


def changed_fields(have: AstraTokenStatus, wanted: AstraTokenStatus) -> dict[str, Any] | None:
    return patch_from(have, wanted) or None


def blocked(token: AstraToken, reason: str, message: str, now: datetime) -> AstraTokenStatus:
    return blocked_status(facts_of(token), Blocked(reason, message), now)


@pytest.fixture
def context_for() -> Any:
    return facts_of


def ready(context_for: Any, token: AstraToken, rec: TokenRecord | None = None, decision: Decision = WAIT,
          now: datetime = T0) -> AstraTokenStatus:
    waiting = decision if isinstance(decision, WaitUntil) else None
    return ready_status(context_for(token), rec or record(), waiting, now)


# --- what a Ready status says ---------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "reason"), [
    ({}, "Issued"),
    ({"supersedes": "OldOldOldOldOldOldOldOld"}, "Rotated"),
    ({"renewals": 2, "last_renewed_at": T0 + H}, "Renewed"),
    ({"renewals": 1, "supersedes": "OldOldOldOldOldOldOldOld"}, "Renewed"),  # the latest event wins
])
def test_the_ready_reason_tells_how_the_current_token_came_to_be(context_for: Any, changes: dict[str, Any],
                                                                  reason: str) -> None:
    status = ready(context_for, astra_token(), record(**changes))
    condition = find_condition(status.conditions, CONDITION_READY)
    assert condition is not None
    assert (condition.status, condition.reason) == ("True", reason)
    assert condition.observed_generation == 1
    assert condition.last_transition_time == T0


def test_a_ready_status_describes_the_lease_from_the_record(context_for: Any) -> None:
    renewed = T0 + 40 * timedelta(minutes=1)
    status = ready(context_for, astra_token(secret={"name": "app-astra"}),
                   record(renewals=3, last_renewed_at=renewed, lease_expires_at=renewed + H))
    assert status_patch(status) | {"conditions": None} == {
        "conditions": None,
        "clientId": CLIENT_ID,
        "orgId": ORG_ID,
        "roleName": "reader",
        "logicalName": "app",
        "generatedOn": "2030-01-01T11:59:59Z",
        "leaseId": f"astra-tokens/{ORG_ID}/{CLIENT_ID}",
        "leaseDuration": 3600,
        "leaseExpiresAt": "2030-01-01T13:40:00Z",
        "maxExpiresAt": "2030-01-02T12:00:00Z",
        "lastRenewedAt": "2030-01-01T12:40:00Z",
        "renewals": 3,
        "secretName": "app-astra",
        "vaultPath": VAULT_PATH,
        "createdBy": "alice",
        "nextAction": "renew",
        "nextActionAt": "2030-01-01T12:40:00Z",
        "observedGeneration": 1,
    }


def test_a_ready_status_never_holds_the_token_or_its_secret(context_for: Any) -> None:
    status = ready(context_for, astra_token())
    for text in (repr(status), str(status), status.model_dump_json(), str(status_patch(status))):
        assert TOKEN_VALUE not in text
        assert CLIENT_SECRET not in text


@pytest.mark.parametrize(("decision", "action", "at"), [
    (WaitUntil(at=T0 + 40 * timedelta(minutes=1), next=NextStep.RENEW), "renew", "2030-01-01T12:40:00Z"),
    (WaitUntil(at=T0 + 23 * H, next=NextStep.ROTATE), "rotate", "2030-01-02T11:00:00Z"),
    (Rotate(), None, None),
    (RevokeAndRotate(expired_at=T0 + H), None, None),
    (Renew(Lease(T0, T0 + 2 * H, T0 + 24 * H)), None, None),
])
def test_the_next_action_is_shown_only_while_waiting(context_for: Any, decision: Decision, action: str | None,
                                                     at: str | None) -> None:
    patch = status_patch(ready(context_for, astra_token(), decision=decision))
    assert (patch["nextAction"], patch["nextActionAt"]) == (action, at)
    message = find_condition(ready(context_for, astra_token(), decision=decision).conditions, CONDITION_READY)
    assert message is not None
    assert (f"next: {action} at" in message.message) is (action is not None)
    assert message.message.startswith(f"token {CLIENT_ID} is valid; lease until 2030-01-01T13:00:00Z")
    if at is not None:
        assert message.message.endswith(f"; next: {action} at {at}")


def test_a_record_without_a_creator_shows_no_creator(context_for: Any) -> None:
    assert ready(context_for, astra_token(), record(created_by=None)).created_by is None


@pytest.mark.parametrize("generated_on", [None, "", "yesterday"])
def test_an_unreadable_generated_on_falls_back_to_the_issue_time(context_for: Any, generated_on: str | None) -> None:
    assert ready(context_for, astra_token(), record(generated_on=generated_on)).generated_on == T0


def test_a_generated_on_without_a_zone_is_read_as_utc(context_for: Any) -> None:
    status = ready(context_for, astra_token(), record(generated_on="2030-01-01T11:59:59"))
    assert status.generated_on == datetime(2030, 1, 1, 11, 59, 59, tzinfo=UTC)


# --- Blocked ----------------------------------------------------------------------------------------

def test_a_blocked_status_says_why_and_keeps_the_last_token_identity() -> None:
    token = astra_token(status={"clientId": CLIENT_ID, "secretName": "app"}, generation=3)
    status = blocked(token, "OrgNotReady", "AstraOrg 'acme' is not Ready: unreachable", T0)
    patch = status_patch(status)
    assert patch == {
        "conditions": [{"type": "Ready", "status": "False", "reason": "OrgNotReady",
                        "message": "AstraOrg 'acme' is not Ready: unreachable",
                        "lastTransitionTime": "2030-01-01T12:00:00Z", "observedGeneration": 3}],
        "observedGeneration": 3,
    }  # a merge patch without clientId leaves it in place


def test_going_from_ready_to_blocked_moves_the_transition_time(context_for: Any) -> None:
    token = astra_token(status=at_rest(ready(context_for, astra_token())))
    later = T0 + 5 * timedelta(minutes=1)
    condition = find_condition(blocked(token, "VaultUnavailable", "down", later).conditions, CONDITION_READY)
    assert condition is not None
    assert (condition.status, condition.last_transition_time) == ("False", later)


def test_staying_blocked_keeps_the_transition_time() -> None:
    first = blocked(astra_token(), "OrgNotReady", "not yet", T0)
    token = astra_token(status=at_rest(first))
    again = blocked(token, "RoleNotReady", "role not yet", T0 + H)
    condition = find_condition(again.conditions, CONDITION_READY)
    assert condition is not None
    assert (condition.reason, condition.last_transition_time) == ("RoleNotReady", T0)


# --- patches: only what changed ----------------------------------------------------------------

def test_a_status_at_rest_produces_no_patch(context_for: Any) -> None:
    token = astra_token(status=at_rest(ready(context_for, astra_token())))
    assert status_changes(token, ready(context_for, token, now=T0 + H)) is None


def test_a_blocked_status_at_rest_produces_no_patch() -> None:
    token = astra_token(status=at_rest(blocked(astra_token(), "OrgNotReady", "not yet", T0)))
    assert status_changes(token, blocked(token, "OrgNotReady", "not yet", T0 + H)) is None


def test_a_renewal_patches_only_the_lease_fields_and_the_condition(context_for: Any) -> None:
    token = astra_token(status=at_rest(ready(context_for, astra_token())))
    renewed_at = T0 + 40 * timedelta(minutes=1)
    later = WaitUntil(at=renewed_at + 40 * timedelta(minutes=1), next=NextStep.RENEW)
    wanted = ready(context_for, token, record(renewals=1, last_renewed_at=renewed_at, lease_expires_at=renewed_at + H),
                   decision=later, now=renewed_at)
    patch = status_changes(token, wanted)
    assert patch is not None
    assert set(patch) == {"conditions", "leaseExpiresAt", "lastRenewedAt", "renewals", "nextActionAt"}
    [condition] = patch["conditions"]
    assert condition["reason"] == "Renewed"
    assert condition["lastTransitionTime"] == "2030-01-01T12:00:00Z"  # still Ready since T0


def test_a_field_that_is_no_longer_wanted_is_sent_as_null(context_for: Any) -> None:
    token = astra_token(status=at_rest(ready(context_for, astra_token())))
    patch = status_changes(token, ready(context_for, token, decision=Rotate()))
    assert patch is not None
    assert patch["nextAction"] is None
    assert patch["nextActionAt"] is None


def test_a_new_generation_is_patched(context_for: Any) -> None:
    token = astra_token(status=at_rest(ready(context_for, astra_token())), generation=2)
    patch = status_changes(token, ready(context_for, token))
    assert patch is not None
    assert patch["observedGeneration"] == 2


def test_changed_fields_sends_only_the_fields_the_wanted_status_sets() -> None:
    have = AstraTokenStatus(client_id=CLIENT_ID, renewals=1)
    assert changed_fields(have, AstraTokenStatus(renewals=2)) == {"renewals": 2}
    assert changed_fields(have, AstraTokenStatus(renewals=1)) is None
    assert changed_fields(have, AstraTokenStatus()) is None
