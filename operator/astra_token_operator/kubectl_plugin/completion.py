"""Shell completion: click's own scripts for `kubectl-astra`, and the
``kubectl_complete-astra`` executable kubectl runs so that `kubectl astra <TAB>`
completes through kubectl's completion (kubectl 1.26+)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from click.shell_completion import ShellComplete, get_completion_class

SHELL_COMPLETE_NO_FILES = 4  # cobra's ShellCompDirectiveNoFileComp
SHELL_COMPLETE_DEFAULT = 0


def completion_script(shell: str) -> str:
    from astra_token_operator.kubectl_plugin.cli import COMPLETE_VAR, cli

    completer = get_completion_class(shell)
    if completer is None:
        raise ValueError(f"no completion for shell {shell!r}")
    return completer(cli, {}, "kubectl-astra", COMPLETE_VAR).source()


def cobra_completions(words: Sequence[str]) -> list[str]:
    """kubectl passes the words after `kubectl astra`, the last one being completed; it
    reads one candidate a line (a tab, then its description) and a final ':<directive>'."""
    from astra_token_operator.kubectl_plugin.cli import COMPLETE_VAR, cli

    args, incomplete = list(words[:-1]), (words[-1] if words else "")
    items = ShellComplete(cli, {}, "kubectl-astra", COMPLETE_VAR).get_completions(args, incomplete)
    lines = [f"{item.value}\t{item.help}" if item.help else str(item.value) for item in items]
    files = any(item.type in ("file", "dir") for item in items)
    return [*lines, f":{SHELL_COMPLETE_DEFAULT if files else SHELL_COMPLETE_NO_FILES}"]


def kubectl_complete(argv: Sequence[str] | None = None) -> int:
    """The ``kubectl_complete-astra`` executable."""
    try:
        lines = cobra_completions(list(sys.argv[1:] if argv is None else argv))
    except Exception:
        lines = [f":{SHELL_COMPLETE_NO_FILES}"]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def run() -> None:
    sys.exit(kubectl_complete())
