"""`kubectl astra`: the commands. Each one reads with the caller's kubeconfig (and,
for the ledger, their own Vault credentials), acts through the request
annotations admission stamps with the caller's name, waits for the operator's
answer and prints it. Errors end the command with one line and a non-zero exit."""

from __future__ import annotations

import base64
import binascii
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
import yaml

from astra_token_operator import __version__
from astra_token_operator.durations import DurationError, parse_duration
from astra_token_operator.kubectl_plugin import lookups, outcomes, views
from astra_token_operator.kubectl_plugin.errors import NotFound, PluginError, Refused, one_line
from astra_token_operator.kubectl_plugin.kube import ApiError, Kube, KubeOptions
from astra_token_operator.kubectl_plugin.ledger import NO_CREDENTIALS, LedgerReader, VaultOptions, default_vault_options
from astra_token_operator.surface import (
    ANNOTATION_RENEW,
    ANNOTATION_REVOKE,
    ANNOTATION_ROTATE,
    ANNOTATION_SYNC_ROLES,
    ORG_PLURAL,
    ROLE_PLURAL,
    TOKEN_PLURAL,
)

T = TypeVar("T")
PROG = "kubectl astra"
COMPLETE_VAR = "_KUBECTL_ASTRA_COMPLETE"
OUTPUTS = ("table", "wide", "json", "yaml")
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
POLL_SECONDS = 0.5
UNSEEN_REFUSAL_SECONDS = 10.0  # a handled renewal whose lease has not moved by then was refused
Obj = dict[str, Any]


# ---------------------------------------------------------------- options


def _kube_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--kubeconfig", metavar="PATH", help="Path to the kubeconfig file (default: $KUBECONFIG or "
                     "~/.kube/config)."),
        click.option("--context", metavar="NAME", help="The kubeconfig context to use."),
        click.option("-n", "--namespace", metavar="NS", help="The namespace (default: the context's)."),
        click.option("--as", "as_user", metavar="USER", help="Act as this user (impersonation, as kubectl --as)."),
        click.option("--as-group", metavar="GROUP", help="Act as this group (one; with --as)."),
        click.option("--request-timeout", metavar="DURATION", help="How long to wait for each API call (default 30s)."),
    ]):
        f = option(f)
    return f


def _output_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--no-headers", is_flag=True, default=None, help="Print tables without their header line.")(f)
    return click.option("-o", "--output", type=click.Choice(OUTPUTS), metavar="FORMAT",
                        help="table (default), wide, json or yaml.")(f)


def _all_namespaces(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-A", "--all-namespaces", is_flag=True, default=None,
                        help="Across every namespace you may list.")(f)


def _selector(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-l", "--selector", metavar="SELECTOR",
                        help="A label selector, e.g. astra-tokens.io/org=prod,astra-tokens.io/role=app-rw.")(f)


def _wait_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--timeout", default="2m", show_default=True, metavar="DURATION",
                     help="How long to wait for the operator's answer.")(f)
    return click.option("--wait/--no-wait", default=True, show_default=True,
                        help="Wait until the operator has acted, and print what it did.")(f)


def _vault_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--vault-addr", metavar="URL", help="Vault/OpenBao address (default: $VAULT_ADDR or $BAO_ADDR)."),
        click.option("--vault-role", metavar="ROLE", help="Log in with this Kubernetes auth role instead of "
                     "$VAULT_TOKEN."),
        click.option("--vault-auth-mount", metavar="PATH", help="The Kubernetes auth mount (default kubernetes)."),
        click.option("--vault-jwt-file", metavar="PATH", help="The service-account token to log in with (default: "
                     "this pod's)."),
        click.option("--vault-service-account", metavar="NS/NAME", help="Log in as this ServiceAccount: a "
                     "short-lived token is requested for it with your own Kubernetes permissions."),
        click.option("--vault-mount", metavar="PATH", envvar="KUBECTL_ASTRA_VAULT_MOUNT",
                     help="The ledger's KV v2 mount (default: from the token's status.vaultPath, else secret)."),
        click.option("--vault-prefix", metavar="PATH", envvar="KUBECTL_ASTRA_VAULT_PREFIX",
                     help="The ledger's prefix (default: from status.vaultPath, else astra-tokens)."),
    ]):
        f = option(f)
    return f


# ---------------------------------------------------------------- one invocation


