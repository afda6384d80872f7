#!/usr/bin/env bash
# Installs what the tests need, skipping what is already there. Each server
# has its own script in install/; with names, runs only those
# (e.g. `bash tests/services/install.sh redis pstest`).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -eq 0 ]; then
  set -- $(cd "$here/install" && ls *.sh 2>/dev/null | sed 's/\.sh$//')
fi
for name in "$@"; do
  echo "== installing $name" >&2
  bash "$here/install/$name.sh"
done
