"""Feature and RFM definitions load, and broken ones fail naming the definition and field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kairos.feature_defs import (
    DefinitionError,
    load_features,
    load_rfm,
    parse_features,
)
from kairos.settings import PROJECT_ROOT

DEFS = PROJECT_ROOT / "feature_defs"
EVENT_TYPES = {"purchase", "page_view", "email_open", "email_click"}

GOOD: dict[str, Any] = {
    "name": "purchases",
    "description": "Orders.",
    "entity": "customer",
    "source": ["purchase"],
    "windows": ["7d", "30d"],
    "aggregation": "count",
    "dtype": "long",
    "default": 0,
    "owner": "ds",
    "version": 1,
}


def parse(*entries: dict[str, Any]):  # type: ignore[no-untyped-def]
    return parse_features({"features": list(entries)}, Path("features.yaml"), EVENT_TYPES)


def variant(**changes: Any) -> dict[str, Any]:
    """GOOD with fields changed; ``...`` removes a field."""
    entry = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is ...:
            entry.pop(key, None)
        else:
            entry[key] = value
    return entry


def test_repository_definitions_load() -> None:
    features = load_features(DEFS)
    names = features.column_names
    assert len(names) == len(set(names)) > 30
    assert {"purchases_7d", "purchases_30d", "rfm_recency_days", "preferred_channel"} <= set(names)
    spec = load_rfm(DEFS, features)
    assert spec.recency in names and spec.frequency in names and spec.monetary in names
    assert "champions" in spec.segment_names and spec.no_purchase_segment == "prospect"


def test_windows_expand_to_suffixed_columns_and_single_window_keeps_the_name() -> None:
    single = variant(name="last_buy", windows=..., window="lifetime", aggregation="recency")
    single["dtype"], single["default"] = "double", None
    features = parse(GOOD, single)
    assert features.column_names == ["purchases_7d", "purchases_30d", "last_buy"]
    assert features.columns[2].window.length is None


def test_fingerprint_changes_with_any_definition() -> None:
    assert parse(GOOD).fingerprint == parse(copy.deepcopy(GOOD)).fingerprint
    assert parse(GOOD).fingerprint != parse(variant(version=2)).fingerprint


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        (variant(aggregation="median"), "aggregation", "'median' is not one of"),
        (variant(source=["purchse"]), "source", "unknown event type 'purchse'"),
        (variant(windows=["7w"]), "windows", "window '7w' is not <N>d, <N>h or lifetime"),
        (variant(windows=["7d", "7d"]), "windows", "lists a window twice"),
        (variant(window="7d"), "window", "give exactly one of 'window' or 'windows'"),
        (variant(aggregation="sum", dtype="double"), "value", "aggregation 'sum' needs a 'value'"),
        (variant(value="properties.revenue"), "value", "aggregation 'count' takes no 'value'"),
        (variant(dtype="double"), "dtype", "aggregation 'count' gives long"),
        (variant(default="none"), "default", "'none' is not a long"),
        (variant(name="Purchases"), "name", "must be lower_snake_case"),
        (variant(owner=...), "owner", "Field required"),
        (variant(colour="red"), "colour", "Extra inputs are not permitted"),
        (variant(entity="household"), "entity", "Input should be 'customer'"),
    ],
)
def test_broken_definition_names_definition_and_field(
    entry: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse(entry)
    text = str(caught.value)
    assert text.startswith(f"features.yaml: feature '{entry['name']}', field '{field}': "), text
    assert message in text


def test_ratio_references_are_checked() -> None:
    ratio = variant(
        name="click_rate",
        aggregation="ratio",
        numerator="clicks",
        denominator="purchases",
        dtype="double",
        default=None,
    )
    with pytest.raises(
        DefinitionError, match="feature 'click_rate', field 'numerator': no feature named 'clicks'"
    ):
        parse(GOOD, ratio)
    clicks = variant(name="clicks", source=["email_click"], windows=["7d"])
    with pytest.raises(DefinitionError, match="field 'numerator': 'clicks' has no window '30d'"):
        parse(GOOD, clicks, ratio)


def test_two_definitions_may_not_make_the_same_column() -> None:
    twin = variant(name="purchases_7d", windows=..., window="7d")
    with pytest.raises(DefinitionError, match="column 'purchases_7d' is also made by 'purchases'"):
        parse(GOOD, twin)


def _rfm_dir(tmp_path: Path, **changes: Any) -> Path:
    raw = yaml.safe_load((DEFS / "rfm.yaml").read_text())
    raw.update(changes)
    (tmp_path / "rfm.yaml").write_text(yaml.safe_dump(raw))
    return tmp_path


def test_segment_map_must_cover_every_score_pair(tmp_path: Path) -> None:
    raw = yaml.safe_load((DEFS / "rfm.yaml").read_text())
    segments = [s for s in raw["segments"] if s["name"] != "lost"]
    with pytest.raises(
        DefinitionError, match=r"field 'segments': no segment covers r=1, fm=1 \(2 score pairs"
    ):
        load_rfm(_rfm_dir(tmp_path, segments=segments))


def test_rfm_must_name_existing_feature_columns(tmp_path: Path) -> None:
    features = load_features(DEFS)
    with pytest.raises(DefinitionError, match="field 'monetary': no feature column 'spend'"):
        load_rfm(_rfm_dir(tmp_path, monetary="spend"), features)
    with pytest.raises(DefinitionError, match=r"field 'segments.0.r': .*within 1..5"):
        bad = yaml.safe_load((DEFS / "rfm.yaml").read_text())["segments"]
        bad[0]["r"] = [0, 5]
        load_rfm(_rfm_dir(tmp_path, segments=bad))
