"""The deployment's Spark Connect server command: Kairos's configuration on the given master."""

from __future__ import annotations

import shlex

import pytest

from kairos import connect_server
from kairos.settings import get_settings


def test_the_cluster_command_runs_the_connect_server_with_delta_on_the_master(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAIROS_SPARK_MASTER", "k8s://https://kubernetes.default.svc")
    monkeypatch.setenv("KAIROS_SPARK_CONNECT_PORT", "15002")
    get_settings.cache_clear()
    try:
        assert connect_server.main(["--print"]) == 0
    finally:
        get_settings.cache_clear()
    argv = shlex.split(capsys.readouterr().out)
    assert argv[0].endswith("/bin/spark-submit")
    assert (
        argv[argv.index("--class") + 1] == "org.apache.spark.sql.connect.service.SparkConnectServer"
    )
    assert argv[argv.index("--master") + 1] == "k8s://https://kubernetes.default.svc"
    confs = {argv[i + 1] for i, a in enumerate(argv) if a == "--conf"}
    assert "spark.connect.grpc.binding.address=0.0.0.0" in confs
    assert "spark.connect.grpc.binding.port=15002" in confs
    assert "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension" in confs
    assert "spark.sql.session.timeZone=UTC" in confs
