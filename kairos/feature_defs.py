"""Feature and RFM definitions (``feature_defs/features.yaml``, ``feature_defs/rfm.yaml``).

These files are the single source of what a feature is. Spark compiles them into
aggregations (``spark_jobs/features.py``), training reads the column list from them, and
serving reads names and defaults. A definition is data::

    - name: purchases                # column name; with ``windows`` it gets a _<window> suffix
      description: Completed orders.
      entity: customer
      source: [purchase]             # event types that count
      windows: [7d, 30d, 90d]        # or ``window: 30d`` for one column named exactly ``name``
      aggregation: count             # count | sum | avg | min | max | distinct_count |
                                     # recency | age | gap_mean | gap_std |
                                     # most_frequent | ratio
      value: properties.revenue      # Spark SQL expression (sum/avg/min/max/distinct/most_frequent)
      filter: channel = 'email'      # optional Spark SQL predicate on silver.events
      numerator: ...                 # ratio only: names of two other definitions
      denominator: ...
      dtype: long                    # long | double | string
      default: 0                     # value when nothing matched (null allowed)
      owner: data-science
      version: 1

``recency`` and ``age`` are the days from the last and the first matching event to as_of;
``gap_mean`` and ``gap_std`` the mean and population standard deviation of the days between
consecutive matching events in the window (null without one gap, and without two gaps for
the deviation): with ``source: [purchase]`` and a lifetime window, the tenure, recency and
inter-purchase times of buy-till-you-die models.

Loading validates everything that can be checked without data; an invalid definition
raises :class:`DefinitionError` naming the file, the definition and the field. Expressions
(``value``, ``filter``) are checked against the silver.events schema when compiled.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

FEATURES_FILE = "features.yaml"
RFM_FILE = "rfm.yaml"
ENTITIES = {"customer": "customer_id"}
VALUE_AGGREGATIONS = {"sum", "avg", "min", "max", "distinct_count", "most_frequent"}
TIME_AGGREGATIONS = {"recency", "age", "gap_mean", "gap_std"}  # days, from occurrence times
AGGREGATIONS = VALUE_AGGREGATIONS | TIME_AGGREGATIONS | {"count", "ratio"}
_WINDOW = re.compile(r"^(\d+)([hd])$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Spark SQL functions that call any Java method on the driver and executors: a definition is
# configuration that data scientists edit, not a way to run code on the cluster.
JVM_FUNCTIONS = ("reflect", "java_method", "try_reflect")
# What the check reads past: string literals and comments are dropped, back-quoted names
# unquoted (`reflect`(...) is a call too).
_LITERAL_OR_COMMENT = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|/\*.*?\*/|--[^\n]*", re.S)
_JVM_CALL = re.compile(r"\b(" + "|".join(JVM_FUNCTIONS) + r")\s*\(", re.IGNORECASE)


def jvm_call(expression: str) -> str | None:
    """The JVM-reaching function ``expression`` calls (see :data:`JVM_FUNCTIONS`), if any."""
    code = _LITERAL_OR_COMMENT.sub(" ", expression).replace("`", "")
    found = _JVM_CALL.search(code)
    return found[1].lower() if found else None


class DefinitionError(ValueError):
    """A definition file is invalid; the message names the file, definition and field."""


@dataclass(frozen=True)
class Window:
    """A look-back window ending at ``as_of``: ``7d``, ``24h`` or ``lifetime``."""

    label: str

    @property
    def length(self) -> timedelta | None:
        """The window's length, ``None`` for lifetime."""
        if self.label == "lifetime":
            return None
        match = _WINDOW.match(self.label)
        assert match, self.label  # validated on load
        amount, unit = int(match.group(1)), match.group(2)
        return timedelta(days=amount) if unit == "d" else timedelta(hours=amount)


def _check_window(label: str) -> str:
    if label != "lifetime" and not (_WINDOW.match(label) and int(label[:-1]) > 0):
        raise ValueError(f"window {label!r} is not <N>d, <N>h or lifetime")
    return label


