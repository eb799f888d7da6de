"""The event contract as Spark sees it, derived from the one JSON Schema.

``feature_defs/events/event.schema.json`` is the single definition. This module reads it
twice over:

* :func:`event_struct` - the Spark schema for ``from_json`` (no column list by hand);
* :func:`violations` - a Spark column holding every violation of a raw JSON line, compiled
  from the schema's keywords into native Spark expressions, so batch validation runs at
  Spark speed instead of calling a Python validator per row.

The violations carry the same ``field`` and ``kind`` as :mod:`kairos.events` reports for
the API (a parity test holds the two together). The subset of JSON Schema compiled here is
the one the contract uses: ``type``, ``required``, ``anyOf`` of ``required``, ``enum``,
``const``, ``pattern``, ``minLength``/``maxLength``, ``minimum``/``maximum``,
``format: date-time`` (UTC), ``additionalProperties: false`` and ``allOf`` of
``if event_type ... then required``. A schema using another keyword fails loudly here.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from kairos.events import PII_FIELDS, end_anchored, load_schema

_SCALARS: dict[str, T.DataType] = {
    "string": T.StringType(),
    "integer": T.LongType(),
    "number": T.DoubleType(),
    "boolean": T.BooleanType(),
}
_SUPPORTED = {
    "type",
    "description",
    "enum",
    "const",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "format",
    "properties",
    "additionalProperties",
    "required",
}
JAVA_END = r"\z"  # the absolute end of a string in Java's regex (``$`` also matches before \n)
UTC_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|\+00:00)\z"
VIOLATION = T.StructType(
    [
        T.StructField("field", T.StringType()),
        T.StructField("kind", T.StringType()),
        T.StructField("message", T.StringType()),
    ]
)


def balanced(combine: Callable[[Column, Column], Column], columns: list[Column]) -> Column:
    """``columns`` combined pairwise into a balanced tree (``a | b | c | d`` as
    ``(a | b) | (c | d)``): the same value as a left fold, but a plan ``log2(n)`` deep instead
    of ``n``, which Spark Connect's protobuf messages (nesting limit 100) need for the ~110
    checks of the contract."""
    level = list(columns)
    while len(level) > 1:
        pairs = [combine(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = pairs + ([level[-1]] if len(level) % 2 else [])
    return level[0]


def _types(prop: dict[str, Any]) -> tuple[str, bool]:
    """(JSON type, nullable) of a property."""
    kinds = prop.get("type", "string")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    nullable = "null" in kinds
    kinds = [k for k in kinds if k != "null"]
    return (kinds[0] if kinds else "string"), nullable


def _spark_type(prop: dict[str, Any]) -> T.DataType:
    kind, _ = _types(prop)
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
    """Spark schema of an event as landed (``occurred_at`` stays a string until validated)."""
    schema = load_schema(feature_defs_dir)
    return T.StructType(
        [
            T.StructField(name, _spark_type(prop), True)
            for name, prop in schema["properties"].items()
        ]
    )


def _violation(condition: Column, field: str, kind: str, message: Column | str) -> Column:
    text = message if isinstance(message, Column) else F.lit(message)
    return F.when(
        condition,
        F.struct(F.lit(field).alias("field"), F.lit(kind).alias("kind"), text.alias("message")),
    )


def _quoted(value: Column) -> Column:
    return F.concat(F.lit("'"), value.cast("string"), F.lit("'"))


# Helper columns computed once per row, so each JSON line is parsed a fixed number of times
# however many checks the schema yields: the keys of each object level, every field as raw
# text (a struct, so each lookup is by position), string fields holding a non-string, and
# (computed from those) whether each field is present.
_KEYS, _TEXT, _NOT_TEXT, _PRESENT = "_c_keys", "_c_text", "_c_not_text", "_c_present"


def _text_struct(schema: dict[str, Any]) -> T.StructType:
    """The event's shape with every leaf as text: from_json keeps each token's raw text."""
    fields = []
    for name, prop in schema.get("properties", {}).items():
        kind, _ = _types(prop)
        leaf = _text_struct(prop) if kind == "object" else T.StringType()
        fields.append(T.StructField(name, leaf, True))
    return T.StructType(fields)


def _string_fields(schema: dict[str, Any]) -> list[str]:
    names = []
    for name, prop in schema.get("properties", {}).items():
        kind, _ = _types(prop)
        if kind == "string":
            names.append(name)
        elif kind == "object":
            names.extend(_string_fields(prop))
    return names


class _Compiler:
    """Compiles the contract into a list of violation columns over ``raw`` and ``event``."""

    def __init__(self, schema: dict[str, Any], raw: Column, event: Column):
        self.schema = schema
        self.raw = raw
        self.event = event
        self.checks: list[Column] = []
        self.extra_arrays: list[Column] = []
        self.extra_unknown: list[Column] = []

    def helpers(self) -> dict[str, Column]:
        """Per-row helper columns (see ``_KEYS``, ``_TEXT``, ``_NOT_TEXT``)."""
        nested = [n for n, p in self.schema["properties"].items() if _types(p)[0] == "object"]
        helpers = {f"{_KEYS}_": F.json_object_keys(self.raw)}
        for name in nested:
            helpers[f"{_KEYS}_{name}"] = F.json_object_keys(
                F.get_json_object(self.raw, f"$.{name}")
            )
        helpers[_TEXT] = F.from_json(self.raw, _text_struct(self.schema))
        names = "|".join(_string_fields(self.schema))
        helpers[_NOT_TEXT] = F.regexp_extract_all(self.raw, F.lit(rf'"({names})"\s*:\s*[^"\sn]'), 1)
        return helpers

    def _keys(self, level: str) -> Column:
        return F.col(f"{_KEYS}_{level}")

    def presence(self) -> Column:
        """Whether each field of each object level is present, computed once per row from the
        keys (checks read a struct field instead of searching the key list again)."""
        flags = []
        for level, schema in self._levels().items():
            keys = self._keys(level)
            for name, prop in schema.get("properties", {}).items():
                path = f"{level}.{name}" if level else name
                # A non-null value is present; only nulls and absences search the key list.
                text = self._raw_value(path) if _types(prop)[0] != "object" else self._keys(path)
                flag = text.isNotNull() | F.coalesce(F.array_contains(keys, name), F.lit(False))
                flags.append(flag.alias(f"{level or 'top'}__{name}"))
        return F.struct(*flags)

    def _known_present(self, level: str) -> Column:
        """How many of the schema's fields a level has (for the unknown-field fast test)."""
        names = self._levels()[level].get("properties", {})
        return balanced(operator.add, [self._present(level, n).cast("int") for n in names])

    def _levels(self) -> dict[str, dict[str, Any]]:
        nested = {n: p for n, p in self.schema["properties"].items() if _types(p)[0] == "object"}
        return {"": self.schema, **nested}

    def _present(self, level: str, name: str) -> Column:
        return F.col(_PRESENT)[f"{level or 'top'}__{name}"]

    def _raw_value(self, path: str) -> Column:
        return F.col(f"{_TEXT}.{path}")

    def _property(
        self, path: str, name: str, prop: dict[str, Any], level: str, typed: Column
    ) -> None:
        unknown = set(prop) - _SUPPORTED
        if unknown:
            raise ValueError(f"event schema: {path}: keywords {sorted(unknown)} are not compiled")
        kind, nullable = _types(prop)
        present = self._present(level, name)
        # Objects as text need their own extraction; leaves come from the text struct.
        raw = (
            F.get_json_object(self.raw, f"$.{path}") if kind == "object" else self._raw_value(path)
        )
        got_null = present & raw.isNull()
        if not nullable:
            self.checks.append(
                _violation(got_null, path, "wrong_type", f"{path}: expected {kind}, got null")
            )
        has_value = present & raw.isNotNull()
        ok = has_value & typed.isNotNull()
        if kind == "string":
            # from_json turns a JSON number into a string; insist on a quoted token.
            leaf = path.rsplit(".", 1)[-1]
            is_text = ~F.array_contains(F.col(_NOT_TEXT), leaf)
            self.checks.append(
                _violation(
                    has_value & ~is_text,
                    path,
                    "wrong_type",
                    F.concat(F.lit(f"{path}: expected string, got "), raw),
                )
            )
            ok = ok & is_text
        else:
            self.checks.append(
                _violation(
                    has_value & typed.isNull(),
                    path,
                    "wrong_type",
                    F.concat(F.lit(f"{path}: expected {kind}, got "), raw),
                )
            )

        def value_check(
            bad: Column, kind: str, value: Column, after: str, before: str = ""
        ) -> None:
            message = F.concat(F.lit(f"{path}: {before}"), value, F.lit(after))
            self.checks.append(_violation(ok & bad, path, kind, message))

        quoted, text = _quoted(typed), typed.cast("string")
        if "enum" in prop:
            allowed = [v for v in prop["enum"] if v is not None]
            if path == "event_type":
                value_check(
                    ~typed.isin(allowed),
                    "unknown_event_type",
                    quoted,
                    f" (known: {', '.join(allowed)})",
                    before="unknown event type ",
                )
            else:
                value_check(
                    ~typed.isin(allowed),
                    "bad_value",
                    quoted,
                    f" is not one of {', '.join(map(str, allowed))}",
                )
        if "const" in prop:
            value_check(
                typed != F.lit(prop["const"]),
                "bad_value",
                text,
                "",
                before=f"must be {prop['const']!r}, got ",
            )
        if "pattern" in prop:
            value_check(
                ~typed.rlike(end_anchored(prop["pattern"], JAVA_END)),
                "bad_value",
                quoted,
                f" does not match {prop['pattern']}",
            )
        if "minLength" in prop:
            value_check(
                F.length(typed) < prop["minLength"],
                "bad_value",
                quoted,
                f" is shorter than {prop['minLength']} characters",
            )
        if "maxLength" in prop:
            value_check(
                F.length(typed) > prop["maxLength"],
                "bad_value",
                quoted,
                f" is longer than {prop['maxLength']} characters",
            )
        if "minimum" in prop:
            value_check(
                typed < prop["minimum"],
                "out_of_range",
                text,
                f" is below the minimum {prop['minimum']}",
            )
        if "maximum" in prop:
            value_check(
                typed > prop["maximum"],
                "out_of_range",
                text,
                f" is above the maximum {prop['maximum']}",
            )
        if prop.get("format") == "date-time":
            value_check(
                ~typed.rlike(UTC_TIMESTAMP) | F.try_to_timestamp(typed).isNull(),
                "bad_timestamp",
                quoted,
                " is not an RFC 3339 timestamp in UTC (e.g. 2026-11-23T17:05:00Z)",
            )
        if kind == "object":
            self._object(path, prop, typed)

    def _object(self, prefix: str, schema: dict[str, Any], typed: Column) -> None:
        keys = self._keys(prefix)
        props: dict[str, Any] = schema.get("properties", {})
        for name, prop in props.items():
            path = f"{prefix}.{name}" if prefix else name
            self._property(path, name, prop, prefix, typed[name])
        for name in schema.get("required", []):
            path = f"{prefix}.{name}" if prefix else name
            self.checks.append(
                _violation(
                    ~self._present(prefix, name),
                    path,
                    "missing_field",
                    f"{path}: required but missing",
                )
            )
        if schema.get("additionalProperties") is False:
            extras = F.array_except(
                F.coalesce(keys, F.array().cast("array<string>")),
                F.array(*[F.lit(n) for n in props]),
            )
            self.extra_unknown.append(
                F.coalesce(F.size(keys), F.lit(0)) > self._known_present(prefix)
            )
            for_each = F.transform(
                extras,
                lambda key: F.struct(
                    (F.concat(F.lit(f"{prefix}."), key) if prefix else key).alias("field"),
                    F.when(key.isin(sorted(PII_FIELDS)), "pii_field")
                    .otherwise("unknown_field")
                    .alias("kind"),
                    F.when(
                        key.isin(sorted(PII_FIELDS)),
                        F.concat(
                            F.lit(f"{prefix}." if prefix else ""),
                            key,
                            F.lit(": raw PII is not allowed in events; send ids only"),
                        ),
                    )
                    .otherwise(
                        F.concat(
                            F.lit(f"{prefix}." if prefix else ""),
                            key,
                            F.lit(": unknown field (not in the event contract)"),
                        )
                    )
                    .alias("message"),
                ),
            )
            self.extra_arrays.append(for_each)

    def compile(self) -> Column:
        top_keys = self._keys("")
        self._object("", self.schema, self.event)
        for alternative in self.schema.get("anyOf", []):
            if set(alternative) != {"required"}:
                raise ValueError("event schema: anyOf is only compiled for lists of required")
        if self.schema.get("anyOf"):
            names = [n for alt in self.schema["anyOf"] for n in alt["required"]]
            none = ~balanced(operator.or_, [self._present("", n) for n in names])
            label = "|".join(names)
            self.checks.append(
                _violation(
                    none, label, "missing_identity", f"{label}: at least one of them is required"
                )
            )
        for rule in self.schema.get("allOf", []):
            self._conditional(rule)
        # No higher-order functions over the checks: Spark cannot code-generate those, and a
        # lambda above ~100 checks would make every row go through the interpreter.
        no_violation = F.array(F.lit(None).cast(VIOLATION))
        checks = F.array_except(F.array(*self.checks), no_violation)
        merged = F.sort_array(F.array_distinct(F.concat(checks, *self.extra_arrays)))
        # Fast path: most records are valid, so first test only the (cheap, short-circuiting)
        # conditions and build the violation list for the few that fail.
        flagged = [c.isNotNull() for c in self.checks] + [
            F.coalesce(u, F.lit(True)) for u in self.extra_unknown
        ]
        clean = ~balanced(operator.or_, flagged)
        merged = F.when(clean, F.array().cast(T.ArrayType(VIOLATION))).otherwise(merged)
        # A line that is not a JSON object gets one violation, and only that one.
        not_json = _violation(
            F.get_json_object(self.raw, "$").isNull(),
            "(record)",
            "bad_json",
            "(record): not valid JSON",
        )
        not_object = _violation(
            F.lit(True), "(event)", "not_object", "(event): expected a JSON object"
        )
        return (
            F.when(top_keys.isNotNull(), merged)
            .when(F.get_json_object(self.raw, "$").isNull(), F.array(not_json))
            .otherwise(F.array(not_object))
        )

    def _conditional(self, rule: dict[str, Any]) -> None:
        """``if event_type in ... then required ...`` at the top level and one level down."""
        when = rule["if"]["properties"]["event_type"]
        applies = self.event["event_type"].isin(when.get("enum") or [when["const"]])
        then = rule["then"]
        # (level, field, extra condition): a nested level only counts when it is an object.
        required = [("", name, F.lit(True)) for name in then.get("required", [])] + [
            (parent, name, self._keys(parent).isNotNull())
            for parent, sub in then.get("properties", {}).items()
            for name in sub.get("required", [])
        ]
        for level, name, is_object in required:
            path = f"{level}.{name}" if level else name
            message = F.concat(
                F.lit(f"{path}: required for event_type "),
                _quoted(self.event["event_type"]),
                F.lit(" but missing"),
            )
            self.checks.append(
                _violation(
                    applies & is_object & ~self._present(level, name),
                    path,
                    "missing_field",
                    message,
                )
            )


def with_violations(
    frame: DataFrame, raw: str = "value", event: str = "event", feature_defs_dir: str | None = None
) -> DataFrame:
    """``frame`` plus ``violations``: ``array<struct<field, kind, message>>`` of every contract
    violation of the JSON line in column ``raw`` (parsed with :func:`event_struct` in ``event``).
    An empty array means the record satisfies the contract."""
    compiler = _Compiler(load_schema(feature_defs_dir), F.col(raw), F.col(event))
    helpers = compiler.helpers()
    return (
        frame.withColumns(helpers)
        .withColumn(_PRESENT, compiler.presence())
        .withColumn("violations", compiler.compile())
        .drop(*helpers, _PRESENT)
    )
