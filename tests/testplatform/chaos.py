"""A seeded chaos run against the real platform: AstraTokens created and
deleted while the operator is killed (SIGKILL, some SIGTERM) at random
moments and the fake Astra answers some calls with 500, 503 and 429; then the
faults stop, the operator settles, and the invariants are read.

Shared by the suite's chaos test (tests/integration/test_chaos.py) and the
longer benchmark (bench/chaos.py). Everything random comes from one seed."""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import hvac
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from astra_token_operator.fake_astra import FakeAstraThread
from testplatform.operator import OperatorProcess

GROUP, VERSION, PLURAL = "astra-tokens.io", "v1alpha1", "astratokens"
LEDGER = "astra-tokens"
# A superseded token still valid this long after its revokeAfter is a slow revocation, not a leak:
# the operator was stopped (or killed) right before it would have revoked it.
GRACE_TOLERANCE = timedelta(seconds=3)


@dataclass(frozen=True)
class ChaosPlan:
    seed: int
    tokens: int = 40
    storm_seconds: float = 100.0
    kill_every: tuple[float, float] = (3.0, 9.0)
    sigterm_share: float = 0.2  # of the stops: graceful ones
    delete_share: float = 0.25  # of the tokens: deleted during the storm
    rate_500: float = 0.05
    rate_503: float = 0.03
    rate_429: float = 0.02
    settle_seconds: float = 60.0


@dataclass
class ChaosResult:
    seed: int
    created: int = 0
    deleted: int = 0
    sigkills: int = 0
    sigterms: int = 0
    refused_creates: int = 0  # admission refused while the operator was down: retried
    settle_seconds: float | None = None  # from faults off to every invariant holding
    invariant_checks: int = 0
    problems: list[str] = field(default_factory=list)  # the final check's, with the operator stopped
    mints: int = 0
    revokes: int = 0

    def summary(self) -> str:
        settled = f"{self.settle_seconds:.1f}s" if self.settle_seconds is not None else "never"
        return (f"chaos seed={self.seed}: {self.created} tokens created, {self.deleted} deleted, "
                f"{self.sigkills} SIGKILL + {self.sigterms} SIGTERM, {self.refused_creates} creates refused "
                f"while down, settled in {settled} after the faults stopped ({self.invariant_checks} invariant "
                f"checks), Astra creates {self.mints}, revokes {self.revokes}; "
                f"final problems: {len(self.problems)}")


@dataclass
class ChaosTarget:
    """Where the run happens: the org and role exist and are Ready, the namespace is empty."""

    api: k8s.ApiClient
    fake: FakeAstraThread
    vault: hvac.Client
    operator: OperatorProcess
    org_name: str
    org_id: str
    role: str
    namespace: str
    log: Callable[[str], None] = print


def token_body(name: str, target: ChaosTarget) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AstraToken",
            "metadata": {"name": name, "namespace": target.namespace},
            "spec": {"orgRef": target.org_name, "roleRef": target.role, "rotationGracePeriod": "5s"}}


