"""The Secret an AstraToken publishes, computed from its ledger record: pure."""

from __future__ import annotations

from pydantic import SecretStr

from astra_token_operator.kube import DesiredSecret, OwnerReference
from astra_token_operator.models import AstraToken
from astra_token_operator.policy.leases import Lease, secret_expires_at
from astra_token_operator.records import TokenRecord
from astra_token_operator.surface import (
    ANNOTATION_LEASE_ID,
    API_VERSION,
    LABEL_CLIENT_ID,
    LABEL_LOGICAL_NAME,
    LABEL_MANAGED,
    LABEL_ORG,
    LABEL_ROLE,
    TOKEN_KIND,
)

SECRET_KEYS = ("token", "clientId", "clientSecret", "orgId", "expiresAt")


def record_lease(record: TokenRecord) -> Lease:
    return Lease(record.issued_at, record.lease_expires_at, record.max_expires_at)


def desired_secret(token: AstraToken, record: TokenRecord, *, org_name: str) -> DesiredSecret:
    """Keys token, clientId, clientSecret, orgId, expiresAt; the user's labels and
    annotations from spec.secret plus ours; owned by the AstraToken, so deleting
    it garbage-collects the Secret even if the operator is gone."""
    meta = token.metadata
    assert meta.namespace is not None
    assert meta.uid is not None
    if record.token is None or record.client_secret is None:
        raise ValueError(f"the record of token {record.client_id} carries no credentials: it cannot be published")
    labels = {
        **token.spec.secret.labels,
        LABEL_MANAGED: "true",
        LABEL_ORG: org_name,
        LABEL_ROLE: record.role_name,
        LABEL_LOGICAL_NAME: record.logical_name,
        LABEL_CLIENT_ID: record.client_id,
    }
    annotations = {**token.spec.secret.annotations, ANNOTATION_LEASE_ID: record.lease_id}
    return DesiredSecret(
        namespace=meta.namespace,
        name=token.secret_name,
        data={
            "token": record.token,
            "clientId": SecretStr(record.client_id),
            "clientSecret": record.client_secret,
            "orgId": SecretStr(record.org_id),
            "expiresAt": SecretStr(secret_expires_at(record_lease(record))),
        },
        labels=labels,
        annotations=annotations,
        owner=OwnerReference(api_version=API_VERSION, kind=TOKEN_KIND, name=meta.name, uid=meta.uid),
    )
