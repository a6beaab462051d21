"""The registry the reconcile layer owns: what this process knows and holds
between passes. Verified orgs and roles, wake-up events, one lock and one
state per token, and the mints running right now. In memory only; a restart
rebuilds it from the cluster and the ledger."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from astra_token_operator.policy.secret_census import KnownSecret
from astra_token_operator.reconcile.holders import Holders
from astra_token_operator.reconcile.ledger_view import LedgerView
from astra_token_operator.reconcile.restart_batches import RestartBatches
from astra_token_operator.reconcile.token_state import TokenState
from astra_token_operator.reconcile.verified import Verified
from astra_token_operator.reconcile.wakeups import Wakeups
from astra_token_operator.records import RecordState


@dataclass
class Runtime:
    verified: Verified = field(default_factory=Verified)
    wakeups: Wakeups = field(default_factory=Wakeups)
    # Intents whose mint is running in this process: the sweeper and the daemons leave them alone.
    in_flight_intents: set[str] = field(default_factory=set)
    restart_batches: RestartBatches = field(default_factory=RestartBatches)
    # Who this operator is to the apiserver (set at start-up): the only one that may create, change
    # or delete the per-pod AstraTokens of sidecar mode.
    identity: str = ""
    # Pods whose AstraToken exists (or was just created): their other events need no look.
    pods_with_tokens: set[str] = field(default_factory=set)
    # The cluster every token's description names (reconcile/sweep.py: resolve_cluster_id), set at
    # start-up before anything is minted.
    cluster_id: str = ""
    # The ledger as the sweep needs it, kept current by this process's reads and writes.
    ledger_view: LedgerView = field(default_factory=LedgerView)
    # Which AstraToken holds which logical name, for the CREATE review (from the watch events).
    holders: Holders = field(default_factory=Holders)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _tokens: dict[str, TokenState] = field(default_factory=dict)

    def lock(self, uid: str) -> asyncio.Lock:
        """One lock per object: the daemon, manual requests and the finalizer never overlap."""
        return self._locks.setdefault(uid, asyncio.Lock())

    def token(self, uid: str) -> TokenState:
        return self._tokens.setdefault(uid, TokenState())

    def forget(self, uid: str) -> None:
        self._locks.pop(uid, None)
        self._tokens.pop(uid, None)
        self.wakeups.unregister(uid)

    def release(self, uid: str) -> None:
        """This replica stops running the token without its deletion (paused for a peer, or
        exiting): what it knew (the ledger, the Secret, its own last writes) may be stale by the time
        it runs the token again, as the peer may renew, rotate or restore meanwhile. Dropped."""
        self._tokens.pop(uid, None)

    def active_tokens(self, *, org_id: str | None = None, role_name: str | None = None) -> int:
        """Tokens this process holds active, for the orgs' and roles' status."""
        count = 0
        for state in self._tokens.values():
            current = state.ledger.current if state.ledger else None
            if current is not None and current.record.state is RecordState.ACTIVE:
                active: tuple[str, str] | None = (current.record.org_id, current.record.role_name)
            else:
                active = state.armed_as
            if active is not None and org_id in (None, active[0]) and role_name in (None, active[1]):
                count += 1
        return count

    def running_tokens(self) -> frozenset[str]:
        """The AstraTokens (uids) this process runs a daemon for: they exist in the cluster."""
        return frozenset(self.wakeups.registered("token"))

    def ledger_changed(self, uid: str) -> None:
        """Someone else (the sweep) wrote the token's records: its next pass reads them again, now."""
        state = self._tokens.get(uid)
        if state is not None:
            state.forget_ledger()
        self.wakeups.wake(uid)

    def wake_blocked(self, reason: str) -> int:
        """Wake the tokens whose last pass ended blocked for ``reason`` (a slot just freed wakes
        those that found it taken)."""
        uids = [uid for uid, state in self._tokens.items()
                if state.last_blocked is not None and state.last_blocked[0] == reason]
        for uid in uids:
            self.wakeups.wake(uid)
        return len(uids)

    def secret_changed(self, owner_uid: str, resource_version: str | None = None) -> None:
        """A managed Secret changed or vanished: the owner looks at it on its next pass, now.
        The event of our own last write (same resourceVersion) is no news."""
        state = self._tokens.get(owner_uid)
        if state is None or (resource_version is not None and resource_version == state.secret_resource_version):
            return
        if resource_version is not None and state.secret_events_while_writing is not None:
            state.secret_events_while_writing.add(resource_version)  # maybe our own write's: see secret_written
            return
        state.secret_dirty = True
        self.wakeups.wake(owner_uid)

    def secret_writing(self, owner_uid: str) -> None:
        """A write of the token's Secret begins: the watch's events until its answer are held back."""
        state = self._tokens.get(owner_uid)
        if state is not None:
            state.secret_events_while_writing = set()

    def secret_written(self, owner_uid: str, resource_version: str | None) -> None:
        """The write's answer (``resource_version``: what it wrote; None: it failed). An event held back
        of another version was someone else's change: the owner looks at the Secret again."""
        state = self._tokens.get(owner_uid)
        if state is None:  # released meanwhile: nothing of it is kept
            return
        held, state.secret_events_while_writing = state.secret_events_while_writing or set(), None
        if resource_version is not None:
            state.secret_resource_version = resource_version
        for version in held - {resource_version}:
            self.secret_changed(owner_uid, version)

    def known_secrets(self) -> list[KnownSecret]:
        """The Secrets this process holds a current view of (the census compares them with the
        cluster); one about to be looked at anyway is left out."""
        return [KnownSecret(uid, seen.namespace, seen.name, seen.resource_version)
                for uid, state in self._tokens.items()
                if (seen := state.secret_seen) is not None and not state.secret_dirty]

    def secret_unconfirmed(self, known: KnownSecret) -> bool:
        """The census did not find the Secret as last seen: its owner looks at it now, unless this
        process has read or written it since the census began (the list is older than that)."""
        state = self._tokens.get(known.owner_uid)
        seen = state.secret_seen if state is not None else None
        if state is None or seen is None or seen.resource_version != known.resource_version:
            return False
        self.secret_changed(known.owner_uid)
        return True

    def spec_changed(self, uid: str, generation: int | None) -> None:
        """A new spec generation: the next pass runs now and looks at the Secret (spec.secret may
        have changed). An unchanged generation is no news."""
        state = self._tokens.get(uid)
        if state is not None:
            if generation is not None and generation == state.seen_generation:
                return
            state.seen_generation = generation
            state.secret_dirty = True
        self.wakeups.wake(uid)
