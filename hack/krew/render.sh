#!/usr/bin/env bash
# Renders hack/krew/astra.yaml.tmpl into a krew manifest on stdout. Every ${NAME} in the template
# must be set in the environment (VERSION, HOMEPAGE, URI_<OS>_<ARCH>, SHA256_<OS>_<ARCH>);
# a missing one is an error, never an empty field.
#   VERSION=0.1.0 HOMEPAGE=https://... URI_LINUX_AMD64=... SHA256_LINUX_AMD64=... ... hack/krew/render.sh > astra.yaml
set -euo pipefail
template="$(dirname "$0")/astra.yaml.tmpl"
missing=()
for name in $(grep -o '\${[A-Z0-9_]*}' "$template" | sort -u | tr -d '${}'); do
  [[ -n "${!name:-}" ]] || missing+=("$name")
done
if (( ${#missing[@]} )); then
  echo "render.sh: set ${missing[*]}" >&2
  exit 2
fi
python3 - "$template" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
print(re.sub(r"\$\{([A-Z0-9_]+)\}", lambda m: os.environ[m.group(1)], text), end="")
PY
