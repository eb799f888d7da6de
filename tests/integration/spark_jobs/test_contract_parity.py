"""The Spark compilation of the contract agrees with the Python validator, record by record."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kairos.datagen import generate
from kairos.events import EventValidator
from kairos.landing import LocalLanding
from spark_jobs.contract import event_struct, with_violations

EXAMPLES = json.loads(
    (Path(__file__).parents[2] / "unit" / "kairos" / "data" / "event_examples.json").read_text()
)


def _example_lines() -> list[str]:
    lines = [json.dumps(c["event"]) for c in EXAMPLES["valid"]]
    base = EXAMPLES["valid"][2]["event"]
    for case in EXAMPLES["invalid"]:
        event = copy.deepcopy(base)
        for name in case.get("drop", []):
            event.pop(name)
        event.update(case.get("patch", {}))
        lines.append(json.dumps(event))
    return [
        *lines,
        '{"event_id": "ev-1", "event_type": ',  # broken JSON
        "[1, 2]",  # JSON, not an object
        '{"event_id": 5}',  # number for a string, and most fields missing
        '{"event_id":"ev-00000001","event_type":"purchase","occurred_at":"2026-11-23T10:00:00Z",'
        '"channel":"web","schema_version":"1","properties":"x"}',
    ]


def test_spark_and_python_validators_agree(spark: SparkSession, tmp_path: Path) -> None:
    report = generate(
        LocalLanding(str(tmp_path)),
        customers=300,
        start=datetime(2026, 11, 2, 8, tzinfo=UTC),
        hours=4,
        seed=2,
        bad_share=0.1,
    )
    lines = _example_lines() + [
        line for f in report.files for line in Path(f).read_text().splitlines()
    ]
    frame = spark.createDataFrame([(line,) for line in lines], "value string")
    checked = with_violations(frame.withColumn("event", F.from_json("value", event_struct())))
    validator = EventValidator()
    disagreements = []
    rows = checked.select("value", "violations").collect()
    assert len(rows) == len(lines)
    for row in rows:
        _, expected = validator.parse_line(row.value)
        want = {(v.field, v.kind) for v in expected}
        got = {(v.field, v.kind) for v in row.violations}
        if want != got:
            disagreements.append((row.value[:120], sorted(want), sorted(got)))
    assert disagreements == []
    invalid = sum(1 for r in rows if r.violations)
    assert invalid >= sum(report.malformed.values()) > 0
