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
    """A SparkSession with Delta Lake enabled; the master comes from settings.

    Python workers run the interpreter running this code (which has Kairos and its
    dependencies), unless ``PYSPARK_PYTHON`` names another: otherwise PySpark starts the
    system ``python3`` and the first Python UDF fails to import pandas.
    """
    settings = settings or get_settings()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name).master(settings.spark_master)
    for key, value in build_conf(settings, extra_conf).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
