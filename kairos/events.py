"""The event contract: one JSON Schema (``feature_defs/events/event.schema.json``), one validator.

The HTTP API, the batch quarantine and the data generator's tests all call this module,
so "valid" means the same thing everywhere. Each violation names the field and what
is wrong with it, in words a producer can act on::

    >>> EventValidator().violations({"event_type": "page_vew", ...})
    [Violation(field='event_type', kind='unknown_event_type',
               message="event_type: unknown event type 'page_vew' (known: page_view, ...)")]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from kairos.settings import get_settings

SCHEMA_FILE = Path("events") / "event.schema.json"
PII_FIELDS = frozenset({"email", "name", "first_name", "last_name", "phone", "address"})

_format_checker = FormatChecker(formats=())


@_format_checker.checks("date-time", raises=ValueError)
def _is_utc_timestamp(value: object) -> bool:
    """RFC 3339 date-time whose offset is UTC (``Z`` or ``+00:00``)."""
    if not isinstance(value, str) or "T" not in value:
        return False
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


@dataclass(frozen=True, order=True)
class Violation:
    """One way an event breaks the contract."""

    field: str
    kind: str
    message: str


MAX_CLOCK_SKEW = timedelta(minutes=5)  # the lake's gate allows the same (arrival lag >= -0.1 h)


def future_violation(event: dict[str, Any], now: datetime) -> Violation | None:
    """A contract-valid event dated more than :data:`MAX_CLOCK_SKEW` after ``now``.

    The lake quarantines these; the API must refuse them too, or a consent grant dated in the
    future would outrank every later withdrawal (consent is newest-change-wins).
    """
    at = datetime.fromisoformat(str(event["occurred_at"]).replace("Z", "+00:00"))
    if at <= now + MAX_CLOCK_SKEW:
        return None
    return Violation(
        "occurred_at",
        "from_the_future",
        f"occurred_at: {event['occurred_at']} is more than {MAX_CLOCK_SKEW.seconds // 60} "
        f"minutes after the server's clock ({now.isoformat(timespec='seconds')})",
    )


class EventContractError(ValueError):
    """Raised by :meth:`EventValidator.check` with every violation of one event."""

    def __init__(self, violations: list[Violation]):
        self.violations = violations
        super().__init__("; ".join(v.message for v in violations))


def schema_path(feature_defs_dir: str | None = None) -> Path:
    return Path(feature_defs_dir or get_settings().feature_defs_dir) / SCHEMA_FILE


@lru_cache(maxsize=4)
def load_schema(feature_defs_dir: str | None = None) -> dict[str, Any]:
    """The event JSON Schema as a dict."""
    schema: dict[str, Any] = json.loads(schema_path(feature_defs_dir).read_text())
    Draft202012Validator.check_schema(schema)
    return schema


PYTHON_END = r"\Z"  # the absolute end of a string in Python's re; Java's regex spells it \z


def end_anchored(pattern: str, end: str = PYTHON_END) -> str:
    """A contract pattern for an engine whose ``$`` also matches before a final newline.

    JSON Schema patterns are ECMA-262 regular expressions, whose ``$`` (without the multiline
    flag) matches only at the very end. Python's ``re`` and Java's regex also match ``$`` just
    before a trailing ``\\n``, so ``^[A-Za-z0-9_.:-]+$`` accepted the customer id ``"c-9\\n"``.
    A closing ``$`` becomes ``end`` (``\\Z`` for Python, ``\\z`` for Java).
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        return pattern[: -len("$")] + end
    return pattern


def _as_written(pattern: str) -> str:
    """The contract's own pattern back from its :func:`end_anchored` form (for messages)."""
    return pattern[: -len(PYTHON_END)] + "$" if pattern.endswith(PYTHON_END) else pattern


def _for_python(schema: Any) -> Any:
    """``schema`` with every ``pattern`` :func:`end_anchored` for Python's ``re``."""
    if isinstance(schema, dict):
        return {
            k: end_anchored(v) if k == "pattern" and isinstance(v, str) else _for_python(v)
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_for_python(v) for v in schema]
    return schema


# Events about Kairos's own messages (from its connectors or the channel providers' callbacks)
# and the operators' suppression: in the contract, but never produced by shoppers.
DELIVERED, FAILED, OPENED, CLICKED = (
    "message_delivered",
    "message_failed",
    "message_opened",
    "message_clicked",
)
DELIVERY_FEEDBACK = (DELIVERED, FAILED, OPENED, CLICKED)
SUPPRESS = "suppress"


def event_types(feature_defs_dir: str | None = None) -> list[str]:
    """The known event types, in contract order."""
    return list(load_schema(feature_defs_dir)["properties"]["event_type"]["enum"])