class FeatureDef(BaseModel):
    """One feature definition (possibly several columns, one per window)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = Field(min_length=1)
    entity: Literal["customer"]
    source: tuple[str, ...] = Field(min_length=1)
    window: str | None = None
    windows: tuple[str, ...] | None = None
    aggregation: str
    value: str | None = None
    filter: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    dtype: Literal["long", "double", "string"]
    default: float | int | str | None
    owner: str = Field(min_length=1)
    version: int = Field(ge=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} must be lower_snake_case")
        return value

    @field_validator("value", "filter")
    @classmethod
    def _no_jvm_calls(cls, value: str | None) -> str | None:
        if value is not None and (name := jvm_call(value)):
            raise ValueError(
                f"calls {name}(), which runs Java code on the cluster; not allowed here"
            )
        return value

    @field_validator("aggregation")
    @classmethod
    def _aggregation(cls, value: str) -> str:
        if value not in AGGREGATIONS:
            raise ValueError(f"{value!r} is not one of {', '.join(sorted(AGGREGATIONS))}")
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        return None if value is None else _check_window(value)

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("needs at least one window")
        if len(set(value)) != len(value):
            raise ValueError("lists a window twice")
        return tuple(_check_window(v) for v in value)

    @model_validator(mode="after")
    def _consistent(self) -> FeatureDef:
        if (self.window is None) == (self.windows is None):
            raise _FieldError("window", "give exactly one of 'window' or 'windows'")
        needs_value = self.aggregation in VALUE_AGGREGATIONS
        if needs_value and not self.value:
            raise _FieldError("value", f"aggregation {self.aggregation!r} needs a 'value'")
        if not needs_value and self.value:
            raise _FieldError("value", f"aggregation {self.aggregation!r} takes no 'value'")
        is_ratio = self.aggregation == "ratio"
        for side in ("numerator", "denominator"):
            if is_ratio and not getattr(self, side):
                raise _FieldError(side, "aggregation 'ratio' needs a numerator and a denominator")
            if not is_ratio and getattr(self, side):
                raise _FieldError(side, f"only aggregation 'ratio' takes a {side}")
        expected = {
            "count": "long",
            "distinct_count": "long",
            "ratio": "double",
            "avg": "double",
            **dict.fromkeys(TIME_AGGREGATIONS, "double"),
        }.get(self.aggregation)
        if expected and self.dtype != expected:
            raise _FieldError("dtype", f"aggregation {self.aggregation!r} gives {expected}")
        if self.default is not None:
            numeric = isinstance(self.default, int | float) and not isinstance(self.default, bool)
            if (self.dtype == "string") == numeric:
                raise _FieldError("default", f"{self.default!r} is not a {self.dtype}")
        return self

    @property
    def window_list(self) -> tuple[Window, ...]:
        labels = self.windows if self.windows is not None else (self.window,)
        return tuple(Window(label) for label in labels if label is not None)

    def column(self, window: Window) -> str:
        """The output column for one window of this definition."""
        return self.name if self.window is not None else f"{self.name}_{window.label}"


class _FieldError(ValueError):
    """Raised inside model validators to name the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Column:
    """One output column: a definition evaluated over one window."""

    name: str
    feature: FeatureDef
    window: Window


