"""Run the fake: ``FakeAstra`` inside an asyncio program (await start/stop),
``FakeAstraThread`` from synchronous code (its own loop in a background
thread). Both expose the same Python controls as the /_fake admin routes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from aiohttp import web

from astra_token_operator.fake_astra.app import make_app
from astra_token_operator.fake_astra.faults import FaultConfig
from astra_token_operator.fake_astra.state import CounterSnapshot, FakeState, TokenView, Verification
from astra_token_operator.fake_astra.tokens import make_admin_token


class _Controls:
    """The Python side of the admin API; thread-safe (FakeState locks)."""

    state: FakeState
    _admin_tokens: dict[str, str]

    def add_org(self, org_id: str, admin_token: str | None = None, name: str | None = None) -> str:
        """Register an org; returns its admin (Organization Administrator) token."""
        token = admin_token or make_admin_token()
        self.state.add_org(org_id, token, name)
        self._admin_tokens[org_id] = token
        return token

    def admin_token(self, org_id: str) -> str:
        return self._admin_tokens[org_id]

    @property
    def faults(self) -> FaultConfig:
        return self.state.faults

    def set_faults(self, faults: FaultConfig | None = None, **changes: Any) -> FaultConfig:
        """Replace the faults with ``faults`` (default: none), then apply
        ``changes``: ``set_faults(rate_500=0.2)``."""
        base = (faults or FaultConfig()).model_dump()
        updated = FaultConfig.model_validate({**base, **changes})
        self.state.set_faults(updated)
        return updated

    def counters(self) -> CounterSnapshot:
        return self.state.counters()

    def tokens(self, org_id: str) -> list[TokenView]:
        return self.state.tokens(org_id)

    def verify(self, token: str) -> Verification:
        return self.state.verify(token)

    def issue_token(self, org_id: str, role_names: list[str], description: str = "") -> str:
        """A token with the given built-in roles, made without an API call."""
        return self.state.issue_token(org_id, role_names, description)

    def advance_clock(self, seconds: float) -> None:
        self.state.advance_clock(seconds)

    def now(self) -> datetime:
        return self.state.now()

    def reset(self) -> None:
        self.state.reset()


class FakeAstra(_Controls):
    """The fake DevOps API in the current event loop.

    ``orgs`` maps org id to its admin token (``make_admin_token()`` makes one).
    """

    def __init__(
        self,
        orgs: Mapping[str, str] | None = None,
        *,
        faults: FaultConfig | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        host: str = "127.0.0.1",
        port: int = 0,
        access_log: bool = False,
    ) -> None:
        self.state = FakeState(faults=faults, clock=clock)
        self._admin_tokens = {}
        for org_id, token in (orgs or {}).items():
            self.add_org(org_id, token)
        self._host = host
        self._port = port
        self._access_log = access_log
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the fake is not running; await start() first")
        return self._url

    async def start(self) -> str:
        """Listen and return the base URL, e.g. ``http://127.0.0.1:41234``."""
        app = make_app(self.state)
        kwargs: dict[str, Any] = {} if self._access_log else {"access_log": None}
        # A short shutdown: a "hang" fault holds a handler for minutes.
        runner = web.AppRunner(app, shutdown_timeout=0.5, **kwargs)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        port = runner.addresses[0][1]
        self._url = f"http://{self._host}:{port}"
        return self._url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._url = None

    async def __aenter__(self) -> FakeAstra:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class FakeAstraThread(_Controls):
    """The fake in a background thread with its own event loop, for
    synchronous code: ``with FakeAstraThread({org: token}) as fake: fake.url``."""

    def __init__(
        self,
        orgs: Mapping[str, str] | None = None,
        *,
        faults: FaultConfig | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        host: str = "127.0.0.1",
        port: int = 0,
        access_log: bool = False,
    ) -> None:
        self.fake = FakeAstra(orgs, faults=faults, clock=clock, host=host, port=port, access_log=access_log)
        self.state = self.fake.state
        self._admin_tokens = self.fake._admin_tokens
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return self.fake.url

    def start(self, timeout: float = 10.0) -> str:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._serve, name="fake-astra", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the fake did not start in time")
        if self._error is not None:
            raise RuntimeError("the fake failed to start") from self._error
        return self.url

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.fake.start())
        except BaseException as exc:  # reported to start() in the caller's thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.fake.stop())
            loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
        self._thread = None
        self._loop = None
        self._ready.clear()

    def __enter__(self) -> FakeAstraThread:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
