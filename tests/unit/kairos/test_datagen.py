"""The synthetic generator: deterministic, realistic shape, contract-valid apart from the
malformed share, and writable to S3."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kairos.datagen import generate, landing_file
from kairos.datagen.__main__ import main as datagen_main
from kairos.events import DELIVERY_FEEDBACK, SUPPRESS, EventValidator, event_types
from kairos.landing import LocalLanding

START = datetime(2026, 11, 2, 6, tzinfo=UTC)


def _run(root: Path, **kwargs):  # type: ignore[no-untyped-def]
    options = {"customers": 600, "start": START, "hours": 30, "seed": 11, "bad_share": 0.02}
    options.update(kwargs)
    return generate(LocalLanding(str(root)), **options)


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("landing")
    report = _run(root)
    lines = [
        line for path in sorted(root.rglob("*.jsonl")) for line in path.read_text().splitlines()
    ]
    return root, report, lines


def test_same_seed_gives_byte_identical_files(landed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root, report, _ = landed
    again = _run(tmp_path / "again")
    assert again.records == report.records
    for hour_file in sorted(root.rglob("*.jsonl")):
        twin = tmp_path / "again" / hour_file.relative_to(root)
        assert twin.read_bytes() == hour_file.read_bytes()


def test_another_seed_gives_other_events(landed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root, _, _ = landed
    _run(tmp_path / "other", seed=12)
    first = sorted(root.rglob("*.jsonl"))[12]
    twin = tmp_path / "other" / first.relative_to(root).parent / "generated-s12.jsonl"
    assert twin.exists()
    assert twin.read_bytes() != first.read_bytes()


def test_one_file_per_hour_in_the_landing_layout(landed) -> None:  # type: ignore[no-untyped-def]
    root, report, _ = landed
    assert report.hours == 30
    assert (root / landing_file(START, 11)).exists()
    assert (root / "events" / "dt=2026-11-03" / "hour=11" / "generated-s11.jsonl").exists()
    assert len(list(root.rglob("*.jsonl"))) == 30


def test_every_kind_of_behaviour_appears(landed) -> None:  # type: ignore[no-untyped-def]
    _, report, _ = landed
    # Delivery feedback and suppression come from Kairos's connectors and operators.
    expected = set(event_types()) - {"remove_from_cart", SUPPRESS, *DELIVERY_FEEDBACK}
    assert expected <= set(report.event_types), expected - set(report.event_types)
    # funnel shape: views >> cart adds >> purchases
    t = report.event_types
    assert t["page_view"] > t["product_view"] > t["add_to_cart"] > t["purchase"] > 0


def test_events_are_in_event_time_order_within_each_file(landed) -> None:  # type: ignore[no-untyped-def]
    root, _, _ = landed
    for path in root.rglob("*.jsonl"):
        times = []
        for line in path.read_text().splitlines():
            try:
                times.append(json.loads(line)["occurred_at"])
            except (json.JSONDecodeError, KeyError):
                continue
        assert times == sorted(times), path


def test_malformed_share_and_validity(landed) -> None:  # type: ignore[no-untyped-def]
    _, report, lines = landed
    validator = EventValidator()
    invalid = Counter()
    for line in lines:
        _, found = validator.parse_line(line)
        if found:
            invalid[found[0].kind] += 1
    malformed = sum(report.malformed.values())
    # every malformed record breaks the contract; every other record satisfies it
    duplicated_bad = sum(invalid.values()) - malformed
    assert 0 <= duplicated_bad <= report.duplicates
    assert set(report.malformed) == {
        "bad_json",
        "missing_field",
        "wrong_type",
        "unknown_event_type",
    }
    share = malformed / report.records
    assert 0.012 < share < 0.03, share  # asked for 2%
    assert invalid["bad_json"] >= report.malformed["bad_json"]


def test_identity_links_and_anonymous_traffic(landed) -> None:  # type: ignore[no-untyped-def]
    _, _, lines = landed
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    identifies = [e for e in events if e.get("event_type") == "identify"]
    assert identifies and all(e.get("customer_id") and e.get("anonymous_id") for e in identifies)
    links = {e["anonymous_id"]: e["customer_id"] for e in identifies}
    anonymous_only = [e for e in events if "customer_id" not in e and e.get("anonymous_id")]
    assert anonymous_only, "some traffic arrives logged out"
    stitched = [e for e in anonymous_only if e["anonymous_id"] in links]
    assert stitched, "some logged-out events can be stitched by an identify"
    # an anonymous id always belongs to the same customer
    for e in identifies:
        assert links[e["anonymous_id"]] == e["customer_id"]
    assert any(e.get("session_id") is None for e in events), "some sessions arrive without id"
    purchases = [e for e in events if e.get("event_type") == "purchase"]
    assert all(e.get("customer_id") for e in purchases), "buyers are always logged in"


def test_duplicates_repeat_the_same_event_id(landed) -> None:  # type: ignore[no-untyped-def]
    _, report, lines = landed
    ids = Counter()
    for line in lines:
        try:
            ids[json.loads(line).get("event_id")] += 1
        except json.JSONDecodeError:
            continue
    assert report.duplicates > 0
    assert sum(1 for n in ids.values() if n > 1) > 0


def test_start_must_be_utc_on_the_hour(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="on the hour"):
        _run(tmp_path, start=datetime(2026, 11, 2, 6, 30, tzinfo=UTC))
    with pytest.raises(ValueError, match="UTC"):
        _run(tmp_path, start=datetime(2026, 11, 2, 6))


def test_cli_help_and_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as caught:
        datagen_main(["--help"])
    assert caught.value.code == 0
    assert "--customers" in capsys.readouterr().out
    monkeypatch.setenv("KAIROS_LANDING_ROOT", str(tmp_path))
    from kairos.settings import get_settings

    get_settings.cache_clear()
    try:
        assert (
            datagen_main(
                ["--customers", "50", "--hours", "2", "--start", "2026-11-02T00:00:00Z", "--quiet"]
            )
            == 0
        )
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "wrote" in out and "records in 2 files" in out
    assert len(list(tmp_path.rglob("*.jsonl"))) == 2