def _field(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(event)"


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


def _describe(error: ValidationError, event: Any) -> list[Violation]:
    """Turn one jsonschema error into field-level violations with plain messages."""
    field = _field(error.absolute_path)
    kind = str(error.validator)
    value: Any = error.instance
    rule: Any = error.validator_value
    subschema: Any = error.schema
    if kind == "required":
        missing = [m for m in rule if not isinstance(value, dict) or m not in value]
        etype = event.get("event_type") if isinstance(event, dict) else None
        why = f" for event_type {etype!r}" if etype and len(error.relative_schema_path) > 1 else ""
        out = []
        for name in missing:
            full = name if field == "(event)" else f"{field}.{name}"
            out.append(Violation(full, "missing_field", f"{full}: required{why} but missing"))
        return out
    if kind == "additionalProperties":
        extras = sorted(set(value) - set(subschema.get("properties", {})))
        out = []
        for name in extras:
            full = name if field == "(event)" else f"{field}.{name}"
            if name in PII_FIELDS:
                out.append(
                    Violation(
                        full,
                        "pii_field",
                        f"{full}: raw PII is not allowed in events; send ids only",
                    )
                )
            else:
                out.append(
                    Violation(
                        full, "unknown_field", f"{full}: unknown field (not in the event contract)"
                    )
                )
        return out
    if kind == "anyOf" and field == "(event)":
        return [
            Violation(
                "customer_id|anonymous_id",
                "missing_identity",
                "customer_id|anonymous_id: at least one of them is required",
            )
        ]
    if kind == "type":
        expected = rule
        expected_text = " or ".join(expected) if isinstance(expected, list) else expected
        got = _JSON_TYPES.get(type(value), type(value).__name__)
        return [
            Violation(
                field, "wrong_type", f"{field}: expected {expected_text}, got {got} {_short(value)}"
            )
        ]
    if kind == "enum" and field == "event_type":
        known = ", ".join(str(v) for v in rule)
        return [
            Violation(
                field,
                "unknown_event_type",
                f"{field}: unknown event type {_short(value)} (known: {known})",
            )
        ]
    if kind == "enum":
        allowed = ", ".join(str(v) for v in rule if v is not None)
        return [Violation(field, "bad_value", f"{field}: {_short(value)} is not one of {allowed}")]
    if kind == "const":
        return [
            Violation(
                field,
                "bad_value",
                f"{field}: must be {rule!r}, got {_short(value)}",
            )
        ]
    if kind == "format":
        return [
            Violation(
                field,
                "bad_timestamp",
                f"{field}: {_short(value)} is not an RFC 3339 timestamp in UTC "
                "(e.g. 2026-11-23T17:05:00Z)",
            )
        ]
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = "below the minimum" if "inimum" in kind else "above the maximum"
        return [
            Violation(
                field,
                "out_of_range",
                f"{field}: {_short(value)} is {bound} {rule}",
            )
        ]
    if kind in ("minLength", "maxLength", "pattern"):
        rule = {
            "minLength": f"shorter than {rule} characters",
            "maxLength": f"longer than {rule} characters",
            # the contract's own pattern, not the one anchored for Python
            "pattern": f"does not match {_as_written(str(rule))}",
        }[kind]
        return [
            Violation(
                field,
                "bad_value",
                f"{field}: {_short(value)} is {rule}"
                if kind != "pattern"
                else f"{field}: {_short(value)} {rule}",
            )
        ]
    return [Violation(field, "invalid", f"{field}: {error.message}")]


def _utc_timestamp(value: str) -> bool:
    try:
        return _is_utc_timestamp(value)
    except ValueError:
        return False


def _compile_fast(schema: dict[str, Any]) -> Any:
    """The same schema compiled to Python by fastjsonschema, for the valid-or-not answer.

    fastjsonschema speaks draft-07; the contract uses no keyword newer than that (a unit
    test runs every example through both validators and requires the same verdict).
    """
    draft7 = {**schema, "$schema": "http://json-schema.org/draft-07/schema#"}
    return fastjsonschema.compile(draft7, formats={"date-time": _utc_timestamp})


class EventValidator:
    """Validates events against the contract; reuse one instance (it compiles the schema once)."""

    def __init__(self, feature_defs_dir: str | None = None):
        self.schema = load_schema(feature_defs_dir)
        anchored = _for_python(self.schema)
        self._validator = Draft202012Validator(anchored, format_checker=_format_checker)
        self._fast = _compile_fast(anchored)

    def violations(self, event: Any) -> list[Violation]:
        """Every violation of one parsed event, sorted by field; [] when valid."""
        if not isinstance(event, dict):
            got = _JSON_TYPES.get(type(event), type(event).__name__)
            return [
                Violation("(event)", "not_object", f"(event): expected a JSON object, got {got}")
            ]
        try:
            self._fast(event)
            return []  # the common case: valid, decided by generated code in microseconds
        except fastjsonschema.JsonSchemaException:
            pass  # invalid: the reference validator explains every violation
        found: set[Violation] = set()
        for error in self._validator.iter_errors(event):
            # if/then failures report their inner errors as context; descend to them.
            leaves = [error] if not error.context or error.validator == "anyOf" else error.context
            for leaf in leaves:
                found.update(_describe(leaf, event))
        # A value of the wrong type fails its other keywords too; report only the type.
        mistyped = {v.field for v in found if v.kind == "wrong_type"}
        return sorted(v for v in found if v.kind == "wrong_type" or v.field not in mistyped)

    def check(self, event: Any) -> dict[str, Any]:
        """Return the event if valid, else raise :class:`EventContractError`."""
        found = self.violations(event)
        if found:
            raise EventContractError(found)
        return event

    def parse_line(self, line: str) -> tuple[dict[str, Any] | None, list[Violation]]:
        """Parse and validate one JSON Lines record."""
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            return None, [
                Violation(
                    "(record)",
                    "bad_json",
                    f"(record): not valid JSON ({exc.msg} at column {exc.colno})",
                )
            ]
        found = self.violations(event)
        return (event if not found else None), found
