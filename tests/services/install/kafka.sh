#!/usr/bin/env bash
# Apache Kafka for the kafka engine's tests: the broker's jars from Maven
# Central (tests/services/kafka/pom.xml) copied into .cache/kafka/lib once,
# run by Java 17+. Nothing is installed system-wide beyond Java and Maven.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
lib="$root/.cache/kafka/lib"
pom="$root/tests/services/kafka/pom.xml"
# The jar list is keyed by the pom: a changed pom fetches again.
stamp="$lib/.pom-$(sha256sum "$pom" | cut -c1-16)"
if [ -e "$stamp" ]; then
  exit 0
fi
need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
rm -rf "$lib"
mkdir -p "$lib"
mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$lib"
touch "$stamp"
