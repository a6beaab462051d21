"""The description the operator gives every token it mints in Astra: the proof of ownership the
sweep reads back. Pure: the format and its parser live together so they cannot drift apart.

    <descriptionPrefix>astra-token-operator <namespace>/<name> cluster=<id> uid=<owner uid> mint=<nonce>

* The org's ``tokenDefaults.descriptionPrefix`` comes first, as written.
* The names are for people reading the Astra Portal; they are the part cut to fit.
* ``cluster=`` names the cluster whose operator minted it (the kube-system namespace's uid, or the
  operator's ``cluster_id`` setting), ``uid=`` the owning AstraToken, ``mint=`` the attempt (the
  nonce of its mint intent). These three end the description and are never cut: the sweep revokes
  a token as an orphan only when ``cluster=`` names its own cluster, and crash recovery finds a
  token by its exact description.

Astra documents no limit on ``description``; the operator assumes 200 characters (the longest
description the CLI and the Portal are seen to show whole). With the longest prefix (64, the CRD's
limit), cluster id (40, the setting's limit) and a Kubernetes uid (36), the fixed parts take 192.

Tokens minted before cluster ids (``... <namespace>/<name> mint=<nonce>``) parse as *legacy*: the
sweep never revokes them on the strength of their description alone (it cannot tell which
cluster minted them); they are replaced by marked tokens at their next rotation."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_DESCRIPTION = 200
TAG = "astra-token-operator"
CLUSTER_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}"
_UID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_NONCE = r"[0-9a-f]{12}"
_MARKED = re.compile(
    rf"{TAG}(?: [^\n]*)? cluster=(?P<cluster>{CLUSTER_ID_PATTERN}) uid=(?P<uid>{_UID}) mint=(?P<nonce>{_NONCE})$")
_LEGACY = re.compile(rf"{TAG} [^\n]* mint=(?P<nonce>{_NONCE})$")


@dataclass(frozen=True)
class Marker:
    """What a description says about its token. ``cluster_id`` None: a legacy marker, which names
    no cluster (and no owner uid)."""

    cluster_id: str | None
    owner_uid: str | None
    nonce: str

    @property
    def legacy(self) -> bool:
        return self.cluster_id is None


def format_marker(*, prefix: str, cluster_id: str, namespace: str, name: str, owner_uid: str, nonce: str) -> str:
    """The description for one mint attempt, at most MAX_DESCRIPTION characters: the owner's names
    are cut first; the prefix's end only if the fixed parts could not fit otherwise."""
    tail = f" cluster={cluster_id} uid={owner_uid} mint={nonce}"
    head = f"{prefix}{TAG}"[: max(0, MAX_DESCRIPTION - len(tail))]
    names = f" {namespace}/{name}"[: max(0, MAX_DESCRIPTION - len(head) - len(tail))]
    return f"{head}{names}{tail}"


def parse_marker(description: str) -> Marker | None:
    """The marker a description carries, or None when it has none (a token made by a person or
    another tool, or the org's root token)."""
    found = _MARKED.search(description)
    if found is not None:
        return Marker(found["cluster"], found["uid"], found["nonce"])
    legacy = _LEGACY.search(description)
    if legacy is not None:
        return Marker(None, None, legacy["nonce"])
    return None