@dataclass
class Invocation:
    """The options of one command line (the group's and the command's, merged) and
    the clients built from them, once."""

    params: dict[str, Any]
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    _kube: Kube | None = None

    @classmethod
    def current(cls) -> Invocation:
        ctx: click.Context | None = click.get_current_context()
        chain = []
        while ctx is not None:
            chain.append(ctx)
            ctx = ctx.parent
        merged: dict[str, Any] = {}
        for context in reversed(chain):  # the command's own options win over the group's
            for key, value in context.params.items():
                if value is not None and value != ():
                    merged[key] = (merged.get(key) or value) if isinstance(value, bool) else value
        return cls(merged)

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    @property
    def output(self) -> str:
        return str(self.get("output") or "table")

    @property
    def structured(self) -> bool:
        return self.output in ("json", "yaml")

    @property
    def wide(self) -> bool:
        return self.output == "wide"

    @property
    def all_namespaces(self) -> bool:
        return bool(self.get("all_namespaces"))

    def kube(self) -> Kube:
        if self._kube is None:
            self._kube = Kube(KubeOptions(
                kubeconfig=self.get("kubeconfig"), context=self.get("context"), namespace=self.get("namespace"),
                as_user=self.get("as_user"), as_group=self.get("as_group"),
                request_timeout=_seconds(self.get("request_timeout") or "30s", "--request-timeout")))
        return self._kube

    def vault_options(self, location: tuple[str, str] | None = None) -> VaultOptions:
        mount, prefix = location or ("secret", "astra-tokens")
        return default_vault_options(
            addr=self.get("vault_addr"), role=self.get("vault_role"), auth_mount=self.get("vault_auth_mount"),
            jwt_file=self.get("vault_jwt_file"), service_account=self.get("vault_service_account"),
            kv_mount=self.get("vault_mount") or mount, prefix=self.get("vault_prefix") or prefix)

    def ledger(self, location: tuple[str, str] | None = None) -> LedgerReader:
        options = self.vault_options(location)
        if not options.configured:
            raise PluginError(f"the ledger is {NO_CREDENTIALS}")
        return LedgerReader(options, service_account_jwt=lambda ns, name: self.kube().service_account_token(ns, name))


def _seconds(text: str, flag: str) -> float:
    try:
        seconds = parse_duration(text).total_seconds()
    except DurationError as exc:
        raise click.BadParameter(str(exc), param_hint=flag) from None
    if seconds <= 0:
        raise click.BadParameter("must be longer than 0s", param_hint=flag)
    return seconds


def emit(inv: Invocation, data: Any, text: str | Callable[[], str]) -> None:
    """json/yaml: ``data``; otherwise the human text."""
    if inv.output == "json":
        click.echo(json.dumps(data, indent=2))
    elif inv.output == "yaml":
        click.echo(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip())
    else:
        rendered = text() if callable(text) else text
        if rendered:
            click.echo(rendered)


def nothing_found(inv: Invocation, what: str, namespace: str | None) -> None:
    where = "" if namespace is None else f" in namespace {namespace}"
    click.echo(f"No {what} found{where}.", err=True)


