"""The CRD schemas against a real kube-apiserver: what a kubectl user may write,
what is refused and with which words, what gets defaulted, and what
`kubectl get` / `kubectl explain` show. No operator and no webhook run here:
every rejection below comes from the schema (OpenAPI + CEL) alone."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"
API_VERSION = "astra-tokens.io/v1alpha1"
ORG_ID = "6f2d5b0e-1c3a-4b7e-9d2f-0a1b2c3d4e5f"
ROLE_ID = "4f2b8d44-6c3e-4f6a-9f0e-1b2c3d4e5f60"

Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]
Manifest = dict[str, Any]


@dataclass
class Resources:
    """Applies manifests as a kubectl user would and removes what it created."""

    kubectl: Kubectl
    namespace: str
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    created: list[tuple[str, str, str | None]] = field(default_factory=list)

    def name(self, base: str) -> str:
        return f"{base}-{self.suffix}"

    def apply(self, manifest: Manifest) -> subprocess.CompletedProcess[str]:
        meta = manifest["metadata"]
        if manifest["kind"] == "AstraToken":
            meta.setdefault("namespace", self.namespace)
        result = self.kubectl("apply", "-f", "-", input=json.dumps(manifest))
        if result.returncode == 0:
            self.created.append((manifest["kind"].lower(), meta["name"], meta.get("namespace")))
        return result

    def get(self, kind: str, name: str) -> Manifest:
        args = ["get", kind, name, "-o", "json"]
        if kind == "astratoken":
            args += ["-n", self.namespace]
        result = self.kubectl(*args)
        assert result.returncode == 0, result.stderr
        loaded: Manifest = json.loads(result.stdout)
        return loaded

    def cleanup(self) -> None:
        for kind, name, namespace in reversed(self.created):
            args = ["delete", kind, name, "--ignore-not-found", "--wait=false"]
            self.kubectl(*args, *(["-n", namespace] if namespace else []))


@pytest.fixture(scope="module", autouse=True)
def schema_alone(request: pytest.FixtureRequest, kubectl: Kubectl) -> Iterator[None]:
    """These tests exercise the schema alone, with manifests naming orgs that do not
    exist: the operator and its admission webhooks (which would refuse them) pause meanwhile."""
    operator = request.getfixturevalue("operator")
    operator.stop()
    kubectl("delete", "validatingwebhookconfiguration,mutatingwebhookconfiguration",
            "astra-token-operator.astra-tokens.io", "--ignore-not-found")
    yield
    operator.start()


@pytest.fixture
def resources(crds: object, kubectl: Kubectl, namespace: str) -> Iterator[Resources]:
    helper = Resources(kubectl=kubectl, namespace=namespace)
    yield helper
    helper.cleanup()


# ---------------------------------------------------------------- manifests


def org(name: str, **spec: Any) -> Manifest:
    body: dict[str, Any] = {
        "orgId": ORG_ID,
        "rootTokenRef": {"secret": {"namespace": "astra-token-operator", "name": "astra-root"}},
        "allowedNamespaces": ["team-*"],
    }
    body.update(spec)
    return {
        "apiVersion": API_VERSION,
        "kind": "AstraOrg",
        "metadata": {"name": name},
        "spec": {k: v for k, v in body.items() if v is not None},
    }


def role(name: str, **spec: Any) -> Manifest:
    body: dict[str, Any] = {"orgRef": "prod", "roleId": ROLE_ID}
    body.update(spec)
    return {
        "apiVersion": API_VERSION,
        "kind": "AstraRole",
        "metadata": {"name": name},
        "spec": {k: v for k, v in body.items() if v is not None},
    }


def token(name: str, **spec: Any) -> Manifest:
    body: dict[str, Any] = {"orgRef": "prod", "roleRef": "app-rw"}
    body.update(spec)
    return {
        "apiVersion": API_VERSION,
        "kind": "AstraToken",
        "metadata": {"name": name},
        "spec": {k: v for k, v in body.items() if v is not None},
    }


def _targets(count: int) -> list[dict[str, str]]:
    return [{"kind": "Deployment", "name": f"app-{i}"} for i in range(count)]


# ---------------------------------------------------------------- accepted


ACCEPTED: dict[str, Callable[[str], Manifest]] = {
    "org with a Secret root token": lambda n: org(n),
    "org with a Vault root token": lambda n: org(n, rootTokenRef={"vault": {"path": "secret/astra/root"}}),
    "org on http://127.0.0.1": lambda n: org(n, url="http://127.0.0.1:8443"),
    "org on http://localhost": lambda n: org(n, url="http://localhost:8443/"),
    "org on http://[::1]": lambda n: org(n, url="http://[::1]:8443"),
    "org on another https host": lambda n: org(n, url="https://api.test.cloud.datastax.com"),
    "sidecar org allowing every namespace": lambda n: org(n, callerMode="sidecar", allowedNamespaces=["*"]),
    "org with every optional field": lambda n: org(
        n,
        logicalName="prod.eu_1",
        namespaceSelector={
            "matchLabels": {"tier": "apps"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod"]},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        },
        roleSync={"enabled": True, "interval": 600, "ttl": "1h", "maxTtl": "720h", "prune": True},
        tokenDefaults={"nativeExpiry": False, "descriptionPrefix": "k8s-prod"},
        rateLimit={"requestsPerSecond": 0.5, "burst": 1, "concurrency": 1},
    ),
    "role by id with the default lease limits": lambda n: role(n),
    "role by Astra name": lambda n: role(n, roleId=None, astraRoleName="R/W User"),
    "role ttl in integer seconds": lambda n: role(n, ttl=3600, maxTtl=86400),
    "role ttl as a string of seconds": lambda n: role(n, ttl="3600", maxTtl="7200"),
    "role ttl in mixed units equal to maxTtl": lambda n: role(n, ttl="1h30m", maxTtl=5400),
    "role ttl in fractional hours and milliseconds": lambda n: role(n, ttl="1.5h", maxTtl="5400000ms"),
    "role maxTtl of ten years": lambda n: role(n, maxTtl="87600h"),
    "role with a role name and narrowed namespaces": lambda n: role(
        n, roleName="app_rw.v2", allowedNamespaces=["team-a", "team-b*"]
    ),
    "token with only the required fields": lambda n: token(n),
    "token with every optional field": lambda n: token(
        n,
        logicalName="orders-api",
        metadata={"owner": "team-orders", "ticket": "OPS-1"},
        ttl="15m",
        secret={"name": "orders-astra", "labels": {"app": "orders"}, "annotations": {"a": "b"}},
        renewBefore="5m",
        rotationGracePeriod="1h",
        rolloutRestartTargets=[
            {"kind": "Deployment", "name": "orders"},
            {"kind": "StatefulSet", "name": "orders"},
            {"kind": "DaemonSet", "name": "agent"},
        ],
    ),
    "token renewing 1% before the end": lambda n: token(n, renewBefore="1%"),
    "token renewing 99% before the end": lambda n: token(n, renewBefore="99%"),
    "token renewBefore in integer seconds below ttl": lambda n: token(n, ttl=3600, renewBefore=600),
    "token revoking the old token at once on rotation": lambda n: token(n, rotationGracePeriod=0),
    "token with 20 restart targets": lambda n: token(n, rolloutRestartTargets=_targets(20)),
    "token with a long name and a short logical name": lambda n: token(n + "-" + "x" * 60, logicalName="s"),
}


@pytest.mark.parametrize("case", ACCEPTED)
def test_valid_manifest_is_accepted(resources: Resources, case: str) -> None:
    result = resources.apply(ACCEPTED[case](resources.name("ok")))
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- refused on create

DURATION_HELP = 'there is no "d": write 48h for two days'

REFUSED: dict[str, tuple[Callable[[str], Manifest], str]] = {
    "org without orgId": (lambda n: org(n, orgId=None), "spec.orgId: Required value"),
    "org id that is not a UUID": (
        lambda n: org(n, orgId="my-org"),
        "orgId must be the Astra organization's UUID",
    ),
    "org id in upper case": (lambda n: org(n, orgId=ORG_ID.upper()), "UUID in lower case"),
    "org on plain http to a remote host": (
        lambda n: org(n, url="http://api.astra.datastax.com"),
        "url must use https",
    ),
    "org url that is not a URL": (
        lambda n: org(n, url="api.astra.datastax.com"),
        "url must be an absolute http(s) URL",
    ),
    "org url with another scheme": (lambda n: org(n, url="ftp://127.0.0.1"), "absolute http(s) URL"),
    "org with both root token sources": (
        lambda n: org(
            n,
            rootTokenRef={
                "secret": {"namespace": "ops", "name": "root"},
                "vault": {"path": "secret/astra/root"},
            },
        ),
        "rootTokenRef needs exactly one source",
    ),
    "org with no root token source": (
        lambda n: org(n, rootTokenRef={}),
        "rootTokenRef needs exactly one source",
    ),
    "org root token Secret without a name": (
        lambda n: org(n, rootTokenRef={"secret": {"namespace": "ops"}}),
        "spec.rootTokenRef.secret.name: Required",
    ),
    "org root token Vault path with ..": (
        lambda n: org(n, rootTokenRef={"vault": {"path": "secret/../sys/x"}}),
        "rootTokenRef.vault.path must look",
    ),
    "org without allowedNamespaces": (
        lambda n: org(n, allowedNamespaces=None),
        "spec.allowedNamespaces: Required value",
    ),
    "org with empty allowedNamespaces": (lambda n: org(n, allowedNamespaces=[]), "at least 1 items"),
    "org allowing a malformed namespace": (
        lambda n: org(n, allowedNamespaces=["Team_A"]),
        "allowedNamespaces entries are namespace names or globs",
    ),
    "org with an unknown caller mode": (lambda n: org(n, callerMode="shared"), 'Unsupported value: "shared"'),
    "org selector In without values": (
        lambda n: org(n, namespaceSelector={"matchExpressions": [{"key": "env", "operator": "In"}]}),
        "In and NotIn need a non-empty values list",
    ),
    "org role sync ttl above maxTtl": (
        lambda n: org(n, roleSync={"ttl": "48h"}),
        "roleSync.ttl (48h) is longer than roleSync.maxTtl (24h)",
    ),
    "org role sync every 30s": (lambda n: org(n, roleSync={"interval": "30s"}), "must be at least 1m"),
    "org role sync interval in days": (lambda n: org(n, roleSync={"interval": "1d"}), DURATION_HELP),
    "org rate of zero requests per second": (
        lambda n: org(n, rateLimit={"requestsPerSecond": 0}),
        "should be greater than 0",
    ),
    "org burst of zero": (lambda n: org(n, rateLimit={"burst": 0}), "should be greater than or equal to 1"),
    "org description prefix over 64 characters": (
        lambda n: org(n, tokenDefaults={"descriptionPrefix": "p" * 65}),
        "may not be more than 64",
    ),
    "org logical name in upper case": (
        lambda n: org(n, logicalName="Prod"),
        "logicalName must be lower-case",
    ),
    "org name too long for a label": (lambda n: org(n + "-" + "x" * 60), "AstraOrg names are at most 63"),
    "role without orgRef": (lambda n: role(n, orgRef=None), "spec.orgRef: Required value"),
    "role ttl above the default maxTtl": (
        lambda n: role(n, ttl="48h"),
        "ttl (48h) is longer than maxTtl (24h)",
    ),
    "role ttl in seconds above maxTtl": (
        lambda n: role(n, ttl=7200, maxTtl="1h"),
        "ttl (7200) is longer than maxTtl (1h)",
    ),
    "role ttl in days": (lambda n: role(n, ttl="1d"), DURATION_HELP),
    "role ttl in words": (lambda n: role(n, ttl="1 hour"), DURATION_HELP),
    "role ttl of zero": (lambda n: role(n, ttl="0s"), "must be at least 1s"),
    "role ttl negative": (lambda n: role(n, ttl=-5), "must be at least 1s"),
    "role ttl under a second": (lambda n: role(n, ttl="500ms"), "must be at least 1s"),
    "role maxTtl over ten years": (lambda n: role(n, maxTtl="87601h"), "at most 87600h"),
    "role maxTtl in seconds over ten years": (lambda n: role(n, maxTtl=315360001), "at most 87600h"),
    "role maxTtl too large for a Go duration": (
        lambda n: role(n, maxTtl="99999999999999h"),
        "at most 87600h",
    ),
    "role maxTtl as too many digits": (lambda n: role(n, maxTtl="9999999999999999"), "at most 87600h"),
    "role maxTtl as a long string": (
        lambda n: role(n, maxTtl="1h1h1h1h1h1h1h1h1h"),
        "may not be more than 16",
    ),
    "role maxTtl in days": (lambda n: role(n, maxTtl="30d"), DURATION_HELP),
    "role with both roleId and astraRoleName": (
        lambda n: role(n, astraRoleName="R/W User"),
        "set exactly one of roleId",
    ),
    "role with neither roleId nor astraRoleName": (
        lambda n: role(n, roleId=None),
        "set exactly one of roleId",
    ),
    "role id that is not a UUID": (lambda n: role(n, roleId="rw"), "roleId must be an Astra role's UUID"),
    "role name in upper case": (lambda n: role(n, roleName="App-RW"), "roleName must be lower-case"),
    "role name too long to default from metadata": (
        lambda n: role(n + "-" + "x" * 60),
        "cannot serve as the role name",
    ),
    "token without roleRef": (lambda n: token(n, roleRef=None), "spec.roleRef: Required value"),
    "token orgRef that is not a name": (lambda n: token(n, orgRef="Prod Org"), "orgRef must be the name of"),
    "token ttl in days": (lambda n: token(n, ttl="1d"), DURATION_HELP),
    "token ttl of zero seconds": (lambda n: token(n, ttl=0), "must be at least 1s"),
    "token grace period over ten years": (lambda n: token(n, rotationGracePeriod="87601h"), "at most 87600h"),
    "token renewBefore of 0%": (lambda n: token(n, renewBefore="0%"), "from 1% to 99%"),
    "token renewBefore of 100%": (lambda n: token(n, renewBefore="100%"), "from 1% to 99%"),
    "token renewBefore as a fraction": (lambda n: token(n, renewBefore="0.33"), "from 1% to 99%"),
    "token renewBefore longer than ttl": (
        lambda n: token(n, ttl="15m", renewBefore="20m"),
        "renewBefore (20m) must be shorter than ttl (15m)",
    ),
    "token grace period negative": (lambda n: token(n, rotationGracePeriod=-1), "must be zero or longer"),
    "token restart target of an unknown kind": (
        lambda n: token(n, rolloutRestartTargets=[{"kind": "CronJob", "name": "nightly"}]),
        'Unsupported value: "CronJob"',
    ),
    "token restart target listed twice": (
        lambda n: token(n, rolloutRestartTargets=_targets(1) * 2),
        "lists the same workload twice",
    ),
    "token with 21 restart targets": (
        lambda n: token(n, rolloutRestartTargets=_targets(21)),
        "must have at most 20 items",
    ),
    "token logical name in upper case": (
        lambda n: token(n, logicalName="Orders"),
        "logicalName must be lower-case",
    ),
    "token logical name over 63 characters": (
        lambda n: token(n, logicalName="l" * 64),
        "may not be more than 63",
    ),
    "token name too long to default the logical name": (
        lambda n: token(n + "-" + "x" * 60),
        "cannot serve as the logical name",
    ),
    "token Secret label under the operator's prefix": (
        lambda n: token(n, secret={"labels": {"astra-tokens.io/org": "other"}}),
        "secret.labels may not use keys under astra-tokens.io/",
    ),
    "token Secret label value with a space": (
        lambda n: token(n, secret={"labels": {"app": "orders api"}}),
        "secret.labels values must be label values",
    ),
    "token Secret annotation under the operator's prefix": (
        lambda n: token(n, secret={"annotations": {"astra-tokens.io/created-by": "mallory"}}),
        "secret.annotations may not use keys under astra-tokens.io/",
    ),
    "token Secret name with upper case": (
        lambda n: token(n, secret={"name": "Orders_Secret"}),
        "secret.name must be a Secret name",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_invalid_manifest_is_refused_with_a_message_that_says_why(resources: Resources, case: str) -> None:
    build, expected = REFUSED[case]
    result = resources.apply(build(resources.name("bad")))
    assert result.returncode != 0, f"{case} was accepted"
    assert expected in result.stderr


# ---------------------------------------------------------------- refused on update


@dataclass(frozen=True)
class Update:
    before: Callable[[str], Manifest]
    after: Callable[[str], Manifest]
    refusal: str | None  # None: the edit is allowed


UPDATES: dict[str, Update] = {
    "org id changed": Update(
        lambda n: org(n), lambda n: org(n, orgId=ORG_ID.replace("6f2d", "7f2d")), "orgId is immutable"
    ),
    "org url and namespaces edited": Update(
        lambda n: org(n),
        lambda n: org(n, url="https://api.test.cloud.datastax.com", allowedNamespaces=["*"]),
        None,
    ),
    "role moved to another org": Update(lambda n: role(n), lambda n: role(n, orgRef="staging"), "orgRef is immutable"),
    "role ttl edited": Update(lambda n: role(n), lambda n: role(n, ttl="1h", maxTtl="12h"), None),
    "token moved to another org": Update(
        lambda n: token(n), lambda n: token(n, orgRef="staging"), "orgRef is immutable"
    ),
    "token moved to another role": Update(
        lambda n: token(n), lambda n: token(n, roleRef="readers"), "roleRef is immutable"
    ),
    "token logical name changed": Update(
        lambda n: token(n, logicalName="a"), lambda n: token(n, logicalName="b"), "logicalName is immutable"
    ),
    "token logical name added": Update(
        lambda n: token(n), lambda n: token(n, logicalName="orders"), "logicalName is immutable"
    ),
    "token logical name removed": Update(
        lambda n: token(n, logicalName="orders"), lambda n: token(n), "logicalName is immutable"
    ),
    "token metadata, ttl, Secret and restarts edited": Update(
        lambda n: token(n, logicalName="orders", metadata={"owner": "a"}),
        lambda n: token(
            n,
            logicalName="orders",
            metadata={"owner": "b", "ticket": "OPS-2"},
            ttl=1800,
            secret={"labels": {"app": "orders"}},
            rolloutRestartTargets=_targets(2),
        ),
        None,
    ),
}


@pytest.mark.parametrize("case", UPDATES)
def test_immutable_fields_stay_fixed_and_the_rest_stays_editable(resources: Resources, case: str) -> None:
    update = UPDATES[case]
    name = resources.name("upd")
    created = resources.apply(update.before(name))
    assert created.returncode == 0, created.stderr
    result = resources.apply(update.after(name))
    if update.refusal is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0, f"{case} was accepted"
        assert update.refusal in result.stderr


# ---------------------------------------------------------------- defaults


def test_the_apiserver_fills_in_the_documented_defaults(resources: Resources) -> None:
    names = resources.name("org"), resources.name("role"), resources.name("tok")
    for manifest in (org(names[0]), role(names[1]), token(names[2])):
        assert resources.apply(manifest).returncode == 0
    org_spec = resources.get("astraorg", names[0])["spec"]
    assert org_spec["url"] == "https://api.astra.datastax.com"
    assert org_spec["callerMode"] == "standard"
    assert org_spec["rootTokenRef"]["secret"]["key"] == "token"
    assert org_spec["roleSync"] == {
        "enabled": False,
        "interval": "1h",
        "ttl": "24h",
        "maxTtl": "24h",
        "prune": False,
    }
    assert org_spec["tokenDefaults"] == {"nativeExpiry": True}
    role_spec = resources.get("astrarole", names[1])["spec"]
    assert (role_spec["ttl"], role_spec["maxTtl"]) == ("24h", "24h")
    token_spec = resources.get("astratoken", names[2])["spec"]
    assert (token_spec["renewBefore"], token_spec["rotationGracePeriod"]) == ("33%", "5m")
    assert "logicalName" not in token_spec  # the operator, not the schema, derives it from metadata.name


def test_status_keeps_only_the_fields_the_schema_describes(resources: Resources, kubectl: Kubectl) -> None:
    name = resources.name("tok")
    assert resources.apply(token(name)).returncode == 0
    patch = {"status": {"clientId": "zjCEYwRGWocLfQJHBNQxvorr", "token": "AstraCS:must-never-be-stored"}}
    kubectl(
        "patch",
        "astratoken",
        name,
        "-n",
        resources.namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(patch),
    )
    status = resources.get("astratoken", name).get("status", {})
    assert "token" not in status
    assert "AstraCS" not in json.dumps(status)


# ---------------------------------------------------------------- what kubectl shows


def test_get_astratokens_shows_the_design_columns_with_a_readable_expiry(
    resources: Resources, kubectl: Kubectl
) -> None:
    name = resources.name("tok")
    assert resources.apply(token(name, logicalName="orders-api")).returncode == 0
    status = {
        "clientId": "zjCEYwRGWocLfQJHBNQxvorr",
        "logicalName": "orders-api",
        "leaseExpiresAt": "2999-01-01T00:00:00Z",  # far in the future: a date column would say <invalid>
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Issued",
                "lastTransitionTime": "2025-03-01T12:00:00Z",
            }
        ],
    }
    patched = kubectl(
        "patch",
        "astratoken",
        name,
        "-n",
        resources.namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    assert patched.returncode == 0, patched.stderr
    listed = kubectl("get", "astratokens", "-A")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == [
        "NAMESPACE",
        "NAME",
        "ORG",
        "ROLE",
        "LOGICAL",
        "NAME",
        "CLIENT",
        "ID",
        "EXPIRES",
        "READY",
        "AGE",
    ]
    row = next(r for r in rows if name in r).split()
    assert row[:8] == [
        resources.namespace,
        name,
        "prod",
        "app-rw",
        "orders-api",
        "zjCEYwRGWocLfQJHBNQxvorr",
        "2999-01-01T00:00:00Z",
        "True",
    ]


def test_get_orgs_and_roles_show_their_columns(resources: Resources, kubectl: Kubectl) -> None:
    org_name, role_name = resources.name("org"), resources.name("role")
    assert resources.apply(org(org_name, logicalName="prod")).returncode == 0
    assert resources.apply(role(role_name, ttl="1h")).returncode == 0
    orgs = kubectl("get", "astraorgs", org_name)
    assert orgs.stdout.split()[:6] == ["NAME", "ORG", "ID", "LOGICAL", "NAME", "MODE"]
    assert orgs.stdout.splitlines()[1].split()[:4] == [org_name, ORG_ID, "prod", "standard"]
    roles = kubectl("get", "astraroles", role_name)
    assert roles.stdout.splitlines()[0].split()[:9] == [
        "NAME",
        "ORG",
        "ROLE",
        "ASTRA",
        "ROLE",
        "TTL",
        "MAX",
        "TTL",
        "READY",
    ]
    assert "1h" in roles.stdout.splitlines()[1].split()


def test_get_astra_lists_all_three_kinds(resources: Resources, kubectl: Kubectl) -> None:
    names = resources.name("org"), resources.name("role"), resources.name("tok")
    for manifest in (org(names[0]), role(names[1]), token(names[2])):
        assert resources.apply(manifest).returncode == 0
    listed = kubectl("get", "astra", "-A", "-o", "name")
    assert listed.returncode == 0, listed.stderr
    lines = set(listed.stdout.split())
    assert {
        f"astraorg.astra-tokens.io/{names[0]}",
        f"astrarole.astra-tokens.io/{names[1]}",
        f"astratoken.astra-tokens.io/{names[2]}",
    } <= lines


@pytest.mark.parametrize(("short", "kind"), [("aorg", "AstraOrg"), ("arole", "AstraRole"), ("atok", "AstraToken")])
def test_short_names_work(crds: object, kubectl: Kubectl, short: str, kind: str) -> None:
    result = kubectl("explain", short)
    assert result.returncode == 0, result.stderr
    assert ["KIND:", kind] in [line.split() for line in result.stdout.splitlines()]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("astratoken.spec.ttl", "Lease length for this token"),
        ("astratoken.spec.renewBefore", "percentage"),
        ("astratoken.status.leaseId", "astra-tokens/<orgId>/<clientId>"),
        ("astrarole.spec.maxTtl", "Renewals never extend past it"),
        ("astraorg.spec.rootTokenRef", "set exactly one of secret or"),
    ],
)
def test_kubectl_explain_describes_the_fields(crds: object, kubectl: Kubectl, path: str, words: str) -> None:
    result = kubectl("explain", path)
    assert result.returncode == 0, result.stderr
    assert words in " ".join(result.stdout.split())


def test_applying_the_crds_again_changes_nothing(crds: object, kubectl: Kubectl) -> None:
    result = kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
    assert result.returncode == 0, result.stderr
    for plural in ("astraorgs", "astraroles", "astratokens"):
        established = kubectl(
            "get",
            "crd",
            f"{plural}.astra-tokens.io",
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Established')].status}",
        )
        assert established.stdout == "True"
