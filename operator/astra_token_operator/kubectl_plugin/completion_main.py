"""`python -m astra_token_operator.kubectl_plugin.completion_main ...` is `kubectl_complete-astra ...`."""

from astra_token_operator.kubectl_plugin.completion import run

run()
