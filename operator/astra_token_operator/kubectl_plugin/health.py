"""`kubectl astra status`: the operator's health as the caller can see it. Each
part is gathered on its own and reports what it could not see instead of
failing the whole (a tenant may not list Deployments; that is not an outage)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from astra_token_operator.kubectl_plugin import views
from astra_token_operator.kubectl_plugin.errors import PluginError, Refused
from astra_token_operator.kubectl_plugin.kube import ApiError, Kube
from astra_token_operator.kubectl_plugin.ledger import LedgerReader, VaultOptions, vault_health
from astra_token_operator.surface import API_VERSION, ORG_PLURAL, ROLE_PLURAL, TOKEN_PLURAL

OPERATOR_SELECTOR = "app.kubernetes.io/name=astra-token-operator"
DEFAULT_PEERING = "astra-token-operator"
PROBE_ORG = "kubectl-astra-status-probe"
Report = dict[str, Any]


def gather_status(kube: Kube, vault: VaultOptions, operator_namespace: str, now: datetime,
                  ledger: Callable[[], LedgerReader] | None = None) -> Report:
    operator = _operator(kube, operator_namespace, now)
    webhooks = _webhooks(kube)
    orgs = _listed(lambda: kube.list_objects(ORG_PLURAL))
    roles = _listed(lambda: kube.list_objects(ROLE_PLURAL))
    tokens = _tokens(kube)
    report: Report = {
        "operator": operator,
        "webhooks": webhooks,
        "vault": _vault(vault, [*(orgs or []), *(tokens or [])]),
        "orgs": None if orgs is None else [_org(o, now) for o in orgs],
        "tokens": None if tokens is None else {
            "total": len(tokens), "byState": views.count_by(views.token_state(t) for t in tokens),
            "byReason": views.count_by(views.readiness(t).reason or "Pending" for t in tokens)},
        "notReady": [
            {"kind": kind, "name": views.qualified(obj), "reason": views.readiness(obj).reason,
             "message": views.readiness(obj).message}
            for kind, objs in (("AstraOrg", orgs), ("AstraRole", roles), ("AstraToken", tokens))
            for obj in objs or [] if not views.readiness(obj).ready],
    }
    report["problems"] = problems(report)
    return report


def problems(report: Mapping[str, Any]) -> list[str]:
    """What is wrong with the operator itself (a tenant's unready token is listed, not counted here)."""
    found = []
    for deployment in report["operator"].get("deployments") or []:
        if not deployment["readyReplicas"]:
            found.append(f"Deployment {deployment['namespace']}/{deployment['name']} has no ready replica")
    peering = report["operator"].get("peering")
    if peering and peering.get("active") is None:
        found.append(f"no active operator replica: {peering['detail']}")
    if report["webhooks"].get("reachable") is False:
        found.append(f"the admission webhooks are unreachable: {report['webhooks']['detail']}")
    if report["vault"].get("operatorReports"):
        found.append(f"the operator reports Vault unavailable for {', '.join(report['vault']['operatorReports'])}")
    for org in report.get("orgs") or []:
        if not org["ready"]:
            found.append(f"AstraOrg {org['name']} is not Ready ({org['reason']})")
    return found


def _listed(fn: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]] | None:
    try:
        return fn()
    except Refused:
        return None


def _tokens(kube: Kube) -> list[dict[str, Any]] | None:
    try:
        return kube.list_objects(TOKEN_PLURAL)
    except Refused:
        return _listed(lambda: kube.list_objects(TOKEN_PLURAL, namespace=kube.namespace))


def _operator(kube: Kube, namespace: str, now: datetime) -> Report:
    deployments: list[dict[str, Any]] | None
    try:
        deployments = kube.list_deployments(OPERATOR_SELECTOR, None)
    except Refused:
        try:
            deployments = kube.list_deployments(OPERATOR_SELECTOR, namespace)
        except Refused:
            deployments = None
    out: Report = {"deployments": None if deployments is None else [], "peering": None}
    names = []
    for deployment in deployments or []:
        m, s = views.meta(deployment), deployment.get("status") or {}
        names.append(str(m["name"]))
        selector = ",".join(f"{k}={v}" for k, v in ((deployment.get("spec") or {}).get("selector") or {})
                            .get("matchLabels", {}).items())
        try:
            pods = [_pod(p) for p in kube.list_pods(str(m["namespace"]), selector)] if selector else []
        except Refused:
            pods = []
        out["deployments"].append({
            "namespace": m["namespace"], "name": m["name"],
            "replicas": int((deployment.get("spec") or {}).get("replicas") or 0),
            "readyReplicas": int(s.get("readyReplicas") or 0), "pods": pods})
    for name in [*names, DEFAULT_PEERING]:
        try:
            peering = kube.kopf_peering(name)
        except ApiError:
            peering = None
        if peering is not None:
            peers = views.peers_from(peering)
            active, detail = views.active_peer(peers, now)
            out["peering"] = {"name": name, "active": active.identity if active else None, "detail": detail,
                              "peers": [{"id": p.identity, "priority": p.priority, "alive": p.alive(now)}
                                        for p in peers]}
            break
    return out


def _pod(pod: Mapping[str, Any]) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return {"name": views.meta(pod).get("name"), "phase": (pod.get("status") or {}).get("phase"),
            "ready": bool(statuses) and all(c.get("ready") for c in statuses),
            "restarts": sum(int(c.get("restartCount") or 0) for c in statuses)}


