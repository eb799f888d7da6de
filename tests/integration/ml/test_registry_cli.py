"""`python -m ml versions|promote|rollback` against a real MLflow registry (sqlite)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from pathlib import Path

import pytest

from devtools.dag_runs import settings_env
from kairos.settings import Settings, get_settings
from ml import tracking
from ml.__main__ import main


@pytest.fixture
def registry(tmp_path: Path) -> Settings:
    """A model with versions 1-3: training made v1 champion, then v2 (replacing v1); v3 lost."""
    settings = Settings(local_dir=str(tmp_path))
    client = tracking.use(settings)
    client.create_registered_model(settings.model_name)
    for version, tags in (
        ("1", {"kairos.decision": "champion", "kairos.holdout_roc_auc": "0.71"}),
        ("2", {"kairos.decision": "champion", "kairos.champion_version": "1"}),
        ("3", {"kairos.decision": "challenger", "kairos.champion_version": "2"}),
    ):
        client.create_model_version(settings.model_name, source=str(tmp_path), tags=tags)
        assert version
    client.set_registered_model_alias(settings.model_name, tracking.CHAMPION, "2")
    client.set_registered_model_alias(settings.model_name, tracking.CHALLENGER, "3")
    return settings


def ml(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m ml ARGS`` with ``settings`` as its ``KAIROS_*`` environment, run in this
    process (its entry point as a subprocess is covered by the README commands' test)."""
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.update(settings_env(settings))
    get_settings.cache_clear()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()
    return subprocess.CompletedProcess(
        ["python", "-m", "ml", *args], code, out.getvalue(), err.getvalue()
    )


def champion(settings: Settings) -> str | None:
    client = tracking.use(settings)
    return tracking.alias_version(client, settings.model_name, tracking.CHAMPION)


def test_promote_then_rollback_returns_to_the_replaced_champion(registry: Settings) -> None:
    promoted = ml(registry, "promote", "3", "--reason", "won the A/B test")
    assert promoted.returncode == 0, promoted.stderr
    assert "@champion v2 -> v3" in promoted.stdout
    assert champion(registry) == "3"
    tags = tracking.use(registry).get_model_version(registry.model_name, "3").tags
    assert tags["kairos.replaced_version"] == "2"
    assert tags["kairos.reason"] == "promoted by hand: won the A/B test"

    back = ml(registry, "rollback")
    assert back.returncode == 0, back.stderr
    assert champion(registry) == "2"
    # v2 was made champion by training, which recorded v1 as the champion before it
    assert ml(registry, "rollback").returncode == 0
    assert champion(registry) == "1"


def test_versions_lists_aliases_newest_first(registry: Settings) -> None:
    listed = ml(registry, "versions")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["v3", "v2", "v1"]
    assert "@challenger" in lines[0] and "@champion" in lines[1]
    assert "holdout ROC-AUC 0.7100" in lines[2]


def test_clear_errors_for_unknown_versions_and_no_recorded_predecessor(registry: Settings) -> None:
    unknown = ml(registry, "promote", "9")
    assert unknown.returncode == 1
    assert f"{registry.model_name} has no version 9" in unknown.stderr
    assert ml(registry, "rollback", "--to", "1").returncode == 0
    stuck = ml(registry, "rollback")  # v1 records no earlier champion
    assert stuck.returncode == 1 and "--to VERSION" in stuck.stderr


def test_the_challengers_to_shadow_are_the_alias_then_the_newest_losers(
    registry: Settings, tmp_path: Path
) -> None:
    client = tracking.use(registry)
    name = registry.model_name
    client.create_model_version(name, source=str(tmp_path), tags={"kairos.decision": "challenger"})
    assert tracking.challengers(client, name, 0) == []
    assert tracking.challengers(client, name, 1) == ["3"]  # @challenger, not the newest v4
    assert tracking.challengers(client, name, 5) == ["3", "4"]  # never the champion, v2
    client.delete_registered_model_alias(name, tracking.CHALLENGER)
    assert tracking.challengers(client, name, 1) == ["4"]
