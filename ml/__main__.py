"""The model registry from the command line: list versions, promote, roll back; training sets.

    python -m ml versions                      # every version, its aliases and decision
    python -m ml promote 3 --reason "A/B won"  # @champion -> v3
    python -m ml rollback                      # @champion -> the version v3 replaced
    python -m ml rollback --to 2
    python -m ml trainset --as-of-from 2026-11-03 --as-of-to 2026-11-09 --out trainset/
    python -m ml monitor                       # the newest hourly monitoring report
    python -m ml monitor --as-of 2026-11-12T00:00:00Z

``--model`` picks the registered model (default ``KAIROS_MODEL_NAME``); the registry is
``KAIROS_MLFLOW_TRACKING_URI``. See :mod:`ml.registry` for what each move records, and
:mod:`ml.trainset` for the training set and :mod:`ml.monitor_report` for the report
(both need Spark: ``KAIROS_SPARK_REMOTE``, as
``make up`` runs it, or a local session).
"""

from __future__ import annotations

import argparse
import sys

from kairos.interval import parse_instant
from kairos.settings import Settings, get_settings
from ml import registry, tracking


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m ml", description=__doc__.splitlines()[0])
    top.add_argument("--model", help="registered model name (default: KAIROS_MODEL_NAME)")
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("versions", help="every version with its aliases, decision and holdout AUC")
    promote = sub.add_parser("promote", help="make a version the @champion")
    promote.add_argument("version")
    promote.add_argument("--reason", default="", help="why, recorded on the version")
    rollback = sub.add_parser("rollback", help="@champion back to the version it replaced")
    rollback.add_argument("--to", help="this version instead of the one recorded")
    rollback.add_argument("--reason", default="", help="why, recorded on the version")
    trainset = sub.add_parser("trainset", help="the hourly training's labelled rows, as Parquet")
    trainset.add_argument("--as-of-from", type=parse_instant, required=True, help="first day")
    trainset.add_argument("--as-of-to", type=parse_instant, required=True, help="last day")
    trainset.add_argument("--out", required=True, help="a local folder (replaced)")
    trainset.add_argument("--horizon", type=int, help="label horizon in days (default: settings)")
    monitor = sub.add_parser("monitor", help="the hourly monitoring report (drift, calibration)")
    monitor.add_argument("--as-of", type=parse_instant, help="that hour (default: the newest)")
    return top


def _monitor(settings: Settings, args: argparse.Namespace) -> int:
    from kairos.spark import get_spark
    from ml import monitor_report

    spark = get_spark("kairos-monitor", settings)
    try:
        lines = monitor_report.lines(spark, settings, args.as_of)
    except monitor_report.NoReport as err:
        print(f"ml: {err}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    print("\n".join(lines))
    return 0


def _trainset(settings: Settings, args: argparse.Namespace) -> int:
    from kairos.spark import get_spark
    from ml import trainset

    spark = get_spark("kairos-trainset", settings)
    try:
        written = trainset.write(
            spark, settings, args.as_of_from, args.as_of_to, args.out, args.horizon
        )
    except trainset.NoTrainingData as err:
        print(f"ml: {err}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    print(
        f"trainset: {written.rows:,} rows ({len(written.features)} features, "
        f"{written.label_horizon_days}-day label) as of {args.as_of_from:%Y-%m-%d}.."
        f"{args.as_of_to:%Y-%m-%d} -> {written.out}; {written.incomplete:,} left out "
        f"(label not complete by {written.known_until[:16]}); "
        f"feature list and Delta versions in {written.out}/{trainset.SIDECAR}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = get_settings()
    if args.command == "trainset":
        return _trainset(settings, args)
    if args.command == "monitor":
        return _monitor(settings, args)
    model = args.model or settings.model_name
    client = tracking.use(settings)
    try:
        if args.command == "versions":
            for v in registry.versions(client, model):
                aliases = " ".join(f"@{a}" for a in v.aliases)
                auc = f"holdout ROC-AUC {float(v.holdout_roc_auc):.4f}" if v.holdout_roc_auc else ""
                print(f"{model} v{v.version:<4} {aliases:<24} {auc:<24} {v.reason}")
            return 0
        if args.command == "promote":
            move = registry.promote(client, model, args.version, args.reason)
        else:
            move = registry.rollback(client, model, args.to, args.reason)
    except registry.RegistryError as err:
        print(f"ml: {err}", file=sys.stderr)
        return 1
    print(
        f"{move.model}: @champion v{move.previous or '-'} -> v{move.champion} ({move.reason}); "
        "the next hourly score_customers serves it"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
