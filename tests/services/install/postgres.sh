#!/usr/bin/env bash
# PostgreSQL 15 (Debian's) for the postgres engine's tests. The tests run
# initdb and the server themselves as the `postgres` user the package
# creates (the server refuses to run as root).
set -euo pipefail
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] || ! id postgres >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
fi
