"""Built-in roles and the permission each endpoint needs.

Names and six ids are the documented ones (astra-devops-api.md §3); the other
ids are stable values of the fake's own (uuid5 of the name). Action names
follow Astra's policy vocabulary; which built-in role holds which action is
the fake's simplification [I], chosen so that: Organization Administrator can
do everything, Database Administrator can manage tokens and list (not read
one) role, everyone can read the current org, and the read-only and
read/write roles cannot touch tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

ORG_ADMIN = "Organization Administrator"
DOCUMENTED_ROLE_IDS = {
    ORG_ADMIN: "ad0566b5-2a67-49de-89e8-92258c2f2c98",
    "Admin User": "43745b73-ad46-46e4-b826-c15d06d2cea0",
    "API Admin User": "67c4b5dc-dd3f-4b2d-be51-09be12836d57",
    "R/W Svc Acct": "b4ed0e9e-67e8-47b6-8b58-c6629be961a9",
    "RO Svc Acct": "16a4b1d7-a615-41f8-95ca-52b0280f4d77",
    "API Admin Svc Acct": "3fb93abd-7abe-4a3d-9f71-9ded80070a4a",
}
_FAKE_ROLE_NAMESPACE = uuid.UUID("6f1d3c1e-2b0a-4b53-9d54-5a8f0e0c7a11")

ORG_READ = "org-read"
TOKEN_READ = "org-token-read"  # noqa: S105 (an action name, not a password)
TOKEN_WRITE = "org-token-write"  # noqa: S105
ROLE_READ = "org-role-read"
ROLE_WRITE = "org-role-write"
ROLE_DELETE = "org-role-delete"

_DB_READ = (
    "db-cql", "db-table-select", "db-table-describe", "db-keyspace-describe", "db-all-keyspace-describe",
)
_DB_WRITE = (*_DB_READ, "db-table-modify", "db-table-create", "db-table-alter", "db-table-drop")
_DB_ADMIN = (*_DB_WRITE, "db-keyspace-create", "db-keyspace-alter", "db-keyspace-drop", "db-create",
             "db-terminate", "db-park", "db-unpark", "db-manage-region")
_ORG_ALL = (ORG_READ, "org-write", TOKEN_READ, TOKEN_WRITE, ROLE_READ, ROLE_WRITE, ROLE_DELETE,
            "org-user-read", "org-user-write", "org-billing-read", "org-billing-write",
            "org-audits-read", "org-external-auth-read", "org-external-auth-write")

_BUILTIN_ACTIONS: dict[str, tuple[str, ...]] = {
    ORG_ADMIN: (*_ORG_ALL, *_DB_ADMIN),
    "Database Administrator": (ORG_READ, TOKEN_READ, TOKEN_WRITE, ROLE_READ, *_DB_ADMIN),
    "Billing Admin": (ORG_READ, "org-billing-read", "org-billing-write"),
    "UI View Only": (ORG_READ, *_DB_READ),
    "Admin User": (ORG_READ, *_DB_ADMIN),
    "API Admin User": (ORG_READ, *_DB_ADMIN),
    "Admin Svc Acct": (ORG_READ, *_DB_ADMIN),
    "API Admin Svc Acct": (ORG_READ, *_DB_ADMIN),
    "RO User": (ORG_READ, *_DB_READ),
    "API RO User": (ORG_READ, *_DB_READ),
    "RO Svc Acct": (ORG_READ, *_DB_READ),
    "API RO Svc Acct": (ORG_READ, *_DB_READ),
    "R/W User": (ORG_READ, *_DB_WRITE),
    "API R/W User": (ORG_READ, *_DB_WRITE),
    "R/W Svc Acct": (ORG_READ, *_DB_WRITE),
    "API R/W Svc Acct": (ORG_READ, *_DB_WRITE),
}

# Reading one role needs more than listing them (terraform issues #101,
# #152, #251): the fake asks for role-write there.
ENDPOINT_ACTIONS: dict[str, str] = {
    "POST /v2/clientIdSecrets": TOKEN_WRITE,
    "POST /v2/tokens": TOKEN_WRITE,
    "GET /v2/clientIdSecrets": TOKEN_READ,
    "DELETE /v2/clientIdSecrets/{clientId}": TOKEN_WRITE,
    "GET /v2/organizations/roles": ROLE_READ,
    "GET /v2/organizations/roles/{roleId}": ROLE_WRITE,
    "POST /v2/organizations/roles": ROLE_WRITE,
    "PUT /v2/organizations/roles/{roleId}": ROLE_WRITE,
    "DELETE /v2/organizations/roles/{roleId}": ROLE_DELETE,
    "GET /v2/currentOrg": ORG_READ,
}


@dataclass(frozen=True)
class Role:
    id: str
    name: str
    actions: tuple[str, ...]
    builtin: bool
    description: str = ""
    resources: tuple[str, ...] | None = None  # None: the org-wide default resources
    last_update: str = ""
    last_update_user: str = ""


def builtin_role_id(name: str) -> str:
    return DOCUMENTED_ROLE_IDS.get(name) or str(uuid.uuid5(_FAKE_ROLE_NAMESPACE, name))


BUILTIN_ROLES: tuple[Role, ...] = tuple(
    Role(id=builtin_role_id(name), name=name, actions=actions, builtin=True, description=name)
    for name, actions in _BUILTIN_ACTIONS.items()
)
BUILTIN_ROLE_IDS = {role.name: role.id for role in BUILTIN_ROLES}


def default_resources(org_id: str) -> tuple[str, ...]:
    org = f"drn:astra:org:{org_id}"
    return (org, f"{org}:db:*", f"{org}:db:*:keyspace:*", f"{org}:db:*:keyspace:*:table:*")


def role_document(role: Role, org_id: str) -> dict[str, object]:
    """A role as Astra's docs and SDKs spell it: capitalised keys."""
    document: dict[str, object] = {
        "ID": role.id,
        "Name": role.name,
        "Policy": {
            "description": role.description,
            "resources": list(role.resources if role.resources is not None else default_resources(org_id)),
            "actions": list(role.actions),
            "effect": "allow",
        },
    }
    if role.builtin:
        document["Type"] = "default"
    else:
        document.update({"OrgID": org_id, "LastUpdateDateTime": role.last_update,
                         "LastUpdateUserID": role.last_update_user})
    return document
