"""The floor: a plain asyncio program that makes exactly the calls one first
mint needs, with the operator's libraries and pools, and nothing else.

Per token: the ledger's six KV v2 requests of a crash-safe first mint (claim
the slot with check-and-set 0, write the intent, write the credentials, write
the record, move the slot with check-and-set 1, delete the intent), the Astra
create at the fake, the Secret create, and one status merge patch. Every
token is in flight at once, as the operator's daemons are; what bounds them
is what bounds the operator: 8 Vault worker threads (hvac, one client per
thread), 16 Kubernetes worker threads (the kubernetes client, one pooled
ApiClient) and 8 connections to Astra (httpx). No pydantic, no Kopf, no
logging, no retries: what is left when everything the operator adds is
taken away.

The status patch needs an object with a status subresource that no operator
watches and no webhook reviews: a bench-only CRD (FloorToken, group
floor.bench.astra-tokens.io), whose N objects are created before the clock
starts.

``mint_all`` runs in a process of its own (the benchmark starts it with
multiprocessing's spawn), as the operator does: it does not share an
interpreter lock with the fake Astra or the benchmark's watches."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import hvac
from kubernetes import client as k8s
from kubernetes.config import load_kube_config

T = TypeVar("T")
FLOOR_GROUP, FLOOR_VERSION, FLOOR_PLURAL, FLOOR_KIND = "floor.bench.astra-tokens.io", "v1", "floortokens", "FloorToken"
VAULT_WORKERS, KUBE_WORKERS, ASTRA_CONNECTIONS = 8, 16, 8  # the operator's defaults (config.py)
MERGE_PATCH = "application/merge-patch+json"

FLOOR_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{FLOOR_PLURAL}.{FLOOR_GROUP}"},
    "spec": {
        "group": FLOOR_GROUP, "scope": "Namespaced",
        "names": {"plural": FLOOR_PLURAL, "singular": "floortoken", "kind": FLOOR_KIND},
        "versions": [{"name": FLOOR_VERSION, "served": True, "storage": True, "subresources": {"status": {}},
                      "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                          "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                          "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}],
    },
}


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


class Floor:
    """Run with ``asyncio.run(floor.run(n, namespace))``; returns the seconds the N mints took."""

    def __init__(self, *, api: k8s.ApiClient, vault_addr: str, vault_token: str, astra_url: str,
                 astra_org_id: str, astra_token: str, role_id: str, prefix: str = "astra-floor") -> None:
        self.api, self.vault_addr, self.vault_token = api, vault_addr, vault_token
        self.astra_url, self.org_id, self.astra_token, self.role_id = astra_url, astra_org_id, astra_token, role_id
        self.prefix = prefix
        self._local = threading.local()
        self._objects = k8s.CustomObjectsApi(api)
        self._core = k8s.CoreV1Api(api)

    # --- the pools ------------------------------------------------------------------------------

    def _vault(self) -> hvac.Client:
        found: hvac.Client | None = getattr(self._local, "vault", None)
        if found is None:
            found = self._local.vault = hvac.Client(url=self.vault_addr, token=self.vault_token, timeout=10)
        return found

    async def _on(self, pool: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn)

    # --- one token ------------------------------------------------------------------------------

    async def _one(self, name: str, namespace: str, run: str, vault: ThreadPoolExecutor, kube: ThreadPoolExecutor,
                   astra: httpx.AsyncClient) -> None:
        mount, org = "secret", self.org_id
        now = datetime.now(UTC)
        owner = {"kind": "FloorToken", "namespace": namespace, "name": name, "uid": f"{run}-{name}"}
        slot_key = f"{self.prefix}/orgs/{org}/slots/" + hashlib.sha256(f"{org}:{run}:{name}".encode()).hexdigest()
        intent_key = f"{self.prefix}/intents/{run}-{name}"
        marker = f"astra-token-operator {namespace}/{name} mint={run}"

        def write(key: str, data: dict[str, Any], cas: int) -> int:
            answer = self._vault().secrets.kv.v2.create_or_update_secret(path=key, secret=data, cas=cas,
                                                                           mount_point=mount)
            return int(answer["data"]["version"])

        slot = {"clientId": "", "owner": owner, "claimedAt": _rfc3339(now)}
        slot_version = await self._on(vault, lambda: write(slot_key, slot, 0))
        intent = {"intentId": owner["uid"], "owner": owner, "orgId": org, "roleId": self.role_id,
                  "roleName": "r/w user", "logicalName": name, "marker": marker, "createdAt": _rfc3339(now),
                  "tokenExpiry": _rfc3339(now + timedelta(hours=24))}
        await self._on(vault, lambda: write(intent_key, intent, 0))
        response = await astra.post("/v2/clientIdSecrets", json={
            "roles": [self.role_id], "description": marker, "tokenExpiry": intent["tokenExpiry"]})
        response.raise_for_status()
        created = response.json()
        client_id = str(created["clientId"])
        credentials = {"clientId": client_id, "orgId": org, "token": created["token"],
                       "clientSecret": created["secret"]}
        await self._on(vault, lambda: write(f"{self.prefix}/credentials/{org}/{client_id}", credentials, 0))
        record = {
            "schemaVersion": 2, "clientId": client_id, "orgId": org, "roleName": "r/w user",
            "roleId": self.role_id, "logicalName": name, "metadata": {}, "generatedOn": created.get("generatedOn"),
            "leaseId": f"astra-tokens/{org}/{client_id}", "ttlSeconds": 3600, "maxTtlSeconds": 86400,
            "issuedAt": _rfc3339(now), "leaseExpiresAt": _rfc3339(now + timedelta(hours=1)),
            "maxExpiresAt": _rfc3339(now + timedelta(hours=24)), "state": "active",
            "createdBy": {"username": "admin", "uid": "", "groups": ["system:masters"]},
            "revokedAt": None, "revokedBy": None, "reason": None, "lastAction": "minted",
            "actor": {"username": "astra-token-operator", "uid": "", "groups": []}, "renewals": 0,
            "lastRenewedAt": None, "supersededBy": None, "supersedes": None, "owner": owner,
            "secretName": f"{name}-astra", "revokeAfter": None, "restartFor": None, "requestedBy": None,
            "restartedAt": None, "restarts": 0, "awaitingRollout": False, "rolloutStuck": False,
        }
        await self._on(vault, lambda: write(f"{self.prefix}/orgs/{org}/tokens/{client_id}", record, 0))
        moved = {**slot, "clientId": client_id}
        await self._on(vault, lambda: write(slot_key, moved, slot_version))
        await self._on(vault, lambda: self._vault().secrets.kv.v2.delete_metadata_and_all_versions(
            path=intent_key, mount_point=mount))
        secret = {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": f"{name}-astra", "namespace": namespace,
                         # The operator's labels under another prefix: its Secret watch must not see these.
                         "labels": {"app.kubernetes.io/managed-by": "astra-floor",
                                    f"{FLOOR_GROUP}/managed": "true", f"{FLOOR_GROUP}/client-id": client_id},
                         "annotations": {"astra-tokens.io/expires-at": record["leaseExpiresAt"]}},
            "stringData": {"token": created["token"], "clientId": client_id, "clientSecret": created["secret"],
                           "orgId": org, "expiresAt": record["leaseExpiresAt"]},
        }
        await self._on(kube, lambda: self._core.create_namespaced_secret(namespace, secret, _request_timeout=15))
        status = {"status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "Issued", "observedGeneration": 1,
                            "lastTransitionTime": _rfc3339(now),
                            "message": f"token {client_id} is valid; lease until {record['leaseExpiresAt']}"}],
            "clientId": client_id, "orgId": org, "roleName": "r/w user", "logicalName": name,
            "leaseId": record["leaseId"], "leaseDuration": 3600, "leaseExpiresAt": record["leaseExpiresAt"],
            "maxExpiresAt": record["maxExpiresAt"], "renewals": 0, "secretName": f"{name}-astra",
            "vaultPath": f"secret/{self.prefix}/orgs/{org}/tokens/{client_id}", "createdBy": "admin",
            "nextAction": "renew", "nextActionAt": record["leaseExpiresAt"], "observedGeneration": 1}}
        await self._on(kube, lambda: self._objects.patch_namespaced_custom_object_status(
            FLOOR_GROUP, FLOOR_VERSION, namespace, FLOOR_PLURAL, name, status, _content_type=MERGE_PATCH,
            _request_timeout=15))

    # --- a run ------------------------------------------------------------------------------------

    async def run(self, names: list[str], namespace: str) -> float:
        """Mint every name at once; the seconds from the first call to the last status patch."""
        run = f"{int(time.time() * 1000) % 10**9}"
        vault = ThreadPoolExecutor(VAULT_WORKERS, thread_name_prefix="floor-vault")
        kube = ThreadPoolExecutor(KUBE_WORKERS, thread_name_prefix="floor-kube")
        limits = httpx.Limits(max_connections=ASTRA_CONNECTIONS, max_keepalive_connections=ASTRA_CONNECTIONS)
        async with httpx.AsyncClient(base_url=self.astra_url, limits=limits, timeout=60, headers={
                "Authorization": f"Bearer {self.astra_token}", "Accept": "application/json"}) as astra:
            try:
                started = time.monotonic()
                await asyncio.gather(*(self._one(name, namespace, run, vault, kube, astra) for name in names))
                return time.monotonic() - started
            finally:
                vault.shutdown(wait=True)
                kube.shutdown(wait=True)


@dataclass(frozen=True)
class FloorTarget:
    """Where the floor mints: what a process of its own needs to build its clients."""

    kubeconfig: str
    vault_addr: str
    vault_token: str
    astra_url: str
    astra_org_id: str
    astra_token: str
    role_id: str


def floor_client(kubeconfig: str) -> k8s.ApiClient:
    """A kubernetes ApiClient pooling one connection per worker thread, as the operator's."""
    configuration = k8s.Configuration()
    load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.connection_pool_maxsize = KUBE_WORKERS
    return k8s.ApiClient(configuration)


def mint_all(target: FloorTarget, names: list[str], namespace: str) -> tuple[float, float]:
    """The entry point of the floor's process: mint every name; the seconds it took and the CPU
    seconds this process spent on it (all its threads: the event loop and the client pools)."""
    with floor_client(target.kubeconfig) as api:
        floor = Floor(api=api, vault_addr=target.vault_addr, vault_token=target.vault_token,
                      astra_url=target.astra_url, astra_org_id=target.astra_org_id,
                      astra_token=target.astra_token, role_id=target.role_id)
        cpu = time.process_time()
        seconds = asyncio.run(floor.run(names, namespace))
        return seconds, time.process_time() - cpu
