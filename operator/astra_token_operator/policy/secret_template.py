"""The Secret's shape: which keys it holds and what each says, rendered from the
token's fields with Jinja2's sandboxed environment (no file or network access,
no Python: only the fields below, filters and plain template syntax).

The fields a template may use:

| field | holds |
| --- | --- |
| `token` | the application token (`AstraCS:...`) |
| `clientId`, `clientSecret` | the token's client id and secret |
| `orgId` | the Astra organization id |
| `orgName` | the AstraOrg's name (its `metadata.name`) |
| `expiresAt` | the lease's end, RFC 3339 |
| `metadata` | the AstraToken's `spec.metadata` map (`metadata.team`, `metadata["owner"]`) |

A preset names a common shape; `data` adds keys or replaces a preset's."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from jinja2 import StrictUndefined, Template, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_KEY = 253
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")  # what Kubernetes accepts as a Secret data key
FIELDS = ("token", "clientId", "clientSecret", "orgId", "orgName", "expiresAt", "metadata")


class Preset(StrEnum):
    DEFAULT = "default"  # token, clientId, clientSecret, orgId, expiresAt (the operator's own keys)
    ENV = "env"  # ASTRA_DB_APPLICATION_TOKEN, ASTRA_DB_CLIENT_ID, ASTRA_DB_CLIENT_SECRET (for envFrom)
    PROPERTIES = "properties"  # astra.properties, a Java properties file
    DOTENV = "dotenv"  # .env, KEY=value lines


PRESETS: Mapping[Preset, Mapping[str, str]] = {
    Preset.DEFAULT: {
        "token": "{{ token }}", "clientId": "{{ clientId }}", "clientSecret": "{{ clientSecret }}",
        "orgId": "{{ orgId }}", "expiresAt": "{{ expiresAt }}",
    },
    Preset.ENV: {
        "ASTRA_DB_APPLICATION_TOKEN": "{{ token }}", "ASTRA_DB_CLIENT_ID": "{{ clientId }}",
        "ASTRA_DB_CLIENT_SECRET": "{{ clientSecret }}",
    },
    Preset.PROPERTIES: {
        "astra.properties": "astra.token={{ token }}\nastra.clientId={{ clientId }}\n"
                            "astra.clientSecret={{ clientSecret }}\nastra.orgId={{ orgId }}\n"
                            "astra.expiresAt={{ expiresAt }}\n",
    },
    Preset.DOTENV: {
        ".env": "ASTRA_DB_APPLICATION_TOKEN={{ token }}\nASTRA_DB_CLIENT_ID={{ clientId }}\n"
                "ASTRA_DB_CLIENT_SECRET={{ clientSecret }}\nASTRA_DB_ORG_ID={{ orgId }}\n",
    },
}

# Values of the right shape, for checking a template at admission without any real secret.
SAMPLE: Mapping[str, object] = {
    "token": "AstraCS:sampleSampleSampleSample:" + "0" * 64, "clientId": "sampleSampleSampleSample",
    "clientSecret": "sample-client-secret", "orgId": "00000000-0000-0000-0000-000000000000",
    "orgName": "sample-org", "expiresAt": "2030-01-01T00:00:00Z",
}

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=256)
def compiled(source: str) -> Template:
    """A template compiled once (Jinja2 compiles to Python on every from_string, which cost about a
    tenth of the operator's CPU in a 1,000-token ramp); a template that does not compile is not kept."""
    return _ENV.from_string(source)


class TemplateProblem(ValueError):
    """A template that cannot produce a Secret: the message names the key and the reason."""


@dataclass(frozen=True)
class SecretShape:
    preset: Preset = Preset.DEFAULT
    data: Mapping[str, str] | None = None  # key -> template, over the preset's keys

    def templates(self) -> dict[str, str]:
        return {**PRESETS[self.preset], **(self.data or {})}


def render(shape: SecretShape, fields: Mapping[str, object]) -> dict[str, str]:
    """Every key of the Secret, rendered; TemplateProblem names the first key that cannot be."""
    rendered: dict[str, str] = {}
    for key, source in shape.templates().items():
        if not _KEY.match(key) or len(key) > MAX_KEY:
            raise TemplateProblem(f"secret.template key {key!r} is not a valid Secret key: use letters, digits, "
                                  f"'-', '_' and '.', at most {MAX_KEY}")
        try:
            rendered[key] = compiled(source).render(**fields)
        except UndefinedError as exc:
            raise TemplateProblem(f"secret.template key {key!r}: {exc.message}; the fields are "
                                  f"{', '.join(FIELDS)}") from None
        except TemplateError as exc:
            raise TemplateProblem(f"secret.template key {key!r} does not render: {exc}") from None
    if not rendered:
        raise TemplateProblem("secret.template produces no key at all")
    return rendered


def problems(shape: SecretShape, metadata: Mapping[str, str]) -> list[str]:
    """What admission refuses: render with sample values (and the token's own metadata)."""
    try:
        render(shape, {**SAMPLE, "metadata": dict(metadata)})
    except TemplateProblem as exc:
        return [str(exc)]
    return []