def wait_until(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``check`` until it answers or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer is not None:
            return answer
        if time.monotonic() >= deadline:
            raise PluginError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(POLL_SECONDS)


# ---------------------------------------------------------------- finding tokens


def find_tokens(inv: Invocation, selector: str) -> list[Obj]:
    """Tokens matching ``selector``: in -n's namespace if given, else in every namespace the
    caller may list (falling back to the context's namespace when they may not list all)."""
    kube = inv.kube()
    if inv.get("namespace") and not inv.all_namespaces:
        return kube.list_objects(TOKEN_PLURAL, namespace=kube.namespace, selector=selector)
    try:
        return kube.list_objects(TOKEN_PLURAL, namespace=None, selector=selector)
    except Refused:
        if inv.all_namespaces:
            raise
        return kube.list_objects(TOKEN_PLURAL, namespace=kube.namespace, selector=selector)


def only_one(found: Sequence[Obj], what: str) -> Obj:
    live = [t for t in found if not views.meta(t).get("deletionTimestamp")] or list(found)
    if not live:
        raise NotFound(f"no AstraToken has {what} (in the namespaces you may list)")
    if len(live) > 1:
        raise PluginError(f"{len(live)} AstraTokens have {what}: {', '.join(views.qualified(t) for t in live)}; "
                          "name one with -n NAMESPACE NAME")
    return live[0]


def token_by_target(inv: Invocation, target: str) -> Obj:
    """NAME (in the namespace) or LEASE-ID (astra-tokens/<orgId>/<clientId>, anywhere)."""
    lease = lookups.parse_lease_id(target)
    if lease is not None:
        return only_one(find_tokens(inv, lease.selector), f"lease {target}")
    kube = inv.kube()
    return kube.get_object(TOKEN_PLURAL, target, kube.namespace)


def complete_tokens(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of AstraToken names in the namespace; silent when the cluster cannot tell."""
    try:
        params: dict[str, Any] = {}
        for context in reversed(list(_contexts(ctx))):
            params.update({k: v for k, v in context.params.items() if v is not None})
        kube = Invocation(params).kube()
        names = [str(t["metadata"]["name"]) for t in kube.list_objects(TOKEN_PLURAL, namespace=kube.namespace)]
    except Exception:
        return []
    return [n for n in names if n.startswith(incomplete)]


def complete_orgs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    try:
        kube = Invocation({k: v for c in reversed(list(_contexts(ctx))) for k, v in c.params.items()
                           if v is not None}).kube()
        names = [str(o["metadata"]["name"]) for o in kube.list_objects(ORG_PLURAL)]
    except Exception:
        return []
    return [n for n in names if n.startswith(incomplete)]


def _contexts(ctx: click.Context | None) -> Iterator[click.Context]:
    while ctx is not None:
        yield ctx
        ctx = ctx.parent


# ---------------------------------------------------------------- the group


class Group(click.Group):
    """Commands listed in the order they were added (the order of the docs)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=Group, context_settings=CONTEXT, invoke_without_command=False)
@_kube_options
@_output_options
@click.version_option(__version__, "--version", prog_name="kubectl-astra", message="%(prog)s %(version)s")
def cli(**_: Any) -> None:
    """Astra DB application tokens, their leases, orgs, roles and ledger, from kubectl.

    Every lookup and lease command of the Vault plugin: tokens, get (by name, by client id,
    or by org/role/logical name), leases, lease, renew, revoke, rotate, history, orgs, roles,
    roles import, status. Options such as -n, --context and -o go before or after the command.
    """


# ---------------------------------------------------------------- tokens, get


@cli.command("tokens")
@_kube_options
@_output_options
@_all_namespaces
@_selector
def tokens_command(**_: Any) -> None:
    """List AstraTokens: org, role, logical name, client id, state, lease, renewals, next action."""
    inv = Invocation.current()
    kube = inv.kube()
    namespace = None if inv.all_namespaces else kube.namespace
    items = kube.list_objects(TOKEN_PLURAL, namespace=namespace, selector=inv.get("selector"))
    if not items and not inv.structured:
        nothing_found(inv, "AstraTokens", namespace)
        return
    emit(inv, views.as_list(items),
         lambda: views.token_table(items, inv.now, wide=inv.wide, namespaces=inv.all_namespaces)
         .render(no_headers=bool(inv.get("no_headers"))))


@cli.command("get")
@click.argument("name", required=False, shell_complete=complete_tokens)
@click.option("--client-id", metavar="ID", help="Find the token by its Astra client id (anywhere you may list).")
@click.option("--org", metavar="ORG", help="With --role and --logical-name: the AstraOrg's name, org id or "
              "logical name.")
@click.option("--role", metavar="ROLE", help="The role name (with --org and --logical-name).")
@click.option("--logical-name", metavar="NAME", help="The logical name (with --org and --role).")
@click.option("--show-token", is_flag=True, help="Print only the token, read from its Secret with your own "
              "Kubernetes permissions.")
@_kube_options
@_output_options
@_all_namespaces
@_vault_options
def get_command(name: str | None, client_id: str | None, org: str | None, role: str | None,
                logical_name: str | None, show_token: bool, **_: Any) -> None:
    """Show one AstraToken and what the ledger knows of it (never its secret).

    By NAME, by --client-id (the plugin's read by client_id), or by --org, --role and
    --logical-name (its read by org_id, role_name and logical_name).
    """
    inv = Invocation.current()
    ways = [bool(name), bool(client_id), bool(org or role or logical_name)]
    if sum(ways) != 1:
        raise click.UsageError("give exactly one of NAME, --client-id, or --org with --role and --logical-name")
    if name:
        token = inv.kube().get_object(TOKEN_PLURAL, name, inv.kube().namespace)
    elif client_id:
        token = only_one(find_tokens(inv, lookups.client_id_selector(client_id)), f"client id {client_id}")
    else:
        if not (org and role and logical_name):
            raise click.UsageError("--org, --role and --logical-name go together")
        token = only_one(find_tokens(inv, lookups.triple_selector(*_org_label(inv, org), role, logical_name)),
                         f"org {org}, role {role.lower()} and logical name {logical_name.lower()}")
    if show_token:
        click.echo(read_token(inv, token))
        return
    if inv.structured:
        emit(inv, views.without_managed_fields(token), "")
        return
    record, versions, note = _ledger_view(inv, token)
    click.echo(views.render_pairs(views.describe_token(token, inv.now, record, note, versions)))


def _org_label(inv: Invocation, org: str) -> tuple[str, str]:
    try:
        orgs = inv.kube().list_objects(ORG_PLURAL)
    except Refused:
        orgs = []  # a tenant may not list orgs: the name or org id still works
    return lookups.org_label(org, orgs)


def read_token(inv: Invocation, token: Obj) -> str:
    """The token from the AstraToken's Secret, read with the caller's own RBAC."""
    namespace = views.meta(token)["namespace"]
    name = str(views.status(token).get("secretName") or (views.spec(token).get("secret") or {}).get("name")
               or views.meta(token)["name"])
    try:
        secret = inv.kube().read_secret(namespace, name)
    except Refused as exc:
        raise Refused(f"you may not read Secret {namespace}/{name}, so the token cannot be shown (--show-token "
                      f"reads it with your own Kubernetes permissions): {exc}") from None
    except NotFound:
        raise NotFound(f"Secret {namespace}/{name} does not exist yet (the token is not issued); "
                       f"see kubectl astra get {views.meta(token)['name']} -n {namespace}") from None
    encoded = (secret.get("data") or {}).get("token")
    if not encoded:
        raise PluginError(f"Secret {namespace}/{name} has no key token")
    try:
        return base64.b64decode(encoded).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise PluginError(f"Secret {namespace}/{name}: key token is not valid base64 text") from None


def _ledger_location(token: Obj) -> tuple[str, str] | None:
    """(mount, prefix) from status.vaultPath: <mount>/<prefix>/orgs/<orgId>/tokens/<clientId>."""
    path = str(views.status(token).get("vaultPath") or "")
    head, sep, _ = path.partition("/orgs/")
    mount, _, prefix = head.partition("/")
    return (mount, prefix) if sep and mount and prefix else None


def _ledger_view(inv: Invocation, token: Obj) -> tuple[dict[str, Any] | None, int | None, str]:
    """(the current record without its secrets, its version count, a note when it is not shown)."""
    s = views.status(token)
    if not s.get("clientId") or not s.get("orgId"):
        return None, None, "no record yet (no token issued)"
    options = inv.vault_options(_ledger_location(token))
    if not options.configured:
        return None, None, NO_CREDENTIALS
    try:
        found = inv.ledger(_ledger_location(token)).record(str(s["orgId"]), str(s["clientId"]))
    except PluginError as exc:
        return None, None, f"not read: {exc}"
    if found is None:
        return None, None, "no record found in the ledger"
    record, version = found
    return record, version, ""


# ---------------------------------------------------------------- leases


@cli.command("leases")
@_kube_options
@_output_options
@_all_namespaces
@_selector
def leases_command(**_: Any) -> None:
    """List every lease (the plugin's `vault list sys/leases/lookup/astra/org/token`)."""
    inv = Invocation.current()
    kube = inv.kube()
    namespace = None if inv.all_namespaces else kube.namespace
    items = [t for t in kube.list_objects(TOKEN_PLURAL, namespace=namespace, selector=inv.get("selector"))
             if views.status(t).get("leaseId")]
    if not items and not inv.structured:
        nothing_found(inv, "leases", namespace)
        return
    leases = [lease for t in items if (lease := views.lease_view(t, inv.now)) is not None]
    emit(inv, [lease.as_dict() for lease in leases],
         lambda: views.lease_table(items, inv.now, wide=inv.wide).render(no_headers=bool(inv.get("no_headers"))))


@cli.command("lease")
@click.argument("lease_id")
@_kube_options
@_output_options
@_vault_options
def lease_command(lease_id: str, **_: Any) -> None:
    """Show one lease (the plugin's `vault lease lookup <lease_id>`)."""
    inv = Invocation.current()
    try:
        ref = lookups.require_lease_id(lease_id)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="LEASE_ID") from None
    try:
        token = only_one(find_tokens(inv, ref.selector), f"lease {lease_id}")
    except NotFound:
        token = None
    if token is not None:
        lease = views.lease_view(token, inv.now)
        assert lease is not None
        emit(inv, lease.as_dict(), lambda: views.render_pairs(views.lease_lines(lease)))
        return
    # Not current on any AstraToken: a superseded, revoked or deleted token's lease is in the ledger only.
    if not inv.vault_options().configured:
        raise NotFound(f"no AstraToken holds lease {lease_id} now; a superseded or revoked token's lease is only "
                       "in the ledger: set VAULT_ADDR and VAULT_TOKEN to look there")
    found = inv.ledger().record(ref.org_id, ref.client_id)
    if found is None:
        raise NotFound(f"lease {lease_id} is neither on an AstraToken nor in the ledger")
    ledger_lease = views.ledger_lease(lease_id, found[0], inv.now)
    emit(inv, ledger_lease, lambda: views.render_pairs(views.ledger_lease_lines(ledger_lease)))


