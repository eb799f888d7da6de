"""Malformed records, as real producers send them: broken JSON, missing fields, wrong types,
unknown event types. Every kind is guaranteed to break the event contract."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

KINDS = ("bad_json", "missing_field", "wrong_type", "unknown_event_type")
_TYPO_TYPES = ("page_vew", "wishlist_add", "Purchase", "cart-abandon")


def malform(event: dict[str, Any], rng: np.random.Generator) -> tuple[str, str]:
    """One malformed JSON Lines record made from a valid event, and its kind."""
    kind = KINDS[int(rng.integers(len(KINDS)))]
    broken = dict(event)
    if kind == "bad_json":
        text = json.dumps(broken, separators=(",", ":"))
        return text[: int(rng.integers(5, max(6, len(text) - 2)))], kind
    if kind == "missing_field":
        broken.pop(("event_id", "event_type", "occurred_at")[int(rng.integers(3))])
    elif kind == "wrong_type":
        props = dict(broken.get("properties") or {})
        if "price" in props:
            props["price"] = f"{props['price']} EUR"
            broken["properties"] = props
        elif "quantity" in props:
            props["quantity"] = "two"
            broken["properties"] = props
        else:
            broken["schema_version"] = "1"
    else:
        broken["event_type"] = _TYPO_TYPES[int(rng.integers(len(_TYPO_TYPES)))]
    return json.dumps(broken, separators=(",", ":")), kind
