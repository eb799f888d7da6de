"""The marketing CLI on a real Redis: score lookup, CSV audience export, summary, keys, rules."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from kairos.settings import get_settings
from serving.__main__ import main
from tests.integration.serving.conftest import Api, publish, score_rows

ROWS = score_rows(300)


@pytest.fixture
def cli(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("KAIROS_REDIS_URL", api.settings.redis_url)
    monkeypatch.setenv("KAIROS_API_KEYS_FILE", api.settings.api_keys_file)
    get_settings.cache_clear()
    yield api
    get_settings.cache_clear()


def test_score_audience_and_summary(
    cli: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = publish(cli.redis, cli.layout, ROWS)
    assert main(["score", "c-00007"]) == 0
    assert "c-00007: score 0.433, decile 8, segment at_risk (kairos_propensity v3" in (
        capsys.readouterr().out
    )
    assert main(["score", "nobody"]) == 1

    out = tmp_path / "at_risk.csv"
    assert main(["audience", "--min-score", "0.5", "--segment", "at_risk", "--out", str(out)]) == 0
    with out.open() as handle:
        exported = list(csv.DictReader(handle))
    expected = {r["customer_id"] for r in ROWS if r["segment"] == "at_risk" and r["score"] >= 0.5}  # type: ignore[operator]
    assert {r["customer_id"] for r in exported} == expected
    audit = cli.redis.xrange(cli.layout.audit_stream)
    assert '"action":"audience_export"' in audit[-1][1]["audit"]

    assert main(["summary"]) == 0
    printed = capsys.readouterr().out
    assert f"live run {run}: 300 customers" in printed and "decile" in printed


def test_keys_and_rules_commands(cli: Api, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "add", "--name", "campaign-tool", "--role", "marketing"]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("kai_") and key not in Path(cli.settings.api_keys_file).read_text()
    assert main(["keys", "add", "--name", "campaign-tool", "--role", "marketing"]) == 1
    assert main(["keys", "list"]) == 0
    assert "campaign-tool            marketing" in capsys.readouterr().out
    assert main(["keys", "revoke", "--name", "campaign-tool"]) == 0
    assert main(["rules", "check", cli.settings.triggers_file]) == 0
    assert "6 rules valid" in capsys.readouterr().out


def test_redis_down_is_a_clear_error(cli: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIROS_REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    assert main(["summary"]) == 2
