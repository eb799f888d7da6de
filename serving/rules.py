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
import re
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
from kairos.feature_defs import first_problem, read_yaml
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


_DURATION = re.compile(r"^([1-9][0-9]{0,5})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WITHIN_DAYS = 30


def duration_seconds(text: str) -> int:
    """``"30m"`` -> 1800: a whole number and one unit (s, m, h, d)."""
    found = _DURATION.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 2h or 3d")
    return int(found.group(1)) * _UNIT_SECONDS[found.group(2)]


class RuleSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    description: str = ""
    owner: str = ""
    # What triggers the rule: one event (``event_type``), or a journey that starts with
    # ``after``: with ``then`` it fires on that event when ``after`` happened ``within`` before
    # it (a sequence); without, it fires when ``within`` passes after ``after`` with none of
    # the ``unless`` events (an absence: abandonment detected from silence). ``unless`` on any
    # rule also cancels its pending sends when one of those events happens before the send.
    event_type: str | None = None
    after: str | None = None
    then: str | None = None
    unless: tuple[str, ...] = ()
    within: str | None = None
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

    @field_validator("within")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and duration_seconds(value) > MAX_WITHIN_DAYS * 86400:
            raise ValueError(f"at most {MAX_WITHIN_DAYS}d")
        return value

    def shape_error(self) -> tuple[str, str] | None:
        """(field, message) when the trigger fields do not make one of the three kinds."""
        if (self.event_type is None) == (self.after is None):
            return "event_type", "give either event_type or after (a journey), not both"
        if self.after is None:
            return ("then", "then needs after") if self.then else None
        if self.within is None:
            return "within", "a journey (after) needs within, e.g. 30m"
        if self.then is None and not self.unless:
            return "unless", "after without then needs the unless events that close the window"
        if self.then == self.after:
            return "then", "then must be another event than after"
        if self.after in self.unless or (self.then and self.then in self.unless):
            return "unless", "an exit event cannot also start or complete the journey"
        return None


EVENT, SEQUENCE, ABSENCE = "event", "sequence", "absence"


@dataclass(frozen=True)
class TriggerRule:
    """A validated rule with its compiled condition."""

    spec: RuleSpec
    condition: rule_engine.Rule | None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        """``event`` (fires on its event), ``sequence`` (after ... then) or ``absence``
        (after ... unless, fired by the scheduler when the window closes)."""
        if self.spec.after is None:
            return EVENT
        return SEQUENCE if self.spec.then else ABSENCE

    @property
    def fires_on(self) -> str | None:
        """The event type whose arrival may fire the rule (none for an absence)."""
        return self.spec.event_type or self.spec.then

    @property
    def trigger(self) -> str:
        """What fires the rule, in words."""
        spec = self.spec
        if self.kind == EVENT:
            return str(spec.event_type)
        if self.kind == SEQUENCE:
            return f"{spec.after} then {spec.then} within {spec.within}"
        return f"{spec.after}, then no {'/'.join(spec.unless)} for {spec.within}"

    @property
    def within_ms(self) -> int:
        return duration_seconds(self.spec.within) * 1000 if self.spec.within else 0

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
    # At most this many messages a day to one customer from all rules together, checked
    # when each is sent (0: no limit).
    max_messages_per_day: int = 0

    def for_event(self, event_type: str) -> list[TriggerRule]:
        """Rules an event of this type may fire (its own rules, and sequences it completes),
        highest priority first (ties by name)."""
        matching = [r for r in self.rules if r.fires_on == event_type]
        return sorted(matching, key=lambda r: (-r.spec.priority, r.name))

    def journeys_for(self, event_type: str) -> list[TriggerRule]:
        """Journey rules whose state an event of this type changes (it starts, completes or
        closes their window)."""
        return [
            r
            for r in self.rules
            if r.kind != EVENT and event_type in (r.spec.after, r.spec.then, *r.spec.unless)
        ]

    def by_name(self, name: str) -> TriggerRule | None:
        return next((r for r in self.rules if r.name == name), None)

    @property
    def exit_events(self) -> frozenset[str]:
        """Every event type some rule lists in ``unless``: their latest time per customer is
        kept, so a pending send can be cancelled by one."""
        return frozenset(u for r in self.rules for u in r.spec.unless)


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


def parse_rules(document: Any, source: str, feature_defs_dir: str | None = None) -> RuleSet:
    """Validate a parsed YAML document; raises :class:`RuleError` on the first problem."""
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise RuleError(f"{source}: expected a mapping with a 'rules' list")
    daily = document.get("max_messages_per_day", 0)
    if not isinstance(daily, int) or isinstance(daily, bool) or daily < 0:
        raise RuleError(f"{source}: max_messages_per_day must be a whole number >= 0")
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
            field, msg = first_problem(err)
            raise RuleError(f"{where}, field {field!r}: {msg}") from None
        if spec.name in seen:
            raise RuleError(f"{where}, field 'name': duplicate rule name")
        seen.add(spec.name)
        if shape := spec.shape_error():
            raise RuleError(f"{where}, field {shape[0]!r}: {shape[1]}")
        named_events = [
            (field, value)
            for field, value in [
                ("event_type", spec.event_type),
                ("after", spec.after),
                ("then", spec.then),
            ]
            if value is not None
        ] + [("unless", u) for u in spec.unless]
        for field, value in named_events:
            if value not in known_events:
                raise RuleError(
                    f"{where}, field {field!r}: unknown event type {value!r} "
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
    return RuleSet(tuple(rules), _fingerprint(document), source, daily)


def _fingerprint(document: Any) -> str:
    return hashlib.sha256(yaml.safe_dump(document, sort_keys=True).encode()).hexdigest()[:12]


def load_rules(path: str | Path, feature_defs_dir: str | None = None) -> RuleSet:
    """Read and validate a rules file."""
    path = Path(path)
    document = read_yaml(path, RuleError, "rules file")
    return parse_rules(document, path.name, feature_defs_dir)