# ---------------------------------------------------------------- renew, revoke, rotate


def _report(inv: Invocation, token: Obj, outcome: outcomes.Outcome, action: str) -> None:
    data = {"kind": "AstraToken", "namespace": views.meta(token).get("namespace"),
            "name": views.meta(token).get("name"), "action": action, "ok": outcome.ok, "result": outcome.summary,
            **outcome.details}
    if outcome.ok or inv.structured:
        emit(inv, data, f"astratoken {views.qualified(token)}: {outcome.summary}")
    if not outcome.ok:
        raise PluginError(f"{action} of {views.qualified(token)}: {outcome.summary}")


@cli.command("renew")
@click.argument("target", metavar="NAME|LEASE-ID", shell_complete=complete_tokens)
@click.option("--increment", metavar="DURATION", help="Renew to now + DURATION, capped at the token's max expiry "
              "(default: the lease's ttl), as `vault lease renew -increment`.")
@_wait_options
@_kube_options
@_output_options
def renew_command(target: str, increment: str | None, wait: bool, timeout: str, **_: Any) -> None:
    """Renew a token's lease now (annotation astra-tokens.io/renew; you are recorded as the actor)."""
    inv = Invocation.current()
    seconds = _seconds(timeout, "--timeout")
    token = token_by_target(inv, target)
    value = increment or _default_increment(token)
    _seconds(value, "--increment")
    since = datetime.now(UTC)
    kube, namespace, name = inv.kube(), views.meta(token)["namespace"], views.meta(token)["name"]
    kube.annotate(TOKEN_PLURAL, name, {ANNOTATION_RENEW: value}, namespace)
    if not wait:
        emit(inv, {"namespace": namespace, "name": name, "action": "renew", "requested": value},
             f"astratoken {namespace}/{name}: renewal by {value} requested")
        return

    handled_at: list[float] = []

    def check() -> outcomes.Outcome | None:
        after = kube.get_object(TOKEN_PLURAL, name, namespace)
        if outcomes.pending(after, ANNOTATION_RENEW):
            return None
        handled_at[:] = handled_at or [time.monotonic()]
        try:
            events = kube.events_for(namespace, str(views.meta(token)["uid"]))
        except Refused:  # the refusal's reason is in an Event this caller may not read
            events = None
        found = outcomes.renew_outcome(token, after, events or [], since, ANNOTATION_RENEW, datetime.now(UTC))
        if found is None and events is None and time.monotonic() - handled_at[0] > UNSEEN_REFUSAL_SECONDS:
            return outcomes.Outcome(False, "the operator handled the request but the lease did not move (you may "
                                           "not list Events, where it says why)")
        return found

    _report(inv, token, wait_until(check, seconds, f"the operator to renew {namespace}/{name}"), "renew")


