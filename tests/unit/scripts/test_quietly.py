"""scripts/quietly.sh: make setup's steps print one line on success, the log's tail on failure."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kairos.settings import PROJECT_ROOT

QUIETLY = str(PROJECT_ROOT / "scripts" / "quietly.sh")


def run(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", QUIETLY, str(tmp_path / "step.log"), "bash", "-c", script],
        capture_output=True,
        text=True,
        check=False,
    )


def test_success_prints_only_the_steps_summary(tmp_path: Path) -> None:
    done = run(tmp_path, "echo 'Host x not found'; echo 'setup: java ok'; echo noise")
    assert done.returncode == 0
    assert done.stdout == "setup: java ok\n"
    assert "Host x not found" in (tmp_path / "step.log").read_text()


def test_a_failing_step_fails_with_its_exit_code_and_the_logs_tail(tmp_path: Path) -> None:
    """Regression: the exit code was read after `if ...; fi`, which is 0, so a failed step
    looked like a success."""
    done = run(tmp_path, "echo 'resolver: cannot download'; exit 3")
    assert done.returncode == 3
    assert "resolver: cannot download" in done.stderr
    assert str(tmp_path / "step.log") in done.stderr
