"""What can go wrong, as one line a person can act on."""

from __future__ import annotations

import re


class PluginError(Exception):
    """Ends the command: its message is printed as one line, after ``prefix``."""

    prefix = "error: "

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))

    @property
    def message(self) -> str:
        return str(self)


class NotFound(PluginError):
    """The object, lease or record asked for does not exist (or cannot be seen)."""


class Refused(PluginError):
    """The apiserver or Vault said no (RBAC, admission)."""


_SPACES = re.compile(r"\s+")


def one_line(text: str) -> str:
    """Newlines and runs of spaces become one space: an error is one line."""
    return _SPACES.sub(" ", text).strip()
