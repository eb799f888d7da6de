"""A deployment's Spark Connect server: ``python -m kairos.connect_server``.

Runs Spark's own ``SparkConnectServer`` through ``spark-submit`` with Kairos's configuration
(Delta, jars, time zone: :mod:`kairos.spark_conf`) on ``KAIROS_SPARK_MASTER``, listening on
every interface on ``KAIROS_SPARK_CONNECT_PORT``. It is the container command of the
cluster's Connect server (``infra/terraform/modules/spark``): there the master is Kubernetes,
and what only the cluster knows (image, namespace, service account, the driver's address)
comes from the ``spark-defaults.conf`` in ``SPARK_CONF_DIR``. The DAG's tasks reach it through
the ``kairos_spark`` connection. Locally, ``make up`` starts the same server on loopback.

    python -m kairos.connect_server --print     # the command, without running it
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from kairos.jars import spark_home
from kairos.settings import get_settings
from kairos.spark_conf import connect_server_args


def command(bind: str) -> list[str]:
    settings = get_settings()
    submit = str(spark_home() / "bin" / "spark-submit")
    return [submit, *connect_server_args(settings, settings.spark_connect_port, bind=bind)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kairos.connect_server", description=__doc__)
    parser.add_argument("--bind", default="0.0.0.0", help="address to listen on (all: 0.0.0.0)")
    parser.add_argument("--print", action="store_true", help="print the command and exit")
    args = parser.parse_args(argv)
    argv_ = command(args.bind)
    if args.print:
        print(shlex.join(argv_))
        return 0
    # Python workers (UDFs, mapInArrow) run this interpreter, which has Kairos installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.execv(argv_[0], argv_)
    return 1  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main())