def _webhooks(kube: Kube) -> Report:
    out: Report = {"configurations": None, "reachable": None, "detail": ""}
    with contextlib.suppress(Refused):
        out["configurations"] = [
            {"kind": kind, "name": views.meta(c)["name"], "webhooks": [w.get("name") for w in c.get("webhooks") or []]}
            for kind, c in kube.webhook_configurations()]
    probe = {"apiVersion": API_VERSION, "kind": "AstraToken",
             "metadata": {"generateName": "kubectl-astra-probe-", "namespace": kube.namespace},
             "spec": {"orgRef": PROBE_ORG, "roleRef": PROBE_ORG}}
    try:
        kube.dry_run_create(TOKEN_PLURAL, kube.namespace, probe)
    except Refused as exc:
        out["detail"] = f"unknown: you may not create AstraTokens in {kube.namespace}, so a dry run cannot reach " \
                        f"them ({exc})"
        return out
    except ApiError as exc:
        text = str(exc)
        if "denied the request" in text:
            out["reachable"] = True
            out["detail"] = f"a dry-run AstraToken in {kube.namespace} was reviewed (and refused, as expected)"
        else:
            out["reachable"] = False
            out["detail"] = text
        return out
    except PluginError as exc:
        out["detail"] = str(exc)
        return out
    installed = bool(out["configurations"])
    out["reachable"] = False if installed else None
    out["detail"] = ("a dry-run AstraToken naming no org was accepted: the validating webhook did not review it"
                     if installed else "no admission webhooks are installed (a dry-run AstraToken was accepted)")
    return out


def _vault(options: VaultOptions, objects: Sequence[Mapping[str, Any]]) -> Report:
    out: Report = {"addr": options.addr, "fromHere": None, "operatorReports": sorted(
        f"{'AstraOrg' if not views.meta(o).get('namespace') else 'AstraToken'} {views.qualified(o)}"
        for o in objects if views.readiness(o).reason == "VaultUnavailable")}
    if options.addr:
        try:
            health = vault_health(options)
        except PluginError as exc:
            out["fromHere"] = {"reachable": False, "detail": str(exc)}
        else:
            out["fromHere"] = {"reachable": True, "initialized": health.get("initialized"),
                               "sealed": health.get("sealed"), "version": health.get("version")}
    return out


def _org(org: Mapping[str, Any], now: datetime) -> Report:
    ready = views.readiness(org)
    return {"name": views.meta(org).get("name"), "ready": ready.ready, "reason": ready.reason,
            "message": ready.message, "lastVerified": views.status(org).get("lastVerified"),
            "activeTokens": views.status(org).get("activeTokens"), "roleSync": views.role_sync_state(org)}


# ---------------------------------------------------------------- as text


def render_status(report: Mapping[str, Any], now: datetime) -> str:
    lines = ["Operator:"]
    operator = report["operator"]
    if operator["deployments"] is None:
        lines.append("  Deployments: cannot list them (forbidden)")
    elif not operator["deployments"]:
        lines.append(f"  no Deployment labelled {OPERATOR_SELECTOR} (the operator may run outside the cluster)")
    for d in operator["deployments"] or []:
        lines.append(f"  Deployment {d['namespace']}/{d['name']}: {d['readyReplicas']}/{d['replicas']} ready")
        lines += [f"    pod {p['name']}: {p['phase']}, {'ready' if p['ready'] else 'not ready'}, "
                  f"{p['restarts']} restarts" for p in d["pods"]]
    peering = operator.get("peering")
    lines.append(f"  Active replica: {peering['detail']}" if peering else
                 "  Active replica: no Kopf peering object found (standalone: a single replica acts)")
    webhooks = report["webhooks"]
    lines.append("Webhooks:")
    for c in webhooks.get("configurations") or []:
        lines.append(f"  {c['kind']} {c['name']}: {', '.join(c['webhooks']) or 'no webhooks yet'}")
    reach = {True: "reachable", False: "NOT reachable", None: "unknown"}[webhooks.get("reachable")]
    lines.append(f"  {reach}: {webhooks['detail']}")
    vault = report["vault"]
    lines.append("Vault:")
    here = vault.get("fromHere")
    if here is None:
        lines.append("  from here: not checked (no VAULT_ADDR)")
    elif here["reachable"]:
        sealed = "sealed" if here.get("sealed") else "unsealed"
        lines.append(f"  from here ({vault['addr']}): reachable, {sealed}, version {here.get('version')}")
    else:
        lines.append(f"  from here ({vault['addr']}): {here['detail']}")
    reports = vault["operatorReports"]
    lines.append(f"  the operator reports it unavailable for: {', '.join(reports)}" if reports else
                 "  the operator reports no Vault trouble")
    lines.append("Orgs:")
    if report["orgs"] is None:
        lines.append("  cannot list AstraOrgs (forbidden)")
    for org in report["orgs"] or []:
        ready = f"Ready ({org['reason']})" if org["ready"] else f"NOT Ready ({org['reason']}: {org['message']})"
        verified = views.both(views.parse_time(org["lastVerified"]), now) if org["lastVerified"] else "never"
        lines.append(f"  {org['name']}: {ready}, last verified {verified}, "
                     f"{org['activeTokens'] or 0} active tokens, role sync {org['roleSync']}")
    tokens = report["tokens"]
    lines.append("Tokens:" + (" cannot list AstraTokens (forbidden)" if tokens is None else
                              f" {tokens['total']}: {views.counts_text(tokens['byState'])}"))
    if report["notReady"]:
        lines.append("Not Ready:")
        lines += [f"  {n['kind']} {n['name']}: {n['reason']}: {n['message']}" for n in report["notReady"]]
    return "\n".join(lines)
