"""Kairos serving from the command line: the marketing CLI, API keys, rules, the API itself.

    python -m serving score c-000042
    python -m serving audience --min-score 0.8 --segment at_risk --deciles 1-3 --out at_risk.csv
    python -m serving summary
    python -m serving keys add --name campaign-tool --role marketing
    python -m serving rules check feature_defs/triggers.yaml
    python -m serving rules pause checkout_nudge discount --reason "losing"   # or unpause
    python -m serving performance cart_rescue_high_intent   # each rule vs its holdout
    python -m serving privacy export c-000042 # a data subject export (or erase); status <id>
    python -m serving api                      # the HTTP API (make up starts it)
    python -m serving scheduler                # fires journey timers, delivers due sends
    python -m serving drain                    # Redis Streams -> landing (the DAG does this)

Reads go straight to Redis through the same code as the API (:mod:`serving.store`), so an
exported audience is exactly what ``GET /v1/audiences`` pages through. Every export is
audited like an API export, under the key name ``cli:<os user>``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from kairos.settings import Settings, get_settings, printable_url
from serving import auth, experiments, export, privacy
from serving.connection import connect, connect_async
from serving.delivery import DeliveryConfigError
from serving.insights import Insights, Selection
from serving.layout import Layout
from serving.reach import NoDeciles
from serving.rules import RuleError, load_rules
from serving.store import CursorExpired, NotReady, Store, UnknownModel


def _store(settings: Settings) -> Store:
    client = connect_async(settings.redis_url, socket_connect_timeout=2)
    return Store.from_settings(client, settings)


async def _score(settings: Settings, customer_id: str) -> int:
    store = _store(settings)
    try:
        live = await store.live()
        row = await store.scores(customer_id, live.run)
    finally:
        await store.client.aclose()
    if row is None:
        print(f"{customer_id}: no live score (run {live.run})", file=sys.stderr)
        return 1
    print(
        f"{customer_id}: score {float(row['score']):.3f}, decile {row['decile']}, "
        f"segment {row['segment']} ({row['model']} v{row['model_version']}, "
        f"scored at {row['scored_at']}, run {live.run})"
    )
    return 0


async def _audience(settings: Settings, args: argparse.Namespace) -> int:
    store = _store(settings)
    chosen = Selection(args.model, args.min_score, args.max_score, args.segment, *args.deciles)
    out = open(args.out, "w", newline="") if args.out else sys.stdout  # noqa: SIM115
    try:
        run, span = await Insights(store).narrowed(chosen, None)
        first = await store.audience(
            chosen.model, span.low, span.high, chosen.segment, export.PAGE, None
        )
        written = 0
        async for chunk, written in export.csv_pages(store, chosen, span, first):
            out.write(chunk)
            if args.out:
                print(f"audience: {written:,}/{first.total:,} customers", end="\r", file=sys.stderr)
        entry = {
            "at": datetime.now(UTC).isoformat(),
            "action": "audience_export",
            "key": f"cli:{getpass.getuser()}",
            "role": "cli",
            "run": run,
            "model": args.model,
            "segment": args.segment,
            "min_score": args.min_score,
            "max_score": args.max_score,
            "deciles": list(args.deciles),
            "returned": written,
            "total": first.total,
        }
        await store.record([], [entry])
    finally:
        if args.out:
            out.close()
        await store.client.aclose()
    where = f" -> {args.out}" if args.out else ""
    segment = f" in segment {args.segment}" if args.segment else ""
    deciles = "" if args.deciles == (1, 10) else f", deciles {args.deciles[0]}-{args.deciles[1]}"
    print(
        f"audience: {written:,} customers with {args.min_score} <= score <= {args.max_score}"
        f"{segment}{deciles} (run {run}){where}",
        file=sys.stderr,
    )
    return 0


def decile_range(text: str) -> tuple[int, int]:
    """``3`` or ``1-3`` -> (first, last), 1 = the top tenth."""
    first, _, last = text.partition("-")
    try:
        span = (int(first), int(last or first))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a decile (1-10) or a range like 1-3") from None
    if not 1 <= span[0] <= span[1] <= 10:
        raise argparse.ArgumentTypeError(f"{text!r}: deciles run from 1 (top) to 10")
    return span


async def _summary(settings: Settings) -> int:
    store = _store(settings)
    try:
        summary = await store.summary()
    finally:
        await store.client.aclose()
    print(
        f"live run {summary['run']}: {summary['rows']:,} customers scored at {summary['scored_at']}"
    )
    for group, title in (("model", "model"), ("decile", "decile"), ("segment", "segment")):
        counts: dict[str, int] = summary.get(group, {})
        if not counts:
            continue
        print(f"\n{title:<20} {'customers':>10}")
        ordered = sorted(counts.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else kv[0])
        if group == "segment":
            ordered = sorted(counts.items(), key=lambda kv: -kv[1])
        for name, count in ordered:
            print(f"{name:<20} {count:>10,}")
    return 0


def _keys(settings: Settings, args: argparse.Namespace) -> int:
    path = settings.api_keys_file
    if args.keys_command == "add":
        key = auth.add_key(path, args.name, args.role)
        print(f"key {args.name!r} ({args.role}) created; it is shown only once:\n{key}")
    elif args.keys_command == "revoke":
        if not auth.revoke_key(path, args.name):
            print(f"no key named {args.name!r} in {path}", file=sys.stderr)
            return 1
        print(f"key {args.name!r} revoked")
    else:
        for entry in auth.KeyStore(path).all():
            print(f"{entry.name:<24} {entry.role:<10} sha256:{entry.sha256[:12]}...")
    return 0


async def _privacy(settings: Settings, args: argparse.Namespace) -> int:
    store = _store(settings)
    try:
        if args.privacy_command in ("export", "erase"):
            kind, job = (
                ("export", "export_customers")
                if args.privacy_command == "export"
                else ("erasure", "erase_customers")
            )
            actor = {"key": f"cli:{getpass.getuser()}", "role": "cli"}
            made = await privacy.submit(store.client, store.layout, kind, args.customer_id, actor)
            print(
                f"{made.id}: {kind} of {made.customer_id} received; the daily maintenance DAG "
                f"(or python -m spark_jobs.{job}) carries it out"
            )
        else:
            found = await privacy.get(store.client, store.layout, args.request_id)
            print(
                f"{found.id}: {found.kind} of {found.customer_id} {found.state} "
                f"(updated {found.updated_at}){': ' + found.detail if found.detail else ''}"
            )
            if found.document:
                print(f"document: {found.document} (in the landing store)")
    finally:
        await store.client.aclose()
    return 0


def _pause(settings: Settings, args: argparse.Namespace) -> int:
    """Pause or unpause a variant of a rule of the rules file in force."""
    ruleset = load_rules(settings.triggers_file, settings.feature_defs_dir)
    rules = {r.name: r for r in ruleset.rules}
    if args.rule not in rules or args.variant not in {v.name for v in rules[args.rule].variants}:
        print(f"serving: no variant {args.variant!r} of rule {args.rule!r}", file=sys.stderr)
        return 1
    client = connect(settings.redis_url, socket_connect_timeout=2)
    try:
        if args.rules_command == "pause":
            by = f"cli:{getpass.getuser()}"
            evidence = {"reason": args.reason}
            done = experiments.pause(client, Layout(), args.rule, args.variant, by, evidence)
            print(f"{args.rule}/{args.variant}: {'paused' if done else 'was paused already'}")
        else:
            done = experiments.unpause(client, Layout(), args.rule, args.variant)
            print(f"{args.rule}/{args.variant}: {'unpaused' if done else 'was not paused'}")
    finally:
        client.close()
    return 0


def _points(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f}"


def performance_table(report: dict[str, Any]) -> list[str]:
    """A rule's report (:func:`serving.experiments.with_pauses`) as lines of text; lifts in
    percentage points of conversion rate."""
    rows = report["rows"]
    if not rows:
        return [f"{report['rule']}: not measured yet (the hourly measure_rules job publishes it)"]
    srm = rows[0]["srm_p_value"]
    lines = [
        f"{report['rule']}  experiment {report['experiment'] or '-'}  as of {report['as_of']}  "
        f"SRM p {'-' if srm is None else f'{srm:.3g}'}",
        f"  {'arm':<14} {'customers':>9} {'conv':>6} {'rev/cust':>8} {'lift pp':>7} "
        f"{'95% fixed':>15} {'95% sequential':>15} {'p':>7}  status",
    ]
    for row in rows:
        rate = row["conversion_rate"]
        spend = row["revenue_per_customer"]
        fixed = seq = p_value = "-"
        if row["lift"] is not None:
            fixed = f"[{_points(row['lift_low'])}, {_points(row['lift_high'])}]"
            seq = f"[{_points(row['sequential_low'])}, {_points(row['sequential_high'])}]"
            p_value = f"{row['p_value']:.3g}"
        lines.append(
            f"  {row['arm']:<14} {row['customers']:>9,} "
            f"{'-' if rate is None else f'{rate:.1%}':>6} "
            f"{'-' if spend is None else f'{spend:.2f}':>8} {_points(row['lift']):>7} "
            f"{fixed:>15} {seq:>15} {p_value:>7}  {row['status']}"
        )
    left_out = sum(r["mixed_excluded"] for r in rows)
    waiting = sum(r["open_windows"] for r in rows)
    lines.append(f"  left out: {left_out:,} in more than one arm; {waiting:,} windows still open")
    return lines


def _performance(settings: Settings, args: argparse.Namespace) -> int:
    """Each rule (or one) against its holdout, from the last hourly measurement."""
    names = [r.name for r in load_rules(settings.triggers_file, settings.feature_defs_dir).rules]
    if args.rule and args.rule not in names:
        print(f"serving: no rule {args.rule!r} in {settings.triggers_file}", file=sys.stderr)
        return 1
    client = connect(settings.redis_url, socket_connect_timeout=2)
    try:
        published = experiments.reports(client, Layout())
        paused = experiments.pauses(client, Layout())
    finally:
        client.close()
    for name in [args.rule] if args.rule else names:
        print(
            "\n".join(performance_table(experiments.with_pauses(name, published.get(name), paused)))
        )
    return 0


def _rules(settings: Settings, args: argparse.Namespace) -> int:
    if args.rules_command in ("pause", "unpause"):
        return _pause(settings, args)
    path = args.path or settings.triggers_file
    rules = load_rules(path, settings.feature_defs_dir)
    print(f"{path}: {len(rules.rules)} rules valid (version {rules.version})")
    for rule in sorted(rules.rules, key=lambda r: (r.trigger, -r.spec.priority)):
        spec = rule.spec
        print(
            f"  {rule.name:<26} p{spec.priority:<4} {' > '.join(rule.channels):<14} "
            f"holdout {spec.holdout:.0%}  on {rule.trigger}  when {spec.when or '-'}"
        )
    return 0


def _api(settings: Settings, args: argparse.Namespace) -> int:
    from serving.api.workers import serve

    return serve(
        args.host or settings.api_host,
        args.port or settings.api_port,
        args.workers or settings.api_workers,
    )


def _scheduler(settings: Settings, args: argparse.Namespace) -> int:
    import logging

    from serving.scheduler import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    tally = asyncio.run(serve(settings, once=args.once))
    print(f"scheduler: {tally.counters()}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m serving", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)
    score = sub.add_parser("score", help="a customer's live score, decile and segment")
    score.add_argument("customer_id")
    audience = sub.add_parser("audience", help="export an audience to CSV")
    audience.add_argument("--min-score", type=float, required=True)
    audience.add_argument("--max-score", type=float, default=1.0)
    audience.add_argument("--segment", help="one RFM segment, e.g. at_risk")
    audience.add_argument(
        "--deciles", type=decile_range, default=(1, 10), help="e.g. 1-3 (1 = the top tenth)"
    )
    audience.add_argument("--model", default=get_settings().model_name)
    audience.add_argument("--out", help="CSV file (default: standard output)")
    sub.add_parser("summary", help="counts of the live run by decile and segment")
    keys = sub.add_parser("keys", help="API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    add = keys_sub.add_parser("add", help="create a key (printed once)")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=sorted(auth.ROLES))
    revoke = keys_sub.add_parser("revoke", help="remove a key")
    revoke.add_argument("--name", required=True)
    keys_sub.add_parser("list", help="names and roles (never the keys)")
    private = sub.add_parser("privacy", help="data subject requests")
    private_sub = private.add_subparsers(dest="privacy_command", required=True)
    export = private_sub.add_parser("export", help="ask for everything held about a customer")
    export.add_argument("customer_id")
    erase = private_sub.add_parser(
        "erase", help="erase a customer from every store (their devices and events too)"
    )
    erase.add_argument("customer_id")
    status = private_sub.add_parser("status", help="a request's state")
    status.add_argument("request_id")
    rules = sub.add_parser("rules", help="trigger rules")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    for verb, says in (("pause", "stop choosing"), ("unpause", "choose again")):
        change = rules_sub.add_parser(verb, help=f"{says} a rule's variant")
        change.add_argument("rule")
        change.add_argument("variant")
        if verb == "pause":
            change.add_argument("--reason", default="", help="recorded with the pause")
    check = rules_sub.add_parser("check", help="validate a rules file")
    check.add_argument("path", nargs="?")
    measured = sub.add_parser("performance", help="each rule against its holdout, hourly")
    measured.add_argument("rule", nargs="?", help="one rule (default: every rule)")
    api = sub.add_parser("api", help="run the HTTP API")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.add_argument("--workers", type=int, help="default KAIROS_API_WORKERS")
    scheduler = sub.add_parser(
        "scheduler", help="fire journey timers and deliver due sends (until SIGTERM)"
    )
    scheduler.add_argument("--once", action="store_true", help="one pass, then exit")
    sub.add_parser("drain", help="Redis Streams -> landing files")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = get_settings()
    try:
        if args.command == "score":
            return asyncio.run(_score(settings, args.customer_id))
        if args.command == "audience":
            return asyncio.run(_audience(settings, args))
        if args.command == "summary":
            return asyncio.run(_summary(settings))
        if args.command == "keys":
            return _keys(settings, args)
        if args.command == "rules":
            return _rules(settings, args)
        if args.command == "performance":
            return _performance(settings, args)
        if args.command == "privacy":
            return asyncio.run(_privacy(settings, args))
        if args.command == "api":
            return _api(settings, args)
        if args.command == "scheduler":
            return _scheduler(settings, args)
        from serving.drain import drain_all

        drain_all(settings)
        return 0
    except (
        RuleError,
        auth.KeyFileError,
        NotReady,
        UnknownModel,
        CursorExpired,
        NoDeciles,
        privacy.UnknownRequest,
        privacy.InvalidRequest,
        DeliveryConfigError,
    ) as err:
        print(f"serving: {err}", file=sys.stderr)
        return 1
    except RedisError as err:
        shown = printable_url(settings.redis_url)
        print(f"serving: Redis at {shown} is unreachable: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
