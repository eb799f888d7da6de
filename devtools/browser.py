"""Debian's Chromium for Playwright: the console's browser tests and benchmark drive it.

Playwright's own browser download is not used (``make setup`` installs the ``chromium``
package, :file:`scripts/ensure_chromium.sh`); Playwright launches that executable.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# Debian's /usr/bin/chromium is a shell wrapper; the binary behind it takes the same flags.
CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser")


def chromium_path() -> str:
    """The Chromium executable, or a RuntimeError that says how to install it."""
    for candidate in CANDIDATES:
        found = candidate if Path(candidate).is_file() else shutil.which(candidate)
        if found:
            return found
    raise RuntimeError("chromium not found: make setup installs it (apt-get install chromium)")