def run_chaos(plan: ChaosPlan, target: ChaosTarget) -> ChaosResult:
    rng = random.Random(plan.seed)
    result = ChaosResult(seed=plan.seed)
    objects = k8s.CustomObjectsApi(target.api)
    names = [f"chaos-{i:03d}" for i in range(plan.tokens)]
    # Creations over the first 60% of the storm, deletions of a share of them over all of it.
    create_at = sorted(rng.uniform(0, plan.storm_seconds * 0.6) for _ in names)
    doomed = set(rng.sample(names, round(plan.tokens * plan.delete_share)))
    pending = list(zip(create_at, names, strict=True))
    delete_at: dict[str, float] = {}
    created: set[str] = set()
    deleted: set[str] = set()
    mints_before = target.fake.counters().count(org=target.org_id, endpoint="POST /v2/clientIdSecrets")
    revokes_before = target.fake.counters().count(org=target.org_id,
                                                  endpoint="DELETE /v2/clientIdSecrets/{clientId}")

    target.fake.set_faults(rate_500=plan.rate_500, rate_503=plan.rate_503, rate_429=plan.rate_429,
                           seed=plan.seed)
    started = time.monotonic()
    next_stop = started + rng.uniform(*plan.kill_every)
    try:
        while (now := time.monotonic()) - started < plan.storm_seconds or pending:
            elapsed = now - started
            if not target.operator.alive():
                target.operator.start(wait=False)
            while pending and pending[0][0] <= elapsed:
                _, name = pending[0]
                if not _create(objects, target, name):
                    result.refused_creates += 1
                    pending[0] = (elapsed + 1.0, name)  # the webhook is down: try again in a second
                    pending.sort()
                    break
                pending.pop(0)
                created.add(name)
                if name in doomed:  # some at once (a deletion racing the mint), most later
                    delete_at[name] = elapsed + (0 if rng.random() < 0.3 else rng.uniform(2, 30))
            for name, when in sorted(delete_at.items(), key=lambda item: item[1]):
                if when <= elapsed and name not in deleted:
                    _delete(objects, target, name)
                    deleted.add(name)
            if now >= next_stop and elapsed < plan.storm_seconds:
                if rng.random() < plan.sigterm_share:
                    target.operator.stop()
                    result.sigterms += 1
                else:
                    target.operator.kill()
                    result.sigkills += 1
                target.operator.start(wait=False)
                next_stop = time.monotonic() + rng.uniform(*plan.kill_every)
            time.sleep(0.05)
        for name in doomed - deleted:  # a deletion scheduled after the storm still happens
            if name in created:
                _delete(objects, target, name)
                deleted.add(name)
    finally:
        target.fake.set_faults()
    result.created, result.deleted = len(created), len(deleted)
    faults_off = time.monotonic()
    target.log(f"chaos seed={plan.seed}: storm over ({result.sigkills} SIGKILL, {result.sigterms} SIGTERM); "
               "faults off, settling")

    if not target.operator.alive():
        target.operator.start(wait=False)
    while True:
        result.invariant_checks += 1
        problems = check_invariants(target, created - deleted, deleted)
        if not problems:
            result.settle_seconds = time.monotonic() - faults_off
            break
        if time.monotonic() - faults_off > plan.settle_seconds:
            target.log(f"chaos seed={plan.seed}: not settled after {plan.settle_seconds:.0f}s: {problems[:5]}")
            break
        time.sleep(2)

    # Stopped, so nothing moves while the invariants are read for the last time.
    stopped_at = datetime.now(UTC)
    target.operator.stop()
    result.invariant_checks += 1
    result.problems = check_invariants(target, created - deleted, deleted, as_of=stopped_at)
    counters = target.fake.counters()
    result.mints = counters.count(org=target.org_id, endpoint="POST /v2/clientIdSecrets") - mints_before
    result.revokes = counters.count(org=target.org_id,
                                    endpoint="DELETE /v2/clientIdSecrets/{clientId}") - revokes_before
    target.log(result.summary())
    return result


def _create(objects: k8s.CustomObjectsApi, target: ChaosTarget, name: str) -> bool:
    try:
        objects.create_namespaced_custom_object(GROUP, VERSION, target.namespace, PLURAL, token_body(name, target))
    except ApiException as exc:
        if exc.status == 409:  # created by an earlier attempt whose answer was lost
            return True
        if exc.status is not None and exc.status >= 500:  # "failed calling webhook": the operator is down
            return False
        raise
    return True


def _delete(objects: k8s.CustomObjectsApi, target: ChaosTarget, name: str) -> None:
    try:
        objects.delete_namespaced_custom_object(GROUP, VERSION, target.namespace, PLURAL, name)
    except ApiException as exc:
        if exc.status != 404:
            raise


# --- the invariants --------------------------------------------------------------------------------

