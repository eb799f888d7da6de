"""Every `.venv/bin/python -m ...` line the README shows runs as printed, in a fresh shell.

The shell has only a system PATH (so `python3` is Debian's, without pandas), no PYSPARK_PYTHON
and no virtualenv activated: what a newcomer has after `make setup`. The only additions are
KAIROS_* variables that point the commands at a copy of the seeded lake, its MLflow and a
test Redis instead of `.local`, and the commands run in their own folder (with `.venv` and
`feature_defs` linked in) so files they write stay out of the repository. The README's
``export KAIROS_SPARK_REMOTE=`` names the server `make up` starts; here it names the test
session's Spark Connect server, and one job also runs without it, starting its own Spark.

The README's story is the demo's state: its hour 2026-11-12 00:00-01:00 is landed and not yet
processed (as in the seeded lake), and the propensity model has two versions with v2 the
champion that replaced v1.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from devtools.dag_runs import settings_env
from devtools.services import SparkConnectProcess
from kairos.settings import PROJECT_ROOT, Settings
from ml import tracking
from tests.seeded import HOUR_ENDS, copy_of, lake_settings

COMMAND = re.compile(r"^\.venv/bin/python -m (?P<module>[\w.]+)\b")
EXPORT = re.compile(r"^export (?P<name>KAIROS_\w+)=(?P<value>\S+)")
# Shown in the README but not run here, and why.
NOT_RUN = {
    "serving api": "a server that runs until stopped (tests/integration/serving start it)",
}


def _bash_lines() -> list[str]:
    lines, in_bash = [], False
    for line in (PROJECT_ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            in_bash = line.strip() == "```bash"
        elif in_bash:
            lines.append(line)
    return lines


def readme_commands() -> list[str]:
    """The `.venv/bin/python -m` lines of the README's bash blocks, in order."""
    return [line for line in _bash_lines() if COMMAND.match(line)]


def readme_exports() -> dict[str, str]:
    """The ``export KAIROS_...=value`` lines of the README's bash blocks."""
    return {m["name"]: m["value"] for m in map(EXPORT.match, _bash_lines()) if m}


def test_the_readme_points_jobs_at_the_server_make_up_starts() -> None:
    port = Settings.model_fields["spark_connect_port"].default
    assert readme_exports() == {"KAIROS_SPARK_REMOTE": f"sc://127.0.0.1:{port}"}


def test_the_readme_story_is_this_test_scenario() -> None:
    jobs = [c for c in readme_commands() if "spark_jobs." in c]
    hour = f"--start {HOUR_ENDS[0].replace(hour=0):%Y-%m-%dT%H:%M:%SZ} --end "
    assert jobs and all(hour in c for c in jobs), "the README's job hour moved; update tests/seeded"


@pytest.fixture(scope="module")
def shell(
    seeded: Path,
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: str,
    spark_server: SparkConnectProcess,
) -> tuple[Path, dict[str, str]]:
    """A working folder and a fresh shell's environment pointed at a copy of the seeded lake."""
    root = tmp_path_factory.mktemp("readme")
    settings = lake_settings(copy_of(seeded, root / "state"), redis_url=redis_server)
    settings = settings.model_copy(update={"api_keys_file": str(root / "keys.yaml")})
    _second_champion(settings)
    work = root / "work"
    work.mkdir()
    for name in (".venv", "feature_defs"):
        (work / name).symlink_to(PROJECT_ROOT / name)
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": os.environ.get("HOME", str(root)),
        "LANG": "C.UTF-8",
        **{k: v for k, v in settings_env(settings).items() if k.startswith("KAIROS_")},
        **{name: spark_server.url for name in readme_exports() if name == "KAIROS_SPARK_REMOTE"},
    }
    return work, env


def _second_champion(settings: Settings) -> None:
    """v2 (the same model as v1) replaces v1 as champion, as training does in the demo."""
    client = tracking.use(settings)
    first = client.get_model_version(settings.model_name, "1")
    second = client.create_model_version(
        settings.model_name,
        source=first.source,
        run_id=first.run_id,
        tags={"kairos.decision": "champion", "kairos.champion_version": "1"},
    )
    client.set_registered_model_alias(settings.model_name, tracking.CHAMPION, second.version)


def _run(command: str, work: Path, env: dict[str, str]) -> str:
    """Run one README line in a fresh bash; its output. Fails the test on a non-zero exit."""
    done = subprocess.run(
        ["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.parametrize("command", readme_commands(), ids=lambda c: c.split("#")[0].strip()[16:])
def test_a_readme_command_runs_as_printed(command: str, shell: tuple[Path, dict[str, str]]) -> None:
    invocation = " ".join(command.split("#")[0].split()[2:4])
    if invocation in NOT_RUN:
        pytest.skip(NOT_RUN[invocation])
    work, env = shell
    _run(command, work, env)


def test_a_job_also_runs_with_a_spark_of_its_own(shell: tuple[Path, dict[str, str]]) -> None:
    """Without ``KAIROS_SPARK_REMOTE`` the README's first job starts Spark in its process
    (the same hour again: jobs are idempotent)."""
    work, env = shell
    command = next(c for c in readme_commands() if "spark_jobs." in c)
    own = {k: v for k, v in env.items() if k != "KAIROS_SPARK_REMOTE"}
    assert "bronze.events:" in _run(command, work, own)