def _default_increment(token: Obj) -> str:
    """As `vault lease renew` without -increment: the lease's ttl."""
    ttl = views.spec(token).get("ttl") or views.status(token).get("leaseDuration")
    if ttl is None:
        raise PluginError(f"{views.qualified(token)} has no lease yet; pass --increment")
    return str(ttl)


@cli.command("revoke")
@click.argument("target", metavar="NAME|LEASE-ID", shell_complete=complete_tokens)
@click.option("--replace", is_flag=True, help="Revoke the current token at once and publish a replacement "
              "(annotation astra-tokens.io/revoke=now). Without it the AstraToken is deleted: its token is "
              "revoked for good, as `vault lease revoke` did.")
@_wait_options
@_kube_options
@_output_options
def revoke_command(target: str, replace: bool, wait: bool, timeout: str, **_: Any) -> None:
    """Revoke a token in Astra; you are recorded as the one who revoked it."""
    inv = Invocation.current()
    seconds = _seconds(timeout, "--timeout")
    token = token_by_target(inv, target)
    kube, namespace, name = inv.kube(), views.meta(token)["namespace"], views.meta(token)["name"]
    client_id = views.status(token).get("clientId")
    if replace:
        kube.annotate(TOKEN_PLURAL, name, {ANNOTATION_REVOKE: "now"}, namespace)
        if not wait:
            emit(inv, {"namespace": namespace, "name": name, "action": "revoke", "requested": "now"},
                 f"astratoken {namespace}/{name}: revocation and replacement requested")
            return
        outcome = wait_until(_replaced(kube, token, ANNOTATION_REVOKE, "revoked and replaced"), seconds,
                             f"the operator to revoke and replace the token of {namespace}/{name}")
        _report(inv, token, outcome, "revoke")
        return
    kube.delete_object(TOKEN_PLURAL, name, namespace)
    if not wait:
        emit(inv, {"namespace": namespace, "name": name, "action": "revoke", "requested": "delete"},
             f"astratoken {namespace}/{name}: deleted; the operator revokes token {client_id} before it goes")
        return

    def gone() -> outcomes.Outcome | None:
        try:
            kube.get_object(TOKEN_PLURAL, name, namespace)
        except NotFound:
            return outcomes.Outcome(True, f"token {client_id} revoked in Astra and the AstraToken deleted with its "
                                          "Secret; the ledger keeps the record, naming you as revoker",
                                    {"clientId": client_id, "deleted": True})
        return None

    try:
        outcome = wait_until(gone, seconds, f"the operator to revoke {client_id} and let {namespace}/{name} go")
    except PluginError as exc:
        try:
            events = kube.events_for(namespace, str(views.meta(token)["uid"]))
        except PluginError:
            events = []
        warnings = [e for e in events if e.get("type") == "Warning"]
        latest = f"; last warning: {warnings[-1].get('reason')}: {warnings[-1].get('message')}" if warnings else ""
        raise PluginError(f"{exc}{latest}") from None
    _report(inv, token, outcome, "revoke")


