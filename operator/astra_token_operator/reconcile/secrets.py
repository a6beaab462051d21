"""The Secret an AstraToken publishes, computed from its ledger record and its
spec.secret (name, type, labels, annotations, the template of its keys)."""

from __future__ import annotations

from pydantic import SecretStr

from astra_token_operator.kube import DesiredSecret, OwnerReference
from astra_token_operator.models import AstraToken, SecretShapeSpec
from astra_token_operator.policy.leases import Lease, secret_expires_at
from astra_token_operator.policy.secret_template import Preset, SecretShape, render
from astra_token_operator.records import TokenRecord
from astra_token_operator.surface import (
    ANNOTATION_EXPIRES_AT,
    ANNOTATION_LEASE_ID,
    API_VERSION,
    LABEL_CLIENT_ID,
    LABEL_LOGICAL_NAME,
    LABEL_MANAGED,
    LABEL_ORG,
    LABEL_ROLE,
    TOKEN_KIND,
)


def record_lease(record: TokenRecord) -> Lease:
    return Lease(record.issued_at, record.lease_expires_at, record.max_expires_at)


def shape_of(spec: SecretShapeSpec | None) -> SecretShape:
    if spec is None:
        return SecretShape()
    return SecretShape(preset=Preset(spec.preset), data=dict(spec.data))


def desired_secret(token: AstraToken, record: TokenRecord, *, org_name: str) -> DesiredSecret:
    """The keys spec.secret.template asks for (by default token, clientId, clientSecret, orgId,
    expiresAt), rendered from the record; the user's labels and annotations from spec.secret plus
    ours (which token and lease it publishes, whatever its keys); owned by the AstraToken, so
    deleting it garbage-collects the Secret even if the operator is gone. TemplateProblem when the
    template cannot be rendered (admission refuses such templates; a later metadata edit can still
    break one)."""
    meta = token.metadata
    assert meta.namespace is not None
    assert meta.uid is not None
    if record.token is None or record.client_secret is None:
        raise ValueError(f"the record of token {record.client_id} carries no credentials: it cannot be published")
    expires_at = secret_expires_at(record_lease(record))
    labels = {
        **token.spec.secret.labels,
        LABEL_MANAGED: "true",
        LABEL_ORG: org_name,
        LABEL_ROLE: record.role_name,
        LABEL_LOGICAL_NAME: record.logical_name,
        LABEL_CLIENT_ID: record.client_id,
    }
    annotations = {**token.spec.secret.annotations, ANNOTATION_LEASE_ID: record.lease_id,
                   ANNOTATION_EXPIRES_AT: expires_at}
    fields = {"token": record.token.get_secret_value(), "clientId": record.client_id,
              "clientSecret": record.client_secret.get_secret_value(), "orgId": record.org_id, "orgName": org_name,
              "expiresAt": expires_at, "metadata": dict(record.metadata)}
    data = render(shape_of(token.spec.secret.template), fields)
    return DesiredSecret(
        namespace=meta.namespace,
        name=token.secret_name,
        data={key: SecretStr(value) for key, value in data.items()},
        labels=labels,
        annotations=annotations,
        owner=OwnerReference(api_version=API_VERSION, kind=TOKEN_KIND, name=meta.name, uid=meta.uid),
        type=token.spec.secret.type,
    )
