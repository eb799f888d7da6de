#!/usr/bin/env bash
# redis-server from PATH, else from Debian packages when root with apt, else a one-line error.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  echo "setup: $(redis-server --version | awk '{print $1, $2, $3}') ok"
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing redis-server from Debian packages ..."
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends redis-server >/dev/null; then
    # The package may start a system service on 6379; Kairos runs its own instances.
    (service redis-server stop >/dev/null 2>&1 || true)
    echo "setup: $(redis-server --version | awk '{print $1, $2, $3}') installed"
    exit 0
  fi
  echo "setup: apt-get could not install redis-server; install it by hand (apt-get install redis-server)." >&2
  exit 1
fi
echo "setup: redis-server not found; install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) and rerun." >&2
exit 1
