"""Every Spark setting Kairos makes, as plain dicts: no Spark needed to read them.

Jars come from a project-local cache (``settings.spark_jars_dir``) filled once by
``python -m kairos.jars`` (``make setup`` runs it), so sessions start without network.
Without the cache the session falls back to resolving the same Maven coordinates
through Ivy, which needs Maven Central. The session factory (:mod:`kairos.spark`), the DAGs'
spark-submit arguments (:mod:`kairos.orchestration`) and the local Spark services all build
their configuration here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from kairos.jars import cached_jars, maven_coordinates
from kairos.settings import Settings

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

# Delta Lake's own test-suite speed settings (few snapshot partitions), with a log cache that
# holds a lake's tables: Delta's tests keep 3 logs to save memory, but a job touching a dozen
# tables then replays their logs on every access (an hour on the seeded lake: 40 s -> 34 s).
TEST_CONF = {
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.shuffle.partitions": "2",
    "delta.log.cacheSize": "64",
    "spark.databricks.delta.delta.log.cacheSize": "64",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "false",
}


def _s3_conf(settings: Settings) -> dict[str, str]:
    conf = {
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint.region": settings.aws_region,
    }
    if settings.s3_endpoint_url:
        conf["spark.hadoop.fs.s3a.endpoint"] = settings.s3_endpoint_url
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
    return conf


def build_conf(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every Spark config Kairos sets, as a plain dict (inspectable in tests)."""
    conf: dict[str, str] = {
        **DELTA_CONF,
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        # Spark generates large methods for wide expressions; let the JIT compile them.
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC -XX:-DontCompileHugeMethods",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC -XX:-DontCompileHugeMethods",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.warehouse.dir": str(Path(settings.local_dir) / "spark-warehouse"),
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
    }
    if settings.spark_master.startswith("local"):
        # Delta rebuilds a table's snapshot with 50 tasks by default, sized for clusters; on
        # one machine that overhead dominated the small hourly jobs (silver_events 24 -> 11 s).
        conf["spark.databricks.delta.snapshotPartitions"] = str(settings.spark_shuffle_partitions)
    jars = cached_jars(settings)
    if jars:
        conf["spark.jars"] = ",".join(str(j) for j in jars)
    else:
        conf["spark.jars.packages"] = ",".join(maven_coordinates(settings))
        conf["spark.jars.ivy"] = str(Path(settings.local_dir) / "ivy")
    if settings.spark_s3_jars:
        conf.update(_s3_conf(settings))
    conf.update(extra or {})
    return conf


# Settings spark-submit takes as its own flags rather than as --conf.
_SUBMIT_FLAGS = {"spark.jars", "spark.jars.packages", "spark.jars.ivy", "spark.driver.memory"}


def submit_args(settings: Settings, extra: Mapping[str, str] | None = None) -> list[str]:
    """``spark-submit`` arguments that give a driver Kairos's configuration and jars."""
    conf = build_conf(settings, extra)
    args = ["--master", settings.spark_master, "--driver-memory", settings.spark_driver_memory]
    if "spark.jars" in conf:
        args += ["--jars", conf["spark.jars"]]
    if "spark.jars.packages" in conf:
        args += [
            "--packages",
            conf["spark.jars.packages"],
            "--conf",
            f"spark.jars.ivy={conf['spark.jars.ivy']}",
        ]
    for key, value in conf.items():
        if key not in _SUBMIT_FLAGS:
            args += ["--conf", f"{key}={value}"]
    return args


CONNECT_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def connect_server_args(
    settings: Settings,
    port: int,
    extra: Mapping[str, str] | None = None,
    bind: str = "127.0.0.1",
) -> list[str]:
    """``spark-submit`` arguments of a Spark Connect server (Spark's own ``SparkConnectServer``)
    with Kairos's configuration on ``settings.spark_master``, listening on ``bind:port``."""
    return [
        "--class",
        CONNECT_SERVER_CLASS,
        "--name",
        "kairos-spark-connect",
        *submit_args(settings, extra),
        "--conf",
        f"spark.connect.grpc.binding.port={port}",
        "--conf",
        f"spark.connect.grpc.binding.address={bind}",
    ]