def _replaced(kube: Kube, token: Obj, annotation: str, verb: str) -> Callable[[], outcomes.Outcome | None]:
    namespace, name = views.meta(token)["namespace"], views.meta(token)["name"]
    return lambda: outcomes.replaced_outcome(token, kube.get_object(TOKEN_PLURAL, name, namespace), annotation, verb)


@cli.command("rotate")
@click.argument("names", nargs=-1, shell_complete=complete_tokens)
@_selector
@_all_namespaces
@_wait_options
@_kube_options
@_output_options
def rotate_command(names: tuple[str, ...], wait: bool, timeout: str, **_: Any) -> None:
    """Rotate tokens now: mint, publish, restart their targets, revoke the old after the grace period
    (after their targets' rollout has finished, when they have targets).

    Tokens rotated together carry one rotation id (annotation astra-tokens.io/rotate), so a
    workload several of them restart is restarted once.
    """
    inv = Invocation.current()
    seconds = _seconds(timeout, "--timeout")
    kube = inv.kube()
    tokens: dict[tuple[str, str], Obj] = {}
    for name in names:
        found = kube.get_object(TOKEN_PLURAL, name, kube.namespace)
        tokens[(kube.namespace, name)] = found
    if inv.get("selector"):
        namespace = None if inv.all_namespaces else kube.namespace
        for found in kube.list_objects(TOKEN_PLURAL, namespace=namespace, selector=inv.get("selector")):
            tokens[(views.meta(found)["namespace"], views.meta(found)["name"])] = found
    if not names and not inv.get("selector"):
        raise click.UsageError("name the AstraTokens to rotate, or select them with -l")
    if not tokens:
        raise NotFound(f"no AstraToken matches {inv.get('selector')}")
    rotation = lookups.batch_id(datetime.now(UTC), random.SystemRandom())
    requested: list[Obj] = []
    failures: list[str] = []
    for (namespace, name), token in tokens.items():
        try:
            kube.annotate(TOKEN_PLURAL, name, {ANNOTATION_ROTATE: rotation}, namespace)
        except ApiError as exc:
            if len(tokens) == 1:
                raise
            failures.append(f"{namespace}/{name}: {exc}")
            continue
        requested.append(token)
    rows: list[tuple[str, str, str]] = []
    results: list[dict[str, Any]] = []
    if wait:
        for token in requested:
            namespace, name = views.meta(token)["namespace"], views.meta(token)["name"]
            outcome = wait_until(_replaced(kube, token, ANNOTATION_ROTATE, "rotated"), seconds,
                                 f"the operator to rotate {namespace}/{name}")
            grace = views.spec(token).get("rotationGracePeriod", "5m")
            rows.append((f"astratoken {namespace}/{name}", "rotated",
                         f"{outcome.summary.removeprefix('rotated: ')}; the old one stays valid for its grace "
                         f"period ({grace})"))
            results.append({"namespace": namespace, "name": name, **outcome.details})
        for restart in outcomes.restart_targets(requested):
            # The operator batches restarts of one workload over a short window: wait for it.
            deadline = time.monotonic() + seconds
            workload = kube.get_workload(restart.namespace, restart.kind, restart.name)
            while (workload is not None and not outcomes.restarted_with(workload, rotation)
                   and time.monotonic() < deadline):
                time.sleep(POLL_SECONDS)
                workload = kube.get_workload(restart.namespace, restart.kind, restart.name)
            done = outcomes.restarted_with(workload, rotation)
            word = "restarted" if done else ("not found" if workload is None else "not restarted")
            detail = f"once, for {', '.join(restart.tokens)} (restartedAt={rotation})" if done else \
                f"named by {', '.join(restart.tokens)}"
            rows.append((restart.ref, word, detail))
            results.append({"workload": restart.ref, "restarted": done, "tokens": list(restart.tokens)})
    else:
        rows = [(f"astratoken {views.qualified(t)}", "requested", f"astra-tokens.io/rotate={rotation}")
                for t in requested]
        results = [{"namespace": views.meta(t)["namespace"], "name": views.meta(t)["name"], "requested": True}
                   for t in requested]
    emit(inv, {"rotation": rotation, "results": results, "failures": failures},
         lambda: views.Table(("WHAT", "OUTCOME", "DETAIL"), tuple(rows)).render(no_headers=bool(inv.get("no_headers"))))
    if failures:
        raise PluginError(f"{len(failures)} of {len(tokens)} rotations could not be requested: {'; '.join(failures)}")


# ---------------------------------------------------------------- history


