#!/usr/bin/env bash
# Chromium for the console's browser tests (Playwright drives it; Playwright's own browser
# download is not used): from PATH, else from Debian packages when root with apt.
set -euo pipefail
found() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }
if found; then
  echo "setup: $( (chromium --version || chromium-browser --version) 2>/dev/null | head -1) ok"
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing chromium from Debian packages (the console's browser tests) ..."
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
    echo "setup: $(chromium --version 2>/dev/null | head -1) installed"
    exit 0
  fi
  echo "setup: apt-get could not install chromium; install it by hand (apt-get install chromium)." >&2
  exit 1
fi
echo "setup: chromium not found; install it (Debian/Ubuntu: sudo apt-get install chromium) and rerun." >&2
exit 1
