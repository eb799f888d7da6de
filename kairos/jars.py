"""Resolve the Delta Lake (and optionally hadoop-aws) jars once into a project-local cache.

``python -m kairos.jars`` starts one short Spark session that resolves the Maven
coordinates through Ivy, then copies the resolved jars to ``settings.spark_jars_dir``
with a manifest naming the coordinates. Later sessions load the jars from there and
never touch the network. Rerunning is a no-op while the manifest matches.

hadoop-aws (for ``s3a://``) pulls the AWS SDK bundle (hundreds of MB), so it is only
resolved when ``KAIROS_SPARK_S3_JARS=true`` or the lake root is ``s3a://``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import sys
import time
from pathlib import Path

from kairos.settings import Settings, get_settings

MANIFEST = "manifest.json"


def spark_home() -> Path:
    """The Spark distribution inside the installed pyspark (found without importing it)."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pyspark is not installed; run `make setup`")
    return Path(next(iter(spec.submodule_search_locations)))


def _pyspark_jars() -> Path:
    return spark_home() / "jars"


def _versions() -> tuple[str, str, str]:
    """(spark major.minor, delta version, hadoop version) of the installed packages."""
    from importlib.metadata import version

    spark_mm = ".".join(version("pyspark").split(".")[:2])
    jars_dir = _pyspark_jars()
    hadoop = next(
        (
            p.name.removeprefix("hadoop-client-api-").removesuffix(".jar")
            for p in jars_dir.glob("hadoop-client-api-*.jar")
        ),
        "3.4.1",
    )
    return spark_mm, version("delta-spark"), hadoop


def maven_coordinates(settings: Settings) -> list[str]:
    """Maven coordinates Kairos needs for the installed pyspark/delta-spark pair."""
    spark_mm, delta, hadoop = _versions()
    coords = [f"io.delta:delta-spark_{spark_mm}_2.13:{delta}"]
    if settings.spark_s3_jars:
        coords.append(f"org.apache.hadoop:hadoop-aws:{hadoop}")
    return coords


def cached_jars(settings: Settings) -> list[Path]:
    """The cached jars when the manifest matches the wanted coordinates, else []."""
    jars_dir = Path(settings.spark_jars_dir)
    manifest = jars_dir / MANIFEST
    if not manifest.exists():
        return []
    recorded = json.loads(manifest.read_text())
    if recorded.get("coordinates") != maven_coordinates(settings):
        return []
    jars = [jars_dir / name for name in recorded.get("jars", [])]
    return jars if jars and all(j.exists() for j in jars) else []


def _artifact(jar_name: str) -> str:
    """Artifact id of a jar file: ``org.x_foo-bar-1.2.jar`` and ``foo-bar-1.2.jar`` -> foo-bar."""
    stem = jar_name.removesuffix(".jar").split("_", 1)[-1] if "_" in jar_name else jar_name
    return re.sub(r"-\d[\w.\-]*$", "", stem.removesuffix(".jar"))


def _not_shipped_with_spark(jars: list[Path]) -> list[Path]:
    """Drop transitive jars pyspark already ships (hadoop, parquet, jackson...): Spark's own win."""
    shipped = {_artifact(p.name) for p in _pyspark_jars().glob("*.jar")}
    return [j for j in jars if _artifact(j.name) not in shipped]


def resolve(settings: Settings) -> list[Path]:
    """Resolve the coordinates through Ivy into the cache; returns the cached jars."""
    from pyspark.sql import SparkSession

    coords = maven_coordinates(settings)
    ivy_dir = Path(settings.local_dir) / "ivy"
    started = time.monotonic()
    print(f"kairos.jars: resolving {', '.join(coords)} from Maven Central ...", flush=True)
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("kairos-resolve-jars")
        .config("spark.jars.packages", ",".join(coords))
        .config("spark.jars.ivy", str(ivy_dir))
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.stop()
    resolved = _not_shipped_with_spark(sorted((ivy_dir / "jars").glob("*.jar")))
    if not resolved:
        raise RuntimeError(
            f"Ivy resolved no jars into {ivy_dir / 'jars'}; is Maven Central reachable?"
        )
    jars_dir = Path(settings.spark_jars_dir)
    if jars_dir.exists():
        shutil.rmtree(jars_dir)
    jars_dir.mkdir(parents=True)
    for jar in resolved:
        shutil.copy2(jar, jars_dir / jar.name)
    (jars_dir / MANIFEST).write_text(
        json.dumps({"coordinates": coords, "jars": [j.name for j in resolved]}, indent=2)
    )
    print(
        f"kairos.jars: cached {len(resolved)} jars in {jars_dir} "
        f"({time.monotonic() - started:.0f}s)",
        flush=True,
    )
    return [jars_dir / j.name for j in resolved]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kairos.jars",
        description="Resolve Delta Lake (and hadoop-aws) jars once into the project cache.",
    )
    parser.add_argument("--s3", action="store_true", help="also resolve hadoop-aws for s3a://")
    parser.add_argument("--force", action="store_true", help="resolve even if the cache matches")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.s3:
        settings = settings.model_copy(update={"spark_s3_jars": True})
    if not args.force:
        jars = cached_jars(settings)
        if jars:
            print(f"kairos.jars: {len(jars)} jars already cached in {settings.spark_jars_dir}")
            return 0
    try:
        resolve(settings)
    except Exception as exc:  # one clear line for the Makefile, not a JVM trace
        print(f"kairos.jars: could not resolve jars: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
