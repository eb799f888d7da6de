"""The demo's model summary against a real MLflow registry: it names the champion."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools import demo
from kairos.settings import Settings
from ml import tracking


def test_model_summary_marks_the_champion_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(local_dir=str(tmp_path))
    client = tracking.use(settings)
    for name, champion in ((settings.model_name, "2"), (settings.segmenter_name, "1")):
        client.create_registered_model(name)
        for _ in range(int(champion)):
            client.create_model_version(name, source=str(tmp_path))
        client.set_registered_model_alias(name, tracking.CHAMPION, champion)

    demo._print_models(settings)

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"    {settings.model_name} v1: ")
    assert lines[1].startswith(f"    {settings.model_name} v2 (@champion): ")
    assert f"{settings.segmenter_name} @champion: v1" in lines[2]
