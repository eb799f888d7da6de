"""The model registry from the command line: list versions, promote, roll back.

    python -m ml versions                      # every version, its aliases and decision
    python -m ml promote 3 --reason "A/B won"  # @champion -> v3
    python -m ml rollback                      # @champion -> the version v3 replaced
    python -m ml rollback --to 2

``--model`` picks the registered model (default ``KAIROS_MODEL_NAME``); the registry is
``KAIROS_MLFLOW_TRACKING_URI``. See :mod:`ml.registry` for what each move records.
"""

from __future__ import annotations

import argparse
import sys

from kairos.settings import get_settings
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
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = get_settings()
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