@cli.command("history")
@click.argument("target", metavar="NAME|CLIENT-ID|LEASE-ID", shell_complete=complete_tokens)
@click.option("--tokens", "depth", default=3, show_default=True, type=click.IntRange(min=0),
              help="How many tokens of the rotation chain to show, the newest and those it replaced (0: all).")
@_kube_options
@_output_options
@_vault_options
def history_command(target: str, depth: int, **_: Any) -> None:
    """The ledger's versions of a token's record: when, what changed, and who caused it.

    Reads Vault with your own credentials ($VAULT_ADDR and $VAULT_TOKEN, or --vault-role);
    the token and client secret are never shown.
    """
    inv = Invocation.current()
    org_id, client_id, location = _history_start(inv, target)
    ledger = inv.ledger(location)
    chain: list[str] = []
    entries: list[views.HistoryEntry] = []
    current: str | None = client_id
    while current and current not in chain and (depth == 0 or len(chain) < depth):
        chain.append(current)
        versions = ledger.versions(org_id, current)
        entries[:0] = views.history_entries(current, [(v.number, v.created_time, v.data) for v in versions])
        latest = next((v.data for v in reversed(versions) if v.data is not None), None)
        current = str(latest["supersedes"]) if latest and latest.get("supersedes") else None
    emit(inv, {"orgId": org_id, "clientIds": chain, "versions": [e.as_dict() for e in entries]},
         lambda: views.history_table(entries, wide=inv.wide).render(no_headers=bool(inv.get("no_headers"))))


def _history_start(inv: Invocation, target: str) -> tuple[str, str, tuple[str, str] | None]:
    """(org id, client id, ledger location) for an AstraToken name, a client id or a lease id."""
    lease = lookups.parse_lease_id(target)
    if lease is not None:
        return lease.org_id, lease.client_id, None
    kube = inv.kube()
    if not lookups.could_be_client_id(target):
        try:
            token = kube.get_object(TOKEN_PLURAL, target, kube.namespace)
        except NotFound:
            if not target.isalnum():
                raise
        else:
            s = views.status(token)
            if not s.get("clientId"):
                raise PluginError(f"{views.qualified(token)} has no token yet, so the ledger has no record of it")
            return str(s["orgId"]), str(s["clientId"]), _ledger_location(token)
    try:
        found = find_tokens(inv, lookups.client_id_selector(target))
    except Refused:
        found = []
    if found:
        token = found[0]
        return str(views.status(token).get("orgId")), target, _ledger_location(token)
    org_id = inv.ledger().find_org(target)
    if org_id is None:
        raise NotFound(f"{target!r} is neither an AstraToken in namespace {kube.namespace} nor a client id the "
                       "ledger knows")
    return org_id, target, None


# ---------------------------------------------------------------- orgs and roles


@cli.command("orgs")
@_kube_options
@_output_options
def orgs_command(**_: Any) -> None:
    """List AstraOrgs: readiness, token and role counts, role sync."""
    inv = Invocation.current()
    items = inv.kube().list_objects(ORG_PLURAL)
    if not items and not inv.structured:
        nothing_found(inv, "AstraOrgs", None)
        return
    emit(inv, views.as_list(items),
         lambda: views.org_table(items, inv.now, wide=inv.wide).render(no_headers=bool(inv.get("no_headers"))))


@cli.group("roles", cls=Group, invoke_without_command=True)
@click.option("--org", metavar="ORG", shell_complete=complete_orgs, help="Only this AstraOrg's roles.")
@_kube_options
@_output_options
@click.pass_context
def roles_command(ctx: click.Context, /, org: str | None, **_: Any) -> None:
    """List AstraRoles (or `roles import ORG`: sync an org's roles from Astra now)."""
    if ctx.invoked_subcommand is not None:
        return
    inv = Invocation.current()
    items = [r for r in inv.kube().list_objects(ROLE_PLURAL) if org is None or views.spec(r).get("orgRef") == org]
    if not items and not inv.structured:
        nothing_found(inv, "AstraRoles" + (f" of AstraOrg {org}" if org else ""), None)
        return
    emit(inv, views.as_list(items),
         lambda: views.role_table(items, inv.now, wide=inv.wide).render(no_headers=bool(inv.get("no_headers"))))


