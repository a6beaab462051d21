"""The operator's API surface in one place: the names users type, read and select
on (group, kinds, labels, annotations, the finalizer) and the reasons they see
in conditions and Events. Renaming any of these after a release breaks users or
strands their objects, so each is defined here once and nowhere else."""

from __future__ import annotations

from enum import StrEnum

GROUP = "astra-tokens.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
ORG_PLURAL = "astraorgs"
ROLE_PLURAL = "astraroles"
TOKEN_PLURAL = "astratokens"  # noqa: S105 (a resource name, not a password)
TOKEN_KIND = "AstraToken"  # noqa: S105 (a kind, not a password)

# The finalizer that revokes a token before its AstraToken goes; Kopf's own bookkeeping lives
# under a prefix of its own, so annotations under astra-tokens.io/ stay visible to our handlers.
FINALIZER = "astra-tokens.io/revoke"
KOPF_PREFIX = "op.astra-tokens.io"

# Labels the operator puts on each AstraToken (and its Secret), so `kubectl get -l ...` answers the
# plugin's lookups by (org, role, logical name) and by client id.
LABEL_ORG = "astra-tokens.io/org"
LABEL_ORG_ID = "astra-tokens.io/org-id"
LABEL_ROLE = "astra-tokens.io/role"
LABEL_LOGICAL_NAME = "astra-tokens.io/logical-name"
LABEL_CLIENT_ID = "astra-tokens.io/client-id"
LABEL_MANAGED = "astra-tokens.io/managed"  # on Secrets the operator owns: the only ones it watches
# AstraRoles made by role import (AstraOrg spec.roleSync).
LABEL_SYNCED_FROM = "astra-tokens.io/synced-from"
LABEL_ASTRA_ROLE_ID = "astra-tokens.io/astra-role-id"
ANNOTATION_ASTRA_ROLE_NAME = "astra-tokens.io/astra-role-name"
# Sidecar mode: pods opt in with this label (the webhook's objectSelector) and name the AstraRole
# they want with the annotation.
LABEL_INJECT = "astra-tokens.io/inject"
ANNOTATION_ROLE = "astra-tokens.io/role"
ANNOTATION_OWNED_BY_POD = "astra-tokens.io/pod"  # on the operator's own per-pod AstraTokens

# Who created the AstraToken (JSON: username, uid, groups); stamped at admission only.
ANNOTATION_CREATED_BY = "astra-tokens.io/created-by"
# Requests a user makes by annotating an AstraToken; the operator removes them when done, and the
# webhook stamps who asked (requested-by) so the ledger can name them.
ANNOTATION_RENEW = "astra-tokens.io/renew"  # value: the increment, a duration
ANNOTATION_REVOKE = "astra-tokens.io/revoke"  # value: "now"
ANNOTATION_ROTATE = "astra-tokens.io/rotate"  # value: a rotation id ("now", or one shared by a batch)
ANNOTATION_REQUESTED_BY = "astra-tokens.io/requested-by"
# Stamped by admission on each new request: the same request value set again is a new request.
ANNOTATION_REQUEST_ID = "astra-tokens.io/request-id"
REQUEST_ANNOTATIONS = (ANNOTATION_RENEW, ANNOTATION_REVOKE, ANNOTATION_ROTATE)
# A request on an AstraOrg: sync its roles from Astra now (spec.roleSync); removed when done.
ANNOTATION_SYNC_ROLES = "astra-tokens.io/sync-roles"
# Delete without revoking (value "true"). Setting it is a permission of its own: the verb
# ABANDON_VERB on astratokens, checked at admission with a SubjectAccessReview; the webhook stamps
# who set it (a principal as JSON) in ANNOTATION_ABANDONED_BY, which the ledger records.
ANNOTATION_ABANDON = "astra-tokens.io/abandon"
ANNOTATION_ABANDONED_BY = "astra-tokens.io/abandoned-by"
ABANDON_VERB = "abandon"
# On an AstraOrg or AstraRole: deleting it deletes the AstraTokens that use it first (each revoked
# in Astra by its finalizer). Without it, deleting one that AstraTokens use is refused.
ANNOTATION_CASCADE = "astra-tokens.io/cascade"  # value: "true"
# On a rollout target's pod template, to restart its pods after a rotation.
ANNOTATION_RESTARTED_AT = "astra-tokens.io/restartedAt"
# On a managed Secret: the lease it publishes and when that lease ends (whatever keys a template chose).
ANNOTATION_LEASE_ID = "astra-tokens.io/lease-id"
ANNOTATION_EXPIRES_AT = "astra-tokens.io/expires-at"

