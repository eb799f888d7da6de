"""The event contract as Spark sees it: a StructType derived from the one JSON Schema.

No column list is written by hand here: add a property to
``feature_defs/events/event.schema.json`` and bronze parses it.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import types as T

from kairos.events import load_schema

_SCALARS: dict[str, T.DataType] = {
    "string": T.StringType(),
    "integer": T.LongType(),
    "number": T.DoubleType(),
    "boolean": T.BooleanType(),
}


def _spark_type(prop: dict[str, Any]) -> T.DataType:
    kinds = prop.get("type", "string")
    kinds = [k for k in ([kinds] if isinstance(kinds, str) else kinds) if k != "null"]
    kind = kinds[0] if kinds else "string"
    if kind == "object":
        return T.StructType(
            [
                T.StructField(name, _spark_type(sub), True)
                for name, sub in prop.get("properties", {}).items()
            ]
        )
    if kind not in _SCALARS:
        raise ValueError(f"event schema: no Spark type for JSON type {kind!r}")
    return _SCALARS[kind]


def event_struct(feature_defs_dir: str | None = None) -> T.StructType:
    """Spark schema of an event as landed (timestamps stay strings until validated)."""
    schema = load_schema(feature_defs_dir)
    return T.StructType(
        [
            T.StructField(name, _spark_type(prop), True)
            for name, prop in schema["properties"].items()
        ]
    )
