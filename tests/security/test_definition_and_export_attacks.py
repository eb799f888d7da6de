"""Attacks through what users edit or open: a feature definition that runs Java on the
cluster, an audience CSV that runs a formula in the marketer's spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from kairos.feature_defs import DefinitionError, parse_features
from kairos.settings import get_settings
from serving.__main__ import main
from tests.integration.serving.conftest import Api, publish, score_rows

COUNT = {
    "name": "oops",
    "description": "a count with a filter",
    "entity": "customer",
    "source": ["purchase"],
    "aggregation": "count",
    "window": "7d",
    "dtype": "long",
    "default": 0,
    "owner": "attacker",
    "version": 1,
}


@pytest.mark.parametrize(
    ("field", "expression", "called"),
    [
        ("filter", "reflect('java.lang.Runtime', 'getRuntime') IS NOT NULL", "reflect"),
        ("filter", "JAVA_METHOD('java.lang.System', 'exit', 0) IS NULL", "java_method"),
        (
            "filter",
            "`try_reflect` /* hidden */ ('java.lang.Thread', 'sleep', 1) IS NULL",
            "try_reflect",
        ),
        ("filter", "system.builtin.reflect('java.lang.System', 'getenv') IS NOT NULL", "reflect"),
    ],
)
def test_a_feature_expression_that_calls_java_is_refused(
    field: str, expression: str, called: str
) -> None:
    """Spark SQL's reflect/java_method call any static Java method on the driver and every
    executor: a features.yaml edit must not become code run on the cluster."""
    entry = {**COUNT, field: expression}
    with pytest.raises(DefinitionError) as refused:
        parse_features({"features": [entry]}, Path("features.yaml"), {"purchase"})
    assert f"feature 'oops', field '{field}'" in str(refused.value)
    assert f"calls {called}()" in str(refused.value)


def test_the_words_in_a_string_are_not_a_call() -> None:
    entry = {**COUNT, "filter": "properties.page = 'reflect(x)'"}
    parsed = parse_features({"features": [entry]}, Path("features.yaml"), {"purchase"})
    assert parsed.features[0].filter == entry["filter"]


@pytest.fixture
def cli(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("KAIROS_REDIS_URL", api.settings.redis_url)
    get_settings.cache_clear()
    yield api
    get_settings.cache_clear()


def test_an_exported_audience_runs_no_formula_in_a_spreadsheet(cli: Api, tmp_path: Path) -> None:
    """CSV injection: a cell opening with = + - @ (or tab, CR) is a formula to Excel and
    LibreOffice; ``-A1`` passes the id contract, the others could reach Redis another way."""
    hostile = ['=HYPERLINK("http://x")', "-A1", "+1", "@SUM(A1)", "\tx", "c-plain"]
    rows = score_rows(len(hostile))
    for row, customer in zip(rows, hostile, strict=True):
        row["customer_id"], row["score"] = customer, 0.9
    publish(cli.redis, cli.layout, rows)
    out = tmp_path / "audience.csv"
    assert main(["audience", "--min-score", "0.5", "--out", str(out)]) == 0
    with out.open(newline="") as handle:
        cells = {row["customer_id"] for row in csv.DictReader(handle)}
    assert cells == {'\'=HYPERLINK("http://x")', "'-A1", "'+1", "'@SUM(A1)", "'\tx", "c-plain"}


def test_an_audience_exported_from_the_console_runs_no_formula_either(cli: Api) -> None:
    """The same CSV injection through ``GET /v1/audiences/export`` (the console's button)."""
    from fastapi.testclient import TestClient

    from serving.api import create_app

    hostile = ['=HYPERLINK("http://x")', "-A1", "+1", "@SUM(A1)", "\tx", "c-plain"]
    rows = score_rows(len(hostile))
    for row, customer in zip(rows, hostile, strict=True):
        row["customer_id"], row["score"] = customer, 0.9
    publish(cli.redis, cli.layout, rows)
    with TestClient(create_app(cli.settings, cli.layout)) as client:
        answer = client.get(
            "/v1/audiences/export", params={"min_score": 0.5}, headers=cli.auth("marketing")
        )
    assert answer.status_code == 200
    cells = {row["customer_id"] for row in csv.DictReader(io.StringIO(answer.text))}
    assert cells == {'\'=HYPERLINK("http://x")', "'-A1", "'+1", "'@SUM(A1)", "'\tx", "c-plain"}
