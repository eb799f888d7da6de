"""Trigger rules (``feature_defs/triggers.yaml``): loaded, validated and compiled once.

Conditions are written in `rule-engine <https://pypi.org/project/rule-engine/>`_, a small,
typed expression language with no access to Python (no ``eval``). Every name a condition
may use is declared with its type before the condition is compiled, so a misspelt name, a
type mismatch or a syntax error is reported when the file is loaded, naming the file, the
rule and the field::

    triggers.yaml: rule 'cart_rescue', field 'when': unknown name 'scor' (did you mean 'score'?)

Names come from the data they describe, not from a second copy in code: event properties and
their types from the event contract, event types likewise, channels from the consent policy.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import rule_engine
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kairos.consent import default_consent
from kairos.events import event_types, load_schema
from kairos.performance import HOLDOUT

RULES_FILE = "triggers.yaml"

# Live values a condition can use besides the event's own fields and properties.
SCORE_NAMES = {"score": "FLOAT", "decile": "FLOAT", "segment": "STRING", "model_version": "STRING"}
SESSION_NAMES = {
    "session_events": "FLOAT",
    "session_product_views": "FLOAT",
    "session_cart_adds": "FLOAT",
    "session_minutes": "FLOAT",
}
EVENT_NAMES = {"event_type": "STRING", "channel": "STRING", "device": "STRING"}
_JSON_TO_RULE = {"number": "FLOAT", "integer": "FLOAT", "string": "STRING", "boolean": "BOOLEAN"}


class RuleError(ValueError):
    """A trigger rules file is invalid; the message names file, rule and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Action(_Strict):
    channel: str
    template: str = Field(min_length=1, max_length=128)
    delay_minutes: int = Field(0, ge=0, le=7 * 24 * 60)


