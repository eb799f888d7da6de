from pathlib import Path

import pytest
from pydantic import ValidationError

from kairos import catalog
from kairos.settings import PROJECT_ROOT, Settings, is_remote


def test_defaults_run_on_one_laptop(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "KAIROS_LAKE_ROOT",
        "KAIROS_LANDING_ROOT",
        "KAIROS_REDIS_URL",
        "KAIROS_SPARK_MASTER",
    ):
        monkeypatch.delenv(name, raising=False)
    s = Settings(_env_file=None)
    assert s.lake_root == str(PROJECT_ROOT / ".local" / "lake")
    assert s.landing_root == str(PROJECT_ROOT / ".local" / "landing")
    assert s.spark_master == "local[*]"
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.mlflow_tracking_uri == f"sqlite:///{PROJECT_ROOT / '.local' / 'mlflow' / 'mlflow.db'}"
    assert s.mlflow_artifact_root == str(PROJECT_ROOT / ".local" / "mlflow" / "artifacts")
    assert s.label_horizon_days == 7
    assert s.spark_s3_jars is False
    assert catalog.BRONZE_EVENTS.path(s) == str(PROJECT_ROOT / ".local/lake/bronze/events")


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIROS_LAKE_ROOT", "s3a://kairos-lake/lake")
    monkeypatch.setenv("KAIROS_LANDING_ROOT", "s3://kairos-landing/in")
    monkeypatch.setenv("KAIROS_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("KAIROS_SPARK_MASTER", "spark://spark-master:7077")
    monkeypatch.setenv("KAIROS_MLFLOW_TRACKING_URI", "http://mlflow:5000")
    monkeypatch.setenv("KAIROS_REDIS_URL", "rediss://cache:6380/0")
    monkeypatch.setenv("KAIROS_LABEL_HORIZON_DAYS", "14")
    s = Settings(_env_file=None)
    assert s.lake_root == "s3a://kairos-lake/lake"
    assert s.landing_root == "s3://kairos-landing/in"
    assert s.needs_s3 and is_remote(s.lake_root)
    assert s.spark_s3_jars is True  # an s3a lake needs hadoop-aws
    assert s.s3_endpoint_url == "http://127.0.0.1:9000"
    assert s.spark_master == "spark://spark-master:7077"
    assert s.mlflow_tracking_uri == "http://mlflow:5000"
    assert s.redis_url == "rediss://cache:6380/0"
    assert s.label_horizon_days == 14
    assert catalog.SCORES.path(s) == "s3a://kairos-lake/lake/gold/scores"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("KAIROS_SPARK_SHUFFLE_PARTITIONS=16\nKAIROS_LOOKBACK_HOURS=6\n")
    s = Settings(_env_file=str(env))
    assert s.spark_shuffle_partitions == 16
    assert s.lookback_hours == 6


def test_relative_paths_resolve_against_project_root(tmp_path: Path) -> None:
    s = Settings(_env_file=None, lake_root="data/lake", landing_root=str(tmp_path))
    assert s.lake_root == str(PROJECT_ROOT / "data" / "lake")
    assert s.landing_root == str(tmp_path)


@pytest.mark.parametrize(
    ("field", "value"),
    [("quarantine_max_share", 1.5), ("api_port", 70000), ("label_horizon_days", 0)],
)
def test_invalid_values_are_rejected_with_the_field_name(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(_env_file=None, **{field: value})
