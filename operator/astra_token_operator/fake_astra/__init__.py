"""A fake of the Astra DevOps API (tokens, roles, current org) for tests and
the local demo, faithful to astra-devops-api.md, with fault injection.

In asyncio code::

    async with FakeAstra({org_id: make_admin_token()}) as fake:
        ... fake.url ...

From synchronous code, ``FakeAstraThread`` (a context manager with ``.url``);
from a shell, ``python -m astra_token_operator.fake_astra --port 0 --org ORG=TOKEN``.
Test controls: Python methods on both classes, and the same over HTTP under
``/_fake/`` (faults, counters, tokens, verify, reset, orgs, clock)."""

from astra_token_operator.fake_astra.faults import FaultConfig, ScriptedResponse
from astra_token_operator.fake_astra.roles import BUILTIN_ROLE_IDS, BUILTIN_ROLES, DOCUMENTED_ROLE_IDS
from astra_token_operator.fake_astra.server import FakeAstra, FakeAstraThread
from astra_token_operator.fake_astra.state import CounterSnapshot, RequestCount, TokenView, Verification
from astra_token_operator.fake_astra.tokens import TOKEN_PATTERN, hash_secret, make_admin_token

__all__ = [
    "BUILTIN_ROLES",
    "BUILTIN_ROLE_IDS",
    "DOCUMENTED_ROLE_IDS",
    "TOKEN_PATTERN",
    "CounterSnapshot",
    "FakeAstra",
    "FakeAstraThread",
    "FaultConfig",
    "RequestCount",
    "ScriptedResponse",
    "TokenView",
    "Verification",
    "hash_secret",
    "make_admin_token",
]
