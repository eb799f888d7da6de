"""API keys with roles, stored hashed.

A key is 32 random bytes shown once when it is created (``python -m serving keys add``); the
keys file (``KAIROS_API_KEYS_FILE``) keeps only its SHA-256, its name and its role. A
high-entropy random key needs no slow password hash: SHA-256 cannot be reversed and there is
nothing to brute-force.

Roles (DESIGN.md): ``marketing`` reads scores and audiences, ``ingest`` posts events,
``admin`` may do everything, including reloading trigger rules.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

READ_SCORES = "scores:read"
READ_AUDIENCES = "audiences:read"
READ_CONSENT = "consent:read"
WRITE_EVENTS = "events:write"
PRIVACY = "privacy:requests"
READ_PERFORMANCE = "performance:read"
READ_HEALTH = "health:read"
ADMIN = "admin"

WHAT = {
    READ_SCORES: "read scores",
    READ_AUDIENCES: "read audiences",
    READ_CONSENT: "read consent",
    WRITE_EVENTS: "post events",
    PRIVACY: "make or read privacy requests",
    READ_PERFORMANCE: "read the rules' measured performance",
    READ_HEALTH: "read the pipeline's health",
    ADMIN: "administer the API",
}
ROLES: dict[str, frozenset[str]] = {
    "marketing": frozenset(
        {READ_SCORES, READ_AUDIENCES, READ_CONSENT, READ_PERFORMANCE, READ_HEALTH}
    ),
    # a channel re-checks consent before a deferred send (Decision.recheck_before_send)
    "ingest": frozenset({WRITE_EVENTS, READ_CONSENT, READ_HEALTH}),
    # data subject requests (export of everything held about a customer): a DPO's tool
    "privacy": frozenset({PRIVACY, READ_HEALTH}),
    "admin": frozenset(set(WHAT)),
}
KEY_PREFIX = "kai_"


class KeyFileError(ValueError):
    """The keys file is malformed; the message names the entry."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: str
    sha256: str

    def may(self, permission: str) -> bool:
        return permission in ROLES[self.role]


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """The keys file, re-read when it changes (adding a key needs no restart)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._version: tuple[int, int, int] | None = None
        self._by_hash: dict[str, ApiKey] = {}

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._by_hash, self._version = {}, None
            return
        # Every write is a rename of a new file (a new inode): two writes within one mtime
        # tick are still told apart, so a revoked key never stays valid from a stale cache.
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if version != self._version:
            self._by_hash = {k.sha256: k for k in read_keys(self.path)}
            self._version = version

    def lookup(self, presented: str) -> ApiKey | None:
        self._refresh()
        return self._by_hash.get(digest(presented))

    def all(self) -> list[ApiKey]:
        self._refresh()
        return sorted(self._by_hash.values(), key=lambda k: k.name)


def read_keys(path: Path) -> list[ApiKey]:
    document = yaml.safe_load(path.read_text()) or {}
    entries = document.get("keys", []) if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise KeyFileError(f"{path}: expected a mapping with a 'keys' list")
    keys = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not {"name", "role", "sha256"} <= set(entry):
            raise KeyFileError(f"{path}: key #{i + 1} needs name, role and sha256")
        if entry["role"] not in ROLES:
            raise KeyFileError(
                f"{path}: key {entry['name']!r} has unknown role {entry['role']!r} "
                f"(known: {', '.join(ROLES)})"
            )
        keys.append(ApiKey(str(entry["name"]), str(entry["role"]), str(entry["sha256"])))
    return keys


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``<keys file>.lock`` for one read-modify-write of the file, so
    two ``keys add`` / ``keys revoke`` at once (two operators, a script) lose neither change."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def add_key(path: str | Path, name: str, role: str) -> str:
    """Create a key, store its hash under ``name`` and return the key (shown only once)."""
    if role not in ROLES:
        raise KeyFileError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
    path = Path(path)
    with _locked(path):
        existing = read_keys(path) if path.exists() else []
        if any(k.name == name for k in existing):
            raise KeyFileError(f"{path}: a key named {name!r} exists; revoke it first")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        entries = [{"name": k.name, "role": k.role, "sha256": k.sha256} for k in existing]
        entries.append(
            {
                "name": name,
                "role": role,
                "sha256": digest(key),
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        _write(path, entries)
    return key


def revoke_key(path: str | Path, name: str) -> bool:
    path = Path(path)
    if not path.exists():
        return False
    with _locked(path):
        document = yaml.safe_load(path.read_text()) or {}
        entries = [e for e in document.get("keys", []) if e.get("name") != name]
        removed = len(entries) != len(document.get("keys", []))
        _write(path, entries)
    return removed


def _write(path: Path, entries: list[dict[str, str]]) -> None:
    """Replace the file in one rename, from a temporary file of this writer's own."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        out.write(yaml.safe_dump({"keys": entries}, sort_keys=False))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class RateLimiter:
    """Requests per second per key, counted in this API process (a fixed one-second window).

    Counting in-process costs no Redis round trip on the hot path. With several API
    processes each enforces the limit on its own, so a key may reach processes x limit;
    size ``KAIROS_API_RATE_LIMIT`` for that (docs/decisions.md).
    """

    def __init__(self, per_second: int):
        self.per_second = per_second
        self._window = 0
        self._counts: dict[str, int] = {}

    def allow(self, key_name: str, now: float | None = None) -> bool:
        second = int(time.time() if now is None else now)
        if second != self._window:
            self._window, self._counts = second, {}
        count = self._counts.get(key_name, 0) + 1
        self._counts[key_name] = count
        return count <= self.per_second
