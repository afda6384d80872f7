#!/usr/bin/env bash
# A Pulsar standalone broker for the tests, from Maven Central (no tarball or
# image is reachable): its jars in .cache/pulsar/lib, fetched once. Also the
# official Python client in .cache/venv, the interop peer and bench baseline.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cache="$root/.cache"
need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v openssl >/dev/null || need+=(openssl) # certificates for the TLS test
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The pom's version in the marker's name: a new version fetches again.
version="$(sed -n 's:.*<pulsar.version>\(.*\)</pulsar.version>.*:\1:p' \
  "$root/tests/services/pulsar/pom.xml")"
marker="$cache/pulsar/lib/.complete-$version"
if [ ! -f "$marker" ]; then
  rm -rf "$cache/pulsar/lib"
  mkdir -p "$cache/pulsar/lib"
  (cd "$root/tests/services/pulsar" &&
    mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$cache/pulsar/lib")
  touch "$marker"
fi
if ! "$cache/venv/bin/python" -c 'import pulsar' 2>/dev/null; then
  [ -x "$cache/venv/bin/python" ] || python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install -q pulsar-client==3.13.0
fi
