"""Trigger rules that follow their file: edits apply without a restart.

:meth:`RuleProvider.current` looks at the file's modification time at most once a second and
reloads it when it changed. A file that fails validation is not applied: the previous rules
stay in force and the error is kept (``last_error``, shown by ``GET /v1/admin/rules``), so a
typo never switches triggers off.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from serving.rules import RuleError, RuleSet, load_rules


class RuleProvider:
    def __init__(self, path: str | Path, feature_defs_dir: str | None = None, every: float = 1.0):
        self.path = Path(path)
        self.feature_defs_dir = feature_defs_dir
        self.every = every
        self.last_error: str | None = None
        self._rules = load_rules(self.path, feature_defs_dir)  # invalid at start: fail loudly
        self._mtime = self.path.stat().st_mtime
        self._checked = time.monotonic()

    def current(self) -> RuleSet:
        now = time.monotonic()
        if now - self._checked >= self.every:
            self._checked = now
            try:
                mtime = self.path.stat().st_mtime
            except FileNotFoundError:
                self.last_error = f"{self.path}: file is gone; keeping the loaded rules"
                return self._rules
            if mtime != self._mtime:
                self._mtime = mtime
                with contextlib.suppress(RuleError):  # kept in last_error; old rules stay
                    self.reload()
        return self._rules

    def reload(self) -> RuleSet:
        """Load the file now; raises :class:`RuleError` (and keeps the old rules) if invalid."""
        try:
            self._rules = load_rules(self.path, self.feature_defs_dir)
        except RuleError as err:
            self.last_error = str(err)
            raise
        self.last_error = None
        return self._rules