class Variant(_Strict):
    """One arm of a rule's experiment: what it changes in the action (nothing: the action as
    written), and its share of the customers not held out (``weight``, relative)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    weight: float = Field(1.0, gt=0)
    template: str | None = Field(None, min_length=1, max_length=128)
    channel: str | None = None
    delay_minutes: int | None = Field(None, ge=0, le=7 * 24 * 60)


DEFAULT_VARIANT = Variant(name="default")
HOLDOUT_ARM = HOLDOUT  # not a variant name: the control group is its own arm


class FrequencyCap(_Strict):
    max: int = Field(ge=1)
    per_hours: int = Field(ge=1, le=24 * 365)


class QuietHours(_Strict):
    start: clock
    end: clock
    timezone: str = "UTC"
    channels: tuple[str, ...] = ("push", "sms")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    def contains(self, local: clock) -> bool:
        """Is a local wall-clock time inside the quiet window (which may span midnight)?"""
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


class RuleSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    description: str = ""
    owner: str = ""
    event_type: str
    when: str | None = None
    priority: int = 0
    action: Action
    fallback_channels: tuple[str, ...] = ()
    frequency_cap: FrequencyCap | None = None
    holdout: float = Field(0.0, ge=0.0, lt=1.0)
    quiet_hours: QuietHours | None = None
    # The experiment: its salt (a new one reassigns every customer and starts measuring
    # afresh), its variants (none: the action alone) and how long after a decision a
    # purchase counts for it.
    experiment: str = Field("", max_length=64, pattern=r"^[A-Za-z0-9_.:-]*$")
    variants: tuple[Variant, ...] = ()
    attribution_hours: int = Field(72, ge=1, le=24 * 90)


@dataclass(frozen=True)
class TriggerRule:
    """A validated rule with its compiled condition."""

    spec: RuleSpec
    condition: rule_engine.Rule | None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def channels(self) -> tuple[str, ...]:
        """The action's channel, then the fallbacks, in the order they are tried."""
        return (self.spec.action.channel, *self.spec.fallback_channels)

    def _uniform(self, purpose: str, customer_id: str) -> float:
        """A number in [0, 1) fixed by rule, experiment salt, purpose and customer. Without a
        salt the holdout keeps the hash it always had (rule and customer), so control groups
        drawn before experiments existed stay as they were."""
        salt = self.spec.experiment
        if purpose == "holdout" and not salt:
            key = f"{self.name}:{customer_id}"
        else:
            key = f"{self.name}:{salt}:{purpose}:{customer_id}"
        digest = hashlib.sha256(key.encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def in_holdout(self, customer_id: str) -> bool:
        """Deterministic control-group membership: a hash of rule, experiment salt and
        customer, no state (without a salt, the hash of rule and customer it always was)."""
        if self.spec.holdout <= 0:
            return False
        return self._uniform("holdout", customer_id) < self.spec.holdout

    @property
    def variants(self) -> tuple[Variant, ...]:
        return self.spec.variants or (DEFAULT_VARIANT,)

    def variant_for(self, customer_id: str, paused: frozenset[str] = frozenset()) -> Variant | None:
        """The customer's variant among those not ``paused``, by weight (a paused variant's
        share goes to the others); None when every variant is paused."""
        active = [v for v in self.variants if v.name not in paused]
        if not active:
            return None
        point = self._uniform("variant", customer_id) * sum(v.weight for v in active)
        for variant in active:
            point -= variant.weight
            if point < 0:
                return variant
        return active[-1]

    def shares(self) -> dict[str, float]:
        """The configured share of customers of each arm: the holdout's, and the rest split
        between the variants by weight (before any pause)."""
        total = sum(v.weight for v in self.variants)
        treated = 1.0 - self.spec.holdout
        shares = {v.name: treated * v.weight / total for v in self.variants}
        if self.spec.holdout > 0:
            shares[HOLDOUT_ARM] = self.spec.holdout
        return shares

    def channels_of(self, variant: Variant) -> tuple[str, ...]:
        """The variant's channel (or the action's), then the fallbacks, each once."""
        first = variant.channel or self.spec.action.channel
        return (first, *[c for c in self.spec.fallback_channels if c != first])


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[TriggerRule, ...]
    version: str  # content hash of the file, recorded on every decision
    source: str

    def for_event(self, event_type: str) -> list[TriggerRule]:
        """Rules listening to an event type, highest priority first (ties by name)."""
        matching = [r for r in self.rules if r.spec.event_type == event_type]
        return sorted(matching, key=lambda r: (-r.spec.priority, r.name))


def condition_types(feature_defs_dir: str | None = None) -> dict[str, str]:
    """Every name a condition may use, with its rule-engine type."""
    schema = load_schema(feature_defs_dir)
    props = schema["properties"]["properties"]["properties"]
    names = dict(EVENT_NAMES)
    for name, spec in props.items():
        json_type = spec.get("type")
        if isinstance(json_type, str) and json_type in _JSON_TO_RULE:
            names[name] = _JSON_TO_RULE[json_type]
    names.update(SCORE_NAMES)
    names.update(SESSION_NAMES)
    return names


def _context(feature_defs_dir: str | None) -> rule_engine.Context:
    types = {
        n: getattr(rule_engine.DataType, t) for n, t in condition_types(feature_defs_dir).items()
    }
    return rule_engine.Context(
        type_resolver=rule_engine.type_resolver_from_dict(types), default_value=None
    )


def _compile(
    where: str, text: str, context: rule_engine.Context, names: list[str]
) -> rule_engine.Rule:
    try:
        return rule_engine.Rule(text, context=context)
    except rule_engine.SymbolResolutionError as err:
        close = difflib.get_close_matches(err.symbol_name, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise RuleError(f"{where}: unknown name {err.symbol_name!r}{hint}") from None
    except rule_engine.RuleSyntaxError as err:
        token = getattr(err.token, "value", None)
        near = f" near {token!r}" if token is not None else " (incomplete expression)"
        raise RuleError(f"{where}: syntax error{near} in {text!r}") from None
    except rule_engine.EngineError as err:
        raise RuleError(f"{where}: {err.message} in {text!r}") from None


def _pydantic_message(err: ValidationError) -> tuple[str, str]:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(rule)"
    return field, first["msg"]


def parse_rules(document: Any, source: str, feature_defs_dir: str | None = None) -> RuleSet:
    """Validate a parsed YAML document; raises :class:`RuleError` on the first problem."""
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise RuleError(f"{source}: expected a mapping with a 'rules' list")
    known_events = set(event_types(feature_defs_dir))
    channels = {c for c in default_consent(feature_defs_dir) if c != "scoring"}
    context = _context(feature_defs_dir)
    names = list(condition_types(feature_defs_dir))
    rules: list[TriggerRule] = []
    seen: set[str] = set()
    for index, raw in enumerate(document["rules"]):
        label = raw.get("name", f"#{index + 1}") if isinstance(raw, dict) else f"#{index + 1}"
        where = f"{source}: rule {label!r}"
        try:
            spec = RuleSpec.model_validate(raw)
        except ValidationError as err:
            field, msg = _pydantic_message(err)
            raise RuleError(f"{where}, field {field!r}: {msg}") from None
        if spec.name in seen:
            raise RuleError(f"{where}, field 'name': duplicate rule name")
        seen.add(spec.name)
        if spec.event_type not in known_events:
            raise RuleError(
                f"{where}, field 'event_type': unknown event type {spec.event_type!r} "
                f"(known: {', '.join(sorted(known_events))})"
            )
        for field, channel in [("action.channel", spec.action.channel)] + [
            ("fallback_channels", c) for c in spec.fallback_channels
        ]:
            if channel not in channels:
                raise RuleError(
                    f"{where}, field {field!r}: unknown channel {channel!r} "
                    f"(known: {', '.join(sorted(channels))})"
                )
        tried = (spec.action.channel, *spec.fallback_channels)
        if len(set(tried)) != len(tried):
            raise RuleError(f"{where}, field 'fallback_channels': a channel is listed twice")
        named = [v.name for v in spec.variants]
        if len(set(named)) != len(named) or HOLDOUT_ARM in named:
            raise RuleError(
                f"{where}, field 'variants': names must be distinct and not {HOLDOUT_ARM!r}"
            )
        for variant in spec.variants:
            if variant.channel is not None and variant.channel not in channels:
                raise RuleError(
                    f"{where}, field 'variants.{variant.name}.channel': unknown channel "
                    f"{variant.channel!r} (known: {', '.join(sorted(channels))})"
                )
        condition = (
            _compile(f"{where}, field 'when'", spec.when, context, names) if spec.when else None
        )
        rules.append(TriggerRule(spec, condition))
    return RuleSet(tuple(rules), _fingerprint(document), source)


def _fingerprint(document: Any) -> str:
    return hashlib.sha256(yaml.safe_dump(document, sort_keys=True).encode()).hexdigest()[:12]


def load_rules(path: str | Path, feature_defs_dir: str | None = None) -> RuleSet:
    """Read and validate a rules file."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise RuleError(f"{path}: no such rules file") from None
    except yaml.YAMLError as err:
        raise RuleError(f"{path.name}: not valid YAML: {err}") from None
    return parse_rules(document, path.name, feature_defs_dir)
