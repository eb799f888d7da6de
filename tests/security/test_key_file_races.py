"""API keys added and revoked at once by several processes: none lost, none left valid."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from serving import auth


def _add(path: str, name: str) -> tuple[str, str]:
    return name, auth.add_key(path, name, "marketing")


def test_keys_added_at_once_are_all_kept(tmp_path: Path) -> None:
    """Two operators (or a provisioning script) adding keys at the same moment: each read
    the file, added its key and wrote it back, and one key silently disappeared."""
    path = str(tmp_path / "keys.yaml")
    names = [f"tool-{n:02d}" for n in range(24)]
    with ProcessPoolExecutor(max_workers=6) as pool:
        issued = dict(pool.map(_add, [path] * len(names), names))
    store = auth.KeyStore(path)
    assert sorted(k.name for k in store.all()) == names
    assert all(store.lookup(key) is not None for key in issued.values())


def test_a_revoked_key_stops_working_at_once(tmp_path: Path) -> None:
    """The API re-reads the keys file when it changes; a change within the same mtime tick
    as the last read must still be seen."""
    path = tmp_path / "keys.yaml"
    store = auth.KeyStore(path)
    key = auth.add_key(path, "campaign-tool", "marketing")
    assert store.lookup(key) is not None
    for _ in range(20):  # add and revoke quickly: some land in one mtime tick
        assert auth.revoke_key(path, "campaign-tool")
        assert store.lookup(key) is None
        key = auth.add_key(path, "campaign-tool", "marketing")
        assert store.lookup(key) is not None
