"""``python -m kairos.datagen``: land synthetic events (see ``kairos.datagen`` for the model)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

from kairos.datagen import generate, print_progress
from kairos.landing import open_landing
from kairos.settings import get_settings


def _hour(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kairos.datagen",
        description="Generate synthetic customer events as JSON Lines, one file per hour, "
        "into the landing location (KAIROS_LANDING_ROOT: a folder or s3://bucket/prefix).",
    )
    parser.add_argument("--customers", type=int, default=5000, help="population size (5000)")
    parser.add_argument("--hours", type=int, default=24, help="number of hours to generate (24)")
    parser.add_argument(
        "--start",
        type=_hour,
        default=None,
        help="first hour, ISO 8601 UTC (default: --hours before the current hour)",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (7)")
    parser.add_argument(
        "--bad-share", type=float, default=0.01, help="share of malformed records (0.01)"
    )
    parser.add_argument(
        "--dup-share", type=float, default=0.002, help="share of records sent twice (0.002)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    if args.customers < 1 or args.hours < 1:
        parser.error("--customers and --hours must be at least 1")
    start = args.start or (
        datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=args.hours)
    )
    settings = get_settings()
    print(
        f"datagen: {args.customers:,} customers, {args.hours} hours from {start:%Y-%m-%d %H}:00Z, "
        f"seed {args.seed} -> {settings.landing_root}",
        flush=True,
    )
    try:
        report = generate(
            open_landing(settings),
            customers=args.customers,
            start=start,
            hours=args.hours,
            seed=args.seed,
            bad_share=args.bad_share,
            dup_share=args.dup_share,
            progress=None if args.quiet else print_progress(max(1, args.hours // 10)),
        )
    except ValueError as exc:
        parser.error(str(exc))
    rate = report.records / report.seconds if report.seconds else 0.0
    malformed = ", ".join(f"{k} {v}" for k, v in sorted(report.malformed.items())) or "none"
    print(
        f"datagen: wrote {report.records:,} records in {report.hours} files "
        f"({report.seconds:.1f}s, {rate:,.0f} records/s)"
    )
    print(
        f"datagen: {report.valid_events:,} valid events, {report.duplicates:,} duplicates, "
        f"malformed: {malformed}"
    )
    top = ", ".join(f"{k} {v:,}" for k, v in report.event_types.most_common())
    print(f"datagen: event types: {top}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