CONDITION_READY = "Ready"
CONDITION_ROLES_SYNCED = "RolesSynced"
CONDITION_ROLLED_OUT = "RolledOut"  # an AstraToken's: the workloads restarted for its token rolled out


class OrgReason(StrEnum):
    """Reasons of an AstraOrg's Ready condition."""

    ROOT_TOKEN_MISSING = "RootTokenMissing"  # noqa: S105 (a reason, not a password)
    UNAUTHORIZED = "Unauthorized"
    FORBIDDEN = "Forbidden"
    UNREACHABLE = "Unreachable"
    VAULT_UNAVAILABLE = "VaultUnavailable"
    VERIFIED = "Verified"


class RoleReason(StrEnum):
    """Reasons of an AstraRole's Ready condition."""

    ROLE_NOT_FOUND_IN_ASTRA = "RoleNotFoundInAstra"
    ORG_NOT_READY = "OrgNotReady"
    VERIFIED = "Verified"


class RoleSyncReason(StrEnum):
    """Reasons of an AstraOrg's RolesSynced condition."""

    SYNCED = "Synced"
    ORG_NOT_READY = "OrgNotReady"
    ASTRA_ERROR = "AstraError"
    KUBERNETES_ERROR = "KubernetesError"


class TokenReason(StrEnum):
    """Reasons of an AstraToken's Ready condition."""

    ISSUED = "Issued"
    RENEWED = "Renewed"
    ROTATED = "Rotated"
    ORG_NOT_READY = "OrgNotReady"
    ROLE_NOT_READY = "RoleNotReady"
    CONFLICT = "Conflict"
    ASTRA_ERROR = "AstraError"
    VAULT_UNAVAILABLE = "VaultUnavailable"
    NAMESPACE_NOT_ALLOWED = "NamespaceNotAllowed"
    CALLER_MODE_MISMATCH = "CallerModeMismatch"  # an AstraToken against a sidecar-mode org
    INVALID_SPEC = "InvalidSpec"  # a policy the lease arithmetic refuses
    KUBERNETES_ERROR = "KubernetesError"  # the apiserver refused or could not take a write
    LEDGER_CONFLICT = "LedgerConflict"  # the ledger record keeps changing under the operator
    REVOKE_PENDING = "RevokePending"  # a deletion waits to revoke in Astra
    ROLLOUT_STUCK = "RolloutStuck"  # (RolledOut) a restarted workload did not finish rolling out in time
    ROLLED_OUT = "RolledOut"  # (RolledOut) it did, later


class EventReason(StrEnum):
    """Reasons of the Events posted about AstraTokens (besides the Ready reasons above)."""

    RENEWED_ON_REQUEST = "RenewedOnRequest"
    RENEW_REFUSED = "RenewRefused"
    REVOKED = "Revoked"
    REVOKE_FAILED = "RevokeFailed"
    SUPERSEDED_REVOKED = "SupersededRevoked"
    LEASE_EXPIRED = "LeaseExpired"
    SECRET_RESTORED = "SecretRestored"  # noqa: S105 (a reason, not a password)
    ROLLOUT_RESTARTED = "RolloutRestarted"
    ROLLOUT_RESTART_FAILED = "RolloutRestartFailed"
    ROLLOUT_STUCK = "RolloutStuck"
    ABANDONED = "Abandoned"


class DependentsReason(StrEnum):
    """Events about an AstraOrg or AstraRole being deleted while AstraTokens use it."""

    CASCADE_DELETING = "CascadeDeleting"  # its AstraTokens are being deleted (and revoked) first
    WAITING_FOR_TOKENS = "WaitingForTokens"  # it goes once the AstraTokens that use it are gone
