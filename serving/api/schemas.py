"""The API's response bodies (its OpenAPI contract) and the published event request body."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from kairos.events import load_schema


class ErrorOut(BaseModel):
    error: str
    detail: str


class ViolationOut(BaseModel):
    field: str
    kind: str
    message: str


class InvalidEventOut(ErrorOut):
    violations: list[ViolationOut]


class ScoresOut(BaseModel):
    customer_id: str
    model: str
    model_version: str
    score: float = Field(ge=0, le=1)
    decile: int = Field(ge=1, le=10, description="1 = the highest-scoring tenth")
    segment: str
    scored_at: str
    run: str
    freshness_seconds: float = Field(description="Seconds since this run went live.")


class AudienceMember(BaseModel):
    customer_id: str
    score: float


class AudienceOut(BaseModel):
    run: str
    model: str
    segment: str | None
    min_score: float
    max_score: float
    total: int = Field(description="Customers in the audience (all pages).")
    customers: list[AudienceMember]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class DecisionOut(BaseModel):
    """A trigger decision. Keys that may not read scores (role ``ingest``) get what a channel
    needs to send it; ``score`` to ``reason`` are only for keys that may read scores."""

    decision_id: str
    event_id: str
    customer_id: str
    rule: str
    outcome: str = Field(
        description="send | holdout | no_consent | capped | suppressed | cancelled"
    )
    channel: str | None
    template: str | None
    send_at: str | None
    rules_version: str
    decided_at: str
    recheck_before_send: bool = Field(
        False,
        description="send_at is later than the decision: consent held when deciding, and the "
        "caller must check it again at send time.",
    )
    score: float | None = None
    segment: str | None = None
    model_version: str | None = None
    run: str | None = None
    reason: str | None = None


class IngestOut(BaseModel):
    event_id: str
    accepted: bool
    replayed: bool = Field(
        description="True when this event id was answered before: the first answer, again, "
        "and nothing changed."
    )
    decisions: list[DecisionOut] = Field(
        description="One per matching rule tried; outcome send | holdout | no_consent | "
        "capped | suppressed."
    )
    dropped: str | None = Field(
        None,
        description="Why an event was not accepted: `erased` (it names an erased customer or "
        "device; counted, never recorded).",
    )


class VariantOut(BaseModel):
    name: str
    weight: float
    template: str
    channels: list[str]
    paused: dict[str, Any] | None = Field(
        None, description="Why it is paused (at, by, evidence), when it is."
    )


class RuleOut(BaseModel):
    name: str
    event_type: str | None = Field(description="The event that fires it; null for a journey.")
    trigger: str = Field(description="What fires it, in words (an event, a sequence, silence).")
    when: str | None
    priority: int
    channels: list[str]
    holdout: float
    experiment: str
    variants: list[VariantOut]


class RulesOut(BaseModel):
    version: str
    source: str
    rules: list[RuleOut]
    last_error: str | None


class ConsentOut(BaseModel):
    customer_id: str
    consent: dict[str, bool] = Field(description="channel -> consented now")


class PrivacyRequestIn(BaseModel):
    customer_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class PrivacyRequestOut(BaseModel):
    id: str
    kind: str = Field(description="export | erasure")
    customer_id: str
    state: str = Field(description="received | running | finished | partially_finished | failed")
    received_at: str
    updated_at: str
    detail: str = Field(description="What was done, and what is left and why.")
    document: str = Field(description="Where the export was written, once finished.")
    model_versions: str = Field(
        "",
        description="An erasure's registered model versions whose training data held the "
        "customer (the next training no longer sees them).",
    )


class ReadyOut(BaseModel):
    ready: bool
    detail: str
    run: str | None = None
    scored_at: str | None = None
    live_age_seconds: float | None = None
    scores_age_seconds: float | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No API key, or an unknown one."},
    403: {"model": ErrorOut, "description": "The key's role may not do this."},
    413: {"model": ErrorOut, "description": "The request body is over the size limit."},
    429: {"model": ErrorOut, "description": "Over the key's rate limit."},
    503: {"model": ErrorOut, "description": "Redis unreachable or no scores live yet."},
}


def openapi_event_schema(feature_defs_dir: str) -> dict[str, Any]:
    """The event contract as the OpenAPI request body: its fields, types and ranges.

    The per-event-type requirements (``allOf`` of ``if``/``then``) stay out of the published
    document, which generators such as schemathesis cannot sample from; the API still checks
    them with the full contract and answers 422 naming the missing field.
    """
    contract = load_schema(feature_defs_dir)
    body = {k: v for k, v in contract.items() if not k.startswith("$") and k != "allOf"}
    body["description"] = (
        f"{contract.get('description', '')} Per-event-type required properties (e.g. "
        "cart_abandoned needs properties.cart_value and items) are enforced as in "
        "feature_defs/events/event.schema.json."
    )
    return body


class ArmPerformanceOut(BaseModel):
    """One arm of a rule's experiment; lifts are the variant's over the holdout (none on the
    holdout's own row), on conversion unless prefixed ``revenue_`` (revenue per customer)."""

    arm: str
    share: float | None = Field(description="Configured share of customers.")
    customers: int = Field(description="Customers whose attribution window has closed.")
    conversions: int
    conversion_rate: float | None
    revenue: float
    revenue_per_customer: float | None
    mixed_excluded: int = Field(description="Customers exposed to more than one arm: left out.")
    open_windows: int = Field(description="Customers whose window is still open: not yet in.")
    lift: float | None = Field(description="Absolute lift in conversion rate.")
    lift_low: float | None = Field(description="Fixed-horizon 95% interval (Welch).")
    lift_high: float | None
    sequential_low: float | None = Field(
        description="Always-valid 95% interval (normal-mixture confidence sequence): the one "
        "the guardrail acts on, valid however often it is looked at."
    )
    sequential_high: float | None
    relative_lift: float | None
    relative_low: float | None = Field(description="95% interval by the delta method.")
    relative_high: float | None
    p_value: float | None
    revenue_lift: float | None
    revenue_lift_low: float | None
    revenue_lift_high: float | None
    revenue_p_value: float | None
    srm_p_value: float | None = Field(description="Sample-ratio chi-square test of the rule.")
    srm: bool | None
    verdict: str = Field(description="What the figures say: see status.")
    status: str = Field(
        description="control | collecting | srm | winning | losing | inconclusive | paused | "
        "unconfigured"
    )
    paused: dict[str, Any] | None = Field(None, description="Who paused it, when and why.")


class PerformanceOut(BaseModel):
    rule: str
    experiment: str
    as_of: str | None = Field(description="The hour end measured; null before the first run.")
    rows: list[ArmPerformanceOut]


class ReachOut(BaseModel):
    run: str
    model: str
    segment: str | None
    min_score: float
    max_score: float
    deciles: list[int] = Field(description="The decile filter [first, last]; 1 = top tenth.")
    score_range: list[float] | None = Field(
        description="The score range counted once the decile filter applies; null if empty."
    )
    total: int = Field(description="Customers selected (what GET /v1/audiences totals).")
    reach: dict[str, int] = Field(description="channel -> selected customers it may contact.")
    consent_defaults: dict[str, bool] = Field(
        description="What the consent policy grants each channel when a customer said nothing."
    )


class BucketOut(BaseModel):
    low: float
    high: float = Field(description="Exclusive, except for the last bucket (score 1).")
    customers: int


class HistogramOut(BaseModel):
    run: str
    model: str
    segment: str | None
    buckets: list[BucketOut]


class CellOut(BaseModel):
    r: int = Field(ge=1, le=5, description="Recency score, 5 = most recent.")
    fm: int = Field(ge=1, le=5, description="Frequency-and-monetary score, 5 = highest.")
    segment: str
    customers: int


class SegmentOut(BaseModel):
    name: str
    customers: int
    description: str


class RunHistoryOut(BaseModel):
    run: str
    status: str | None
    scored_at: str | None
    created_at: float
    live_at: float | None
    rows: int
    reason: str | None
    segments: dict[str, int]


class SegmentsOut(BaseModel):
    run: str
    scored_at: str
    rows: int
    has_grid: bool = Field(description="False for a run materialized before the grid counts.")
    grid: list[CellOut] = Field(description="25 cells, r from 5 down to 1, fm from 1 to 5.")
    segments: list[SegmentOut]
    history: list[RunHistoryOut] = Field(description="The last runs, newest first.")


class RuleSummaryOut(BaseModel):
    name: str
    trigger: str
    when: str | None
    priority: int
    channels: list[str]
    cap: str = Field(description="The frequency cap, in words.")
    holdout: float
    experiment: str
    variants: list[VariantOut]
    decisions: dict[str, dict[str, int]] = Field(
        description="`hour` and `day` -> outcome -> decisions recorded."
    )
    performance: PerformanceOut


class RuleSummariesOut(BaseModel):
    version: str
    max_messages_per_day: int | None
    rules: list[RuleSummaryOut]


class HealthOut(BaseModel):
    live: dict[str, Any] | None = Field(description="The live run and its age; null if none.")
    champion: dict[str, Any] | None = Field(
        description="The served model's name, version and holdout metrics."
    )
    data: dict[str, Any] | None = Field(
        description="The last hour's quarantine share, duplicate rate, identity match rate."
    )
    published_at: float | None
    runs: list[RunHistoryOut]
    scheduler: dict[str, str]
    streams: dict[str, int]
    api: dict[str, Any] = Field(
        description="This API process's request latency p50/p99 (from its /metrics histogram)."
    )


class MeOut(BaseModel):
    name: str
    role: str
    may: list[str] = Field(description="What the key's role may do, in words.")