@dataclass(frozen=True)
class FeatureSet:
    """The validated definitions of one file, in file order."""

    path: str
    features: tuple[FeatureDef, ...]

    @cached_property
    def by_name(self) -> dict[str, FeatureDef]:
        return {f.name: f for f in self.features}

    @cached_property
    def columns(self) -> tuple[Column, ...]:
        return tuple(Column(f.column(w), f, w) for f in self.features for w in f.window_list)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @cached_property
    def fingerprint(self) -> str:
        """Short hash of the definitions: changes whenever any definition changes."""
        canonical = json.dumps([f.model_dump() for f in self.features], sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def ratio_inputs(self, column: Column) -> tuple[str, str]:
        """The numerator and denominator columns of a ratio column (same window)."""
        feature = column.feature
        assert feature.numerator and feature.denominator
        return (
            self.by_name[feature.numerator].column(column.window),
            self.by_name[feature.denominator].column(column.window),
        )


def _locate(path: Path, name: str, field: str, message: str) -> DefinitionError:
    return DefinitionError(f"{path}: feature {name!r}, field {field!r}: {message}")


def parse_features(raw: Any, path: Path, event_types: set[str]) -> FeatureSet:
    """Validate the parsed YAML of a features file (see the module docstring)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("features"), list):
        raise DefinitionError(f"{path}: expected a mapping with a 'features' list")
    features: list[FeatureDef] = []
    seen_columns: dict[str, str] = {}
    for position, entry in enumerate(raw["features"], start=1):
        name = entry.get("name", f"#{position}") if isinstance(entry, dict) else f"#{position}"
        if not isinstance(entry, dict):
            raise DefinitionError(f"{path}: feature {name!r}: expected a mapping")
        try:
            feature = FeatureDef.model_validate(entry)
        except ValidationError as err:
            first = err.errors()[0]
            cause = first.get("ctx", {}).get("error")
            field = (
                cause.field
                if isinstance(cause, _FieldError)
                else ".".join(str(p) for p in first["loc"]) or "?"
            )
            message = str(cause) if cause is not None else first["msg"]
            raise _locate(path, name, field, message) from None
        unknown = [t for t in feature.source if t not in event_types]
        if unknown:
            raise _locate(
                path,
                name,
                "source",
                f"unknown event type {unknown[0]!r} (known: {', '.join(sorted(event_types))})",
            )
        for window in feature.window_list:
            column = feature.column(window)
            if column in seen_columns:
                raise _locate(
                    path,
                    name,
                    "name",
                    f"column {column!r} is also made by {seen_columns[column]!r}",
                )
            seen_columns[column] = feature.name
        features.append(feature)
    by_name = {f.name: f for f in features}
    for feature in features:
        if feature.aggregation != "ratio":
            continue
        for side in ("numerator", "denominator"):
            ref = getattr(feature, side)
            other = by_name.get(ref)
            if other is None:
                raise _locate(path, feature.name, side, f"no feature named {ref!r}")
            if other.aggregation == "ratio" or other.dtype == "string":
                raise _locate(path, feature.name, side, f"{ref!r} is not a numeric aggregate")
            missing = [w.label for w in feature.window_list if w not in other.window_list]
            if missing:
                raise _locate(path, feature.name, side, f"{ref!r} has no window {missing[0]!r}")
    return FeatureSet(str(path), tuple(features))


def event_types(feature_defs_dir: str | Path) -> set[str]:
    """The event types the event contract allows."""
    schema = json.loads((Path(feature_defs_dir) / "events" / "event.schema.json").read_text())
    return set(schema["properties"]["event_type"]["enum"])


def load_features(feature_defs_dir: str | Path) -> FeatureSet:
    """Read and validate ``features.yaml`` from the definitions directory."""
    path = Path(feature_defs_dir) / FEATURES_FILE
    return parse_features(read_yaml(path), path, event_types(feature_defs_dir))


def read_yaml(path: Path, error: type[ValueError] = DefinitionError, kind: str = "file") -> Any:
    """A definitions file's YAML; ``error`` (naming the file) when it is missing or invalid."""
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise error(f"{path}: no such {kind}") from None
    except yaml.YAMLError as err:
        raise error(f"{path.name}: not valid YAML: {err}") from None


def first_problem(err: ValidationError) -> tuple[str, str]:
    """(dotted field, message) of a validation error's first problem."""
    first = err.errors()[0]
    return ".".join(str(p) for p in first["loc"]) or "(file)", first["msg"]


# --- RFM ---------------------------------------------------------------------------------

SCORES = (1, 2, 3, 4, 5)


class SegmentRule(BaseModel):
    """A named RFM segment: inclusive ranges of the recency score and the F+M score."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    r: tuple[int, int]
    fm: tuple[int, int]

    @field_validator("r", "fm")
    @classmethod
    def _range(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not (1 <= low <= high <= 5):
            raise ValueError(f"{list(value)} is not a range [low, high] within 1..5")
        return value

    def matches(self, r: int, fm: int) -> bool:
        return self.r[0] <= r <= self.r[1] and self.fm[0] <= fm <= self.fm[1]


class RfmSpec(BaseModel):
    """How RFM scores and segments are derived from three feature columns."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    recency: str
    frequency: str
    monetary: str
    no_purchase_segment: str
    segments: tuple[SegmentRule, ...] = Field(min_length=1)

    @property
    def segment_names(self) -> list[str]:
        return [s.name for s in self.segments] + [self.no_purchase_segment]

    def segment(self, r: int, fm: int) -> str:
        """The first segment rule matching the scores (the map covers every pair)."""
        for rule in self.segments:
            if rule.matches(r, fm):
                return rule.name
        raise AssertionError(f"no segment for r={r} fm={fm}")  # validated on load


def load_rfm(feature_defs_dir: str | Path, features: FeatureSet | None = None) -> RfmSpec:
    """Read and validate ``rfm.yaml``; its feature names must exist in ``features``."""
    path = Path(feature_defs_dir) / RFM_FILE
    raw = read_yaml(path)
    try:
        spec = RfmSpec.model_validate(raw)
    except ValidationError as err:
        where, message = first_problem(err)
        raise DefinitionError(f"{path}: field {where!r}: {message}") from None
    names = [s.name for s in spec.segments]
    if len(set(names)) != len(names) or spec.no_purchase_segment in names:
        raise DefinitionError(f"{path}: field 'segments': segment names must be unique")
    gaps = [
        (r, fm) for r in SCORES for fm in SCORES if not any(s.matches(r, fm) for s in spec.segments)
    ]
    if gaps:
        r, fm = gaps[0]
        raise DefinitionError(
            f"{path}: field 'segments': no segment covers r={r}, fm={fm} "
            f"({len(gaps)} score pairs uncovered)"
        )
    if features is not None:
        known = set(features.column_names)
        for role in ("recency", "frequency", "monetary"):
            column = getattr(spec, role)
            if column not in known:
                raise DefinitionError(
                    f"{path}: field {role!r}: no feature column {column!r} in {features.path}"
                )
    return spec