def check_invariants(target: ChaosTarget, live_names: set[str], deleted_names: set[str],
                     as_of: datetime | None = None) -> list[str]:
    """What is wrong now; empty when every invariant holds:
    - every live AstraToken is Ready and its Secret's token authenticates at the fake;
    - every token valid at the fake has an active (or superseded, inside its grace) ledger record
      whose owner is a live AstraToken;
    - no AstraToken owns two active tokens;
    - no deleted AstraToken is left (finalizer done) and none of its tokens is valid.
    ``as_of``: the instant the grace periods are judged at (when the operator was stopped)."""
    problems: list[str] = []
    objects = k8s.CustomObjectsApi(target.api)
    core = k8s.CoreV1Api(target.api)
    listed = objects.list_namespaced_custom_object(GROUP, VERSION, target.namespace, PLURAL)["items"]
    by_name = {item["metadata"]["name"]: item for item in listed}
    live_uids = {by_name[n]["metadata"]["uid"]: n for n in live_names if n in by_name}

    for name in sorted(live_names):
        token = by_name.get(name)
        if token is None:
            problems.append(f"{name}: the live AstraToken is gone")
            continue
        ready = next((c for c in token.get("status", {}).get("conditions", []) if c["type"] == "Ready"), {})
        if ready.get("status") != "True":
            problems.append(f"{name}: not Ready ({ready.get('reason')}: {ready.get('message')})")
            continue
        secret = _secret(core, target.namespace, token.get("status", {}).get("secretName") or name)
        if secret is None:
            problems.append(f"{name}: no Secret")
            continue
        if not target.fake.verify(secret.get("token", "")).valid:
            problems.append(f"{name}: its Secret's token does not authenticate (clientId {secret.get('clientId')})")
        published, reported = secret.get("clientId"), token["status"].get("clientId")
        if published != reported:
            problems.append(f"{name}: the Secret holds {published}, the status names {reported}")

    for name in sorted(deleted_names):
        if name in by_name:
            problems.append(f"{name}: deleted, but still there (finalizer pending)")

    # Astra, the ledger, Astra again: a token valid in both lists was created before the records were
    # read (so it is recorded, or its mint is in flight: its intent, read after them, names its marker)
    # and was still valid after them (so a record that says revoked was written before the revoke).
    listed = target.fake.tokens(target.org_id)
    records = _ledger_records(target)
    in_flight = _intent_markers(target)
    still_valid = {view.client_id for view in target.fake.tokens(target.org_id) if view.state == "valid"}
    now = as_of or datetime.now(UTC)
    active_by_owner: dict[str, list[str]] = {}
    for client_id, record in records.items():
        if record.get("state") == "active":
            active_by_owner.setdefault(record.get("owner", {}).get("uid", ""), []).append(client_id)
    for uid, client_ids in active_by_owner.items():
        if len(client_ids) > 1:
            problems.append(f"{live_uids.get(uid, uid)}: owns {len(client_ids)} active tokens {sorted(client_ids)}")

    deleted_markers = tuple(f"astra-token-operator {target.namespace}/{n} " for n in deleted_names)
    for view in listed:
        if view.state != "valid" or view.is_admin or view.client_id not in still_valid:
            continue
        record = records.get(view.client_id)
        owner = (record or {}).get("owner", {}).get("uid", "")
        if view.description.startswith(deleted_markers) or any(m in view.description for m in deleted_markers):
            problems.append(f"{view.client_id}: valid, but its AstraToken was deleted ({view.description!r})")
        elif record is None and view.description not in in_flight:
            problems.append(f"{view.client_id}: valid at Astra, unknown to the ledger ({view.description!r})")
        elif owner not in live_uids:
            problems.append(f"{view.client_id}: valid, its ledger owner {owner} is not a live AstraToken")
        elif record.get("state") == "superseded":
            revoke_after = record.get("revokeAfter")
            if revoke_after and datetime.fromisoformat(revoke_after) + GRACE_TOLERANCE < now:
                problems.append(f"{view.client_id}: superseded and past its grace ({revoke_after}), still valid")
        elif record.get("state") != "active":
            problems.append(f"{view.client_id}: valid, but the ledger says {record.get('state')}")
    return problems


def _secret(core: k8s.CoreV1Api, namespace: str, name: str) -> dict[str, str] | None:
    try:
        secret = core.read_namespaced_secret(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def _intent_markers(target: ChaosTarget) -> set[str]:
    """The markers (Astra descriptions) of the mints in flight: their intents in the ledger."""
    path = f"{LEDGER}/intents"
    try:
        keys = target.vault.secrets.kv.v2.list_secrets(path=path)["data"]["keys"]
    except hvac.exceptions.InvalidPath:
        return set()
    markers = set()
    for key in keys:
        try:
            read = target.vault.secrets.kv.v2.read_secret_version(path=f"{path}/{key}", raise_on_deleted_version=True)
        except hvac.exceptions.InvalidPath:
            continue  # resolved and deleted since the list
        markers.add(str(read["data"]["data"].get("marker", "")))
    return markers


def _ledger_records(target: ChaosTarget) -> dict[str, dict[str, Any]]:
    path = f"{LEDGER}/orgs/{target.org_id}/tokens"
    try:
        keys = target.vault.secrets.kv.v2.list_secrets(path=path)["data"]["keys"]
    except hvac.exceptions.InvalidPath:
        return {}
    records = {}
    for key in keys:
        read = target.vault.secrets.kv.v2.read_secret_version(path=f"{path}/{key}", raise_on_deleted_version=True)
        records[key] = read["data"]["data"]
    return records
