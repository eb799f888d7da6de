#!/usr/bin/env bash
# Spark 4 needs Java 17 or newer. One clear line when it is missing or too old.
set -euo pipefail
if ! command -v java >/dev/null 2>&1; then
  echo "setup: Java not found. Spark 4 needs Java 17+: install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17)." >&2
  exit 1
fi
version=$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
major=${version%%.*}
if [ "${major:-0}" -lt 17 ] 2>/dev/null; then
  echo "setup: Java ${version} found, but Spark 4 needs Java 17+: install openjdk-17 and put it first on PATH (or set JAVA_HOME)." >&2
  exit 1
fi
echo "setup: java ${version} ok"
