"""The consent policy (``feature_defs/consent.yaml``): defaults per channel before any event."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from kairos.settings import get_settings


@lru_cache(maxsize=4)
def default_consent(feature_defs_dir: str | None = None) -> dict[str, bool]:
    """Channel -> granted, for a customer with no ``consent_updated`` event."""
    path = Path(feature_defs_dir or get_settings().feature_defs_dir) / "consent.yaml"
    policy = yaml.safe_load(path.read_text())
    channels = policy.get("channels") if isinstance(policy, dict) else None
    if not isinstance(channels, dict) or not all(isinstance(v, bool) for v in channels.values()):
        raise ValueError(f"{path}: 'channels' must map each channel to true or false")
    return dict(channels)