@roles_command.command("import")
@click.argument("org", shell_complete=complete_orgs)
@_wait_options
@_kube_options
@_output_options
def roles_import_command(org: str, wait: bool, timeout: str, **_: Any) -> None:
    """Sync ORG's Astra roles into AstraRoles now (spec.roleSync), and print what changed."""
    inv = Invocation.current()
    seconds = _seconds(timeout, "--timeout")
    kube = inv.kube()
    found = kube.get_object(ORG_PLURAL, org)
    if not (views.spec(found).get("roleSync") or {}).get("enabled"):
        enable = '{"spec":{"roleSync":{"enabled":true}}}'
        raise PluginError(f"AstraOrg {org} does not sync roles (spec.roleSync.enabled is false); turn it on with "
                          f"kubectl patch astraorg {org} --type=merge -p '{enable}'")
    selector = f"{lookups.LABEL_SYNCED_FROM}={org}"
    before = kube.list_objects(ROLE_PLURAL, selector=selector)
    request = lookups.batch_id(datetime.now(UTC), random.SystemRandom())
    kube.annotate(ORG_PLURAL, org, {ANNOTATION_SYNC_ROLES: request})
    if not wait:
        emit(inv, {"org": org, "requested": request}, f"astraorg {org}: role sync requested")
        return

    def handled_org() -> Obj | None:
        after = kube.get_object(ORG_PLURAL, org)
        return None if outcomes.pending(after, ANNOTATION_SYNC_ROLES) else after

    handled = wait_until(handled_org, seconds, f"the operator to sync the roles of AstraOrg {org}")
    changes = outcomes.role_changes(before, kube.list_objects(ROLE_PLURAL, selector=selector))
    synced = views.condition(handled, "RolesSynced")
    data = {"org": org, **changes.as_dict(), "rolesSynced": None if synced is None else {
        "status": synced.status, "reason": synced.reason, "message": synced.message}}

    def text() -> str:
        lines = [f"astraorg {org}: " + ("roles synced" if synced is None or synced.ready else
                                          f"role sync failed ({synced.reason})")]
        lines += [f"created  {name}" for name in changes.created]
        lines += [f"updated  {name}: {what}" for name, what in changes.updated]
        lines += [f"pruned   {name}" for name in changes.pruned]
        lines.append(f"{changes.unchanged} unchanged" if changes.changed else
                     f"nothing changed ({changes.unchanged} synced roles up to date)")
        if synced is not None:
            lines.append(f"RolesSynced: {synced.short()}: {synced.message}")
        return "\n".join(lines)

    emit(inv, data, text)
    if synced is not None and not synced.ready:
        raise PluginError(f"role sync of AstraOrg {org} failed: {synced.reason}: {synced.message}")


# ---------------------------------------------------------------- status


@cli.command("status")
@click.option("--operator-namespace", default="astra-token-operator", show_default=True,
              envvar="KUBECTL_ASTRA_OPERATOR_NAMESPACE", help="Where the operator is installed.")
@_kube_options
@_output_options
@_vault_options
def status_command(operator_namespace: str, **_: Any) -> None:
    """The operator's health: replicas and the active one, webhooks, Vault, orgs, tokens, what is not Ready."""
    from astra_token_operator.kubectl_plugin.health import gather_status, render_status

    inv = Invocation.current()
    report = gather_status(inv.kube(), inv.vault_options(), operator_namespace, inv.now,
                           ledger=inv.ledger if inv.vault_options().configured else None)
    emit(inv, report, lambda: render_status(report, inv.now))
    if report["problems"]:
        raise PluginError(f"{len(report['problems'])} problem(s): {'; '.join(report['problems'])}")


# ---------------------------------------------------------------- completion, version


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_command(shell: str) -> None:
    """Print a shell completion script for kubectl-astra.

    \b
    bash:  source <(kubectl astra completion bash)
    zsh:   source <(kubectl astra completion zsh)
    fish:  kubectl astra completion fish | source
    `kubectl astra <TAB>` itself works through kubectl's own completion, which runs the
    kubectl_complete-astra executable installed beside kubectl-astra.
    """
    from astra_token_operator.kubectl_plugin.completion import completion_script

    click.echo(completion_script(shell))


@cli.command("version")
def version_command() -> None:
    """Print the plugin's version."""
    click.echo(f"kubectl-astra {__version__}")


# ---------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command line; every failure is one line on stderr and a non-zero exit."""
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name=PROG, complete_var=COMPLETE_VAR,
                          standalone_mode=False)
    except click.exceptions.Exit as stop:
        return int(stop.exit_code)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 1
    except click.ClickException as exc:
        hint = f" (see {exc.ctx.command_path} --help)" if isinstance(exc, click.UsageError) and exc.ctx else ""
        click.echo(f"error: {one_line(exc.format_message())}{hint}", err=True)
        return int(exc.exit_code)
    except PluginError as exc:
        click.echo(f"{exc.prefix}{exc}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:
        if os.environ.get("KUBECTL_ASTRA_DEBUG"):
            raise
        click.echo(f"error: unexpected {type(exc).__name__}: {one_line(str(exc))[:300]} "
                   "(set KUBECTL_ASTRA_DEBUG=1 for the traceback)", err=True)
        return 1
    return result if isinstance(result, int) else 0


def run() -> None:
    """For launchers that ignore a return value (python -m, zipapp): exit with main's status."""
    sys.exit(main())
