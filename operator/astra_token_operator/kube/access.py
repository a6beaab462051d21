"""A SubjectAccessReview's question and answer: may this user do this verb on
this resource? Plain data; the apiserver's authorizers (RBAC) decide."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AccessRequest:
    """The user as the apiserver authenticated them (from an admission request), and what they
    would do."""

    username: str
    verb: str
    group: str
    resource: str
    namespace: str | None = None
    name: str | None = None
    uid: str = ""
    groups: Sequence[str] = ()
    extra: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def review(self) -> dict[str, object]:
        """The SubjectAccessReview (authorization.k8s.io/v1) asking it."""
        attributes: dict[str, str] = {"verb": self.verb, "group": self.group, "resource": self.resource}
        if self.namespace:
            attributes["namespace"] = self.namespace
        if self.name:
            attributes["name"] = self.name
        spec: dict[str, object] = {"user": self.username, "groups": list(self.groups),
                                   "resourceAttributes": attributes}
        if self.uid:
            spec["uid"] = self.uid
        if self.extra:
            spec["extra"] = {key: list(values) for key, values in self.extra.items()}
        return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}


@dataclass(frozen=True)
class AccessVerdict:
    allowed: bool
    reason: str = ""  # the authorizer's words, when it gave any
