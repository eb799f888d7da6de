"""Spark session factory with Delta Lake configured (:mod:`kairos.spark_conf`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from pyspark.sql import SparkSession

from kairos.settings import Settings, get_settings
from kairos.spark_conf import build_conf


def get_spark(
    app_name: str = "kairos",
    settings: Settings | None = None,
    extra_conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """A SparkSession with Delta Lake enabled: a client of ``KAIROS_SPARK_REMOTE`` when set,
    else a session of this process on ``KAIROS_SPARK_MASTER``.

    Python workers run the interpreter running this code (which has Kairos and its
    dependencies), unless ``PYSPARK_PYTHON`` names another: otherwise PySpark starts the
    system ``python3`` and the first Python UDF fails to import pandas.
    """
    settings = settings or get_settings()
    if settings.spark_remote:
        return connect(settings.spark_remote, app_name)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name).master(settings.spark_master)
    for key, value in build_conf(settings, extra_conf).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def connect(url: str, app_name: str = "kairos") -> SparkSession:
    """A Spark Connect client session on the server at ``url`` (``sc://host:port``).

    The server holds the Delta configuration, the jars and the JVM; this process only sends
    plans, so opening a session takes a fraction of a second.
    """
    return SparkSession.builder.remote(url).appName(app_name).getOrCreate()
