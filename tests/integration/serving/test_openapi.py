"""Schemathesis against the API's own OpenAPI document: no generated request gives a 5xx.

Every operation gets generated requests, positive and negative (valid and invalid path,
query and body values; events drawn from the event contract's JSON Schema), sent with an
admin key and with a marketing key, to a real uvicorn over a real Redis holding a live run.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.integration.serving.conftest import Api, publish, score_rows

EXAMPLES = 60


@pytest.mark.node_only("it fuzzes the HTTP schema; every Redis call it reaches runs in the rest")
def test_no_generated_request_gives_a_server_error(api: Api, server: str) -> None:
    # Scores as of this hour: the service is ready, so /readyz answers 200 (not a stale 503).
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    publish(api.redis, api.layout, score_rows(200), scored_at=now)
    schema = schemathesis.openapi.from_url(f"{server}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 23
    calls: dict[str, int] = {}

    for operation, mode in itertools.product(operations, GenerationMode):
        label = f"{operation.label} ({mode.value})"

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_5xx(case) -> None:  # type: ignore[no-untyped-def]
            for role in ("admin", "marketing"):
                case.call_and_validate(
                    base_url=server, headers=api.auth(role), checks=[not_a_server_error]
                )
                calls[label] = calls.get(label, 0) + 1  # noqa: B023 (called right here)

        try:
            no_5xx()
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                raise  # only an operation without inputs has nothing negative to send
    assert len(calls) >= 12 and all(count >= 2 for count in calls.values()), calls
    print(f"schemathesis: {sum(calls.values())} requests over {len(calls)} operations, no 5xx")
