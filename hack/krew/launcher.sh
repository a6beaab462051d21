#!/bin/sh
# Launcher in the krew archive, copied as kubectl-astra and as kubectl_complete-astra: the plugin
# and its dependencies are in lib/ beside it (pip install --target). krew links to this file, so
# the link is resolved to find lib/.
here=$(dirname "$(readlink -f "$0")")
case "$(basename "$0")" in
  kubectl_complete-astra) module=astra_token_operator.kubectl_plugin.completion_main ;;
  *) module=astra_token_operator.kubectl_plugin ;;
esac
PYTHONPATH="$here/lib${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m "$module" "$@"
