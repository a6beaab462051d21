"""`python -m astra_token_operator.kubectl_plugin ...` is `kubectl-astra ...`."""

from astra_token_operator.kubectl_plugin.cli import run

run()
