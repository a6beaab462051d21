"""Names, lease ids and label selectors: how the plugin's lookups become
Kubernetes queries. Pure functions."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from astra_token_operator.records import lease_id_for
from astra_token_operator.surface import LABEL_CLIENT_ID, LABEL_LOGICAL_NAME, LABEL_ORG, LABEL_ROLE

# Set by the operator on each AstraToken beside the four labels in models (reconcile/tokens.py).
LABEL_ORG_ID = "astra-tokens.io/org-id"
# Set by role sync on the AstraRoles it made (reconcile/rolesync.py).
LABEL_SYNCED_FROM = "astra-tokens.io/synced-from"

LEASE_PREFIX = "astra-tokens/"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class LeaseRef:
    org_id: str
    client_id: str

    @property
    def lease_id(self) -> str:
        return lease_id_for(self.org_id, self.client_id)

    @property
    def selector(self) -> str:
        return f"{LABEL_ORG_ID}={self.org_id},{LABEL_CLIENT_ID}={self.client_id}"


def parse_lease_id(text: str) -> LeaseRef | None:
    """``astra-tokens/<orgId>/<clientId>`` (the AstraToken's status.leaseId), else None."""
    if not text.startswith(LEASE_PREFIX):
        return None
    parts = text[len(LEASE_PREFIX):].split("/")
    if len(parts) != 2 or not all(_SEGMENT.match(p) for p in parts):
        return None
    return LeaseRef(parts[0], parts[1])


def require_lease_id(text: str) -> LeaseRef:
    ref = parse_lease_id(text)
    if ref is None:
        raise ValueError(f"{text!r} is not a lease id; lease ids look like astra-tokens/<orgId>/<clientId> "
                         "(kubectl astra leases lists them)")
    return ref


def is_uuid(text: str) -> bool:
    return bool(_UUID.match(text))


def org_label(org: str, orgs: Iterable[Mapping[str, Any]]) -> tuple[str, str]:
    """The label that selects an org's tokens: ``org`` may be the AstraOrg's name,
    its Astra org id (the plugin's org_id) or its spec.logicalName."""
    known = list(orgs)
    if any(o.get("metadata", {}).get("name") == org for o in known):
        return LABEL_ORG, org
    if is_uuid(org.lower()):
        return LABEL_ORG_ID, org.lower()
    for found in known:
        if (found.get("spec") or {}).get("logicalName") == org:
            return LABEL_ORG, str(found["metadata"]["name"])
    return LABEL_ORG, org  # unknown: the query then finds nothing, and says so


def triple_selector(org_key: str, org_value: str, role: str, logical_name: str) -> str:
    """The plugin's read by (org, role_name, logical_name); names lower-cased as the plugin did."""
    return f"{org_key}={org_value},{LABEL_ROLE}={role.lower()},{LABEL_LOGICAL_NAME}={logical_name.lower()}"


def client_id_selector(client_id: str) -> str:
    return f"{LABEL_CLIENT_ID}={client_id}"


def batch_id(now: datetime, rng: random.Random) -> str:
    """A rotation request's value: one per `kubectl astra rotate`, shared by the tokens it
    rotates, so their common restart targets are restarted once."""
    return f"kubectl-astra-{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{rng.getrandbits(24):06x}"


def could_be_client_id(text: str) -> bool:
    """Astra client ids are mixed-case letters and digits; AstraToken names are lower-case
    DNS labels. A text with a capital letter cannot be a name."""
    return text.isalnum() and any(c.isupper() for c in text)
