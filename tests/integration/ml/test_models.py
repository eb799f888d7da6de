"""Models against a real MLflow (sqlite in a temp dir) on two weeks of synthetic history:
training, bring-your-own candidates, shadow scoring and monitoring."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kairos import catalog, lake
from kairos.datagen import generate
from kairos.feature_defs import load_features, load_rfm
from kairos.interval import Interval
from kairos.landing import LocalLanding, hour_prefix
from kairos.settings import Settings
from ml import (
    candidates,
    dataset,
    monitor_report,
    monitoring,
    propensity,
    segmenter,
    tracking,
)
from ml.training_data import TrainingData
from serving.layout import Layout
from spark_jobs import (
    gold_features,
    materialize_scores,
    monitor_models,
    pipeline,
    rfm,
    score_customers,
    train_models,
)

START = datetime(2026, 11, 2, tzinfo=UTC)
END = START + timedelta(days=14)  # snapshots at 14 midnights, 7 of them with complete labels


@pytest.fixture(scope="module")
def history(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("ml")
    settings = Settings(
        local_dir=str(root / "local"),
        lake_root=str(root / "lake"),
        landing_root=str(root / "landing"),
    )
    generate(
        LocalLanding(settings.landing_root), customers=3_000, start=START, hours=14 * 24, seed=11
    )
    pipeline.run(spark, settings, Interval(START, END))
    return settings


@pytest.fixture(scope="module")
def data(spark: SparkSession, history: Settings) -> TrainingData:
    loaded = dataset.load(spark, history, load_features(history.feature_defs_dir), END)
    assert not isinstance(loaded, str), loaded
    return loaded


def fresh_mlflow(settings: Settings, path: Path) -> Settings:
    return settings.model_copy(
        update={
            "mlflow_tracking_uri": f"sqlite:///{path / 'mlflow.db'}",
            "mlflow_artifact_root": str(path / "artifacts"),
        }
    )


def test_training_data_is_split_by_time_with_complete_labels(data: TrainingData) -> None:
    assert data.train.as_of.max() < data.valid.as_of.min() < data.holdout.as_of.min()
    assert data.holdout.as_of.max() + timedelta(days=7) <= END.replace(tzinfo=None)
    assert data.train.as_of.nunique() == 5 and data.valid.as_of.nunique() == 1
    assert set(data.train.label.unique()) == {0, 1}
    assert "preferred_channel" not in data.columns and "purchases_7d" in data.columns


def test_a_trainset_holds_the_rows_the_hourly_training_reads(
    spark: SparkSession, spark_server, history: Settings, data: TrainingData, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """``python -m ml trainset`` writes what ``dataset.load`` trains on (same rows, labels and
    feature values), with the feature list and Delta versions beside it. (Before the tests
    that process another hour on this lake.)"""
    import os
    import subprocess
    import sys

    from devtools.dag_runs import settings_env

    out = tmp_path / "trainset"
    first, last = START + timedelta(days=1), END  # every snapshot day of the history
    env = {**os.environ, **settings_env(history), "KAIROS_SPARK_REMOTE": spark_server.url}
    done = subprocess.run(
        [
            sys.executable, "-m", "ml", "trainset",
            "--as-of-from", f"{first:%Y-%m-%d}", "--as-of-to", f"{last:%Y-%m-%d}",
            "--out", str(out),
        ],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    written = pd.read_parquet(out)
    trained = pd.concat([data.train, data.valid, data.holdout])
    key = ["customer_id", "as_of"]
    columns = [*key, "label", *data.columns]
    left = written[columns].sort_values(key).reset_index(drop=True)
    right = trained[columns].sort_values(key).reset_index(drop=True)
    left[data.columns] = left[data.columns].astype("float64")
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    sidecar = json.loads((out / "_trainset.json").read_text())
    assert sidecar["features"] == data.columns and sidecar["rows"] == len(trained)
    assert sidecar["delta_versions"] == data.table_versions
    assert sidecar["label_horizon_days"] == 7
    # the snapshots of the last 7 days have no complete label yet: left out, and counted
    recent = lake.read(spark, history, catalog.FEATURE_SNAPSHOTS).where(
        F.col("as_of") > F.lit((END - timedelta(days=7)).replace(tzinfo=None))
    )
    assert sidecar["incomplete"] == recent.count() > 0
    assert "left out (label not complete" in done.stdout


def test_first_model_is_champion_worse_stays_challenger_better_is_promoted(
    history: Settings, data: TrainingData, tmp_path: Path
) -> None:
    settings = fresh_mlflow(history, tmp_path)
    # The registry explicitly: an earlier test's mlflow.set_registry_uri is process-wide.
    client = MlflowClient(settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)

    weak = propensity.train_and_register(
        settings, data, columns=["email_opens_30d", "page_views_30d"]
    )
    assert (weak.version, weak.decision) == ("1", "champion")
    worse = propensity.train_and_register(settings, data, columns=["app_sessions_30d"])
    assert worse.decision == "challenger"
    assert worse.metrics["roc_auc"] < weak.metrics["roc_auc"] + settings.promotion_margin
    better = propensity.train_and_register(settings, data)
    assert better.decision == "champion", better.reason
    assert better.metrics["roc_auc"] >= weak.metrics["roc_auc"] + settings.promotion_margin

    assert tracking.alias_version(client, settings.model_name, "champion") == better.version
    assert tracking.alias_version(client, settings.model_name, "challenger") == worse.version
    tags = client.get_model_version(settings.model_name, worse.version).tags
    assert tags["kairos.decision"] == "challenger"
    assert float(tags["kairos.champion_roc_auc"]) == pytest.approx(weak.metrics["roc_auc"])
    assert float(tags["kairos.holdout_roc_auc"]) == pytest.approx(worse.metrics["roc_auc"])
    assert tags["kairos.champion_version"] == weak.version
    promoted = client.get_model_version(settings.model_name, better.version).tags
    assert (
        promoted["kairos.decision"] == "champion"
        and "beats the champion" in promoted["kairos.reason"]
    )

    run = client.get_run(better.run_id)
    names = ("roc_auc", "pr_auc", "log_loss", "brier", "top_decile_lift", "top_decile_capture")
    assert {f"holdout_{n}" for n in names} <= set(run.data.metrics)
    assert (
        run.data.params["features_hash"] and run.data.params["delta_version.gold.feature_snapshots"]
    )
    artifacts = {a.path for a in client.list_artifacts(better.run_id)}
    assert {"calibration.png", "feature_importance.csv", "features.json"} <= artifacts


def test_holdout_quality_on_synthetic_data(
    history: Settings, data: TrainingData, tmp_path: Path
) -> None:
    settings = fresh_mlflow(history, tmp_path)
    outcome = propensity.train_and_register(settings, data)
    m = outcome.metrics
    print(f"holdout: {json.dumps({k: round(v, 3) for k, v in m.items()})}")
    assert m["roc_auc"] > 0.68
    assert m["top_decile_capture"] > 0.25  # the top tenth holds over 2.5x its share of buyers
    # seeded: the same data gives the same model
    again = propensity.train_and_register(settings, data)
    assert again.metrics == m


def test_hourly_training_scoring_and_consent(
    spark: SparkSession, history: Settings, tmp_path: Path, checksum
) -> None:  # type: ignore[no-untyped-def]
    settings = fresh_mlflow(history, tmp_path)
    first = train_models.run(spark, settings, Interval(END - timedelta(hours=1), END))
    assert first.segmenter_version == "1" and first.outcome is not None and first.skipped is None

    # next hour: three customers withdraw scoring consent
    withdrawn = [
        r.customer_id
        for r in lake.read(spark, settings, catalog.CUSTOMER_FEATURES)
        .orderBy("customer_id")
        .limit(3)
        .collect()
    ]
    hour = END
    lines = [
        json.dumps(
            {
                "event_id": f"consent-{i}",
                "event_type": "consent_updated",
                "occurred_at": (hour + timedelta(minutes=5 + i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "customer_id": cid,
                "channel": "web",
                "schema_version": 1,
                "properties": {"consent_channel": "scoring", "consent_granted": False},
            }
        )
        for i, cid in enumerate(withdrawn)
    ]
    LocalLanding(settings.landing_root).write_text(
        f"{hour_prefix(hour)}/consent.jsonl", "\n".join(lines) + "\n"
    )
    interval = Interval(hour, hour + timedelta(hours=1))
    pipeline.run(spark, settings, interval)
    second = train_models.run(spark, settings, interval)
    assert second.outcome is None and second.skipped is not None
    assert "no new labelled data since the last training" in second.skipped
    assert second.segmenter_version == "2"

    report = score_customers.run(spark, settings, interval)
    assert report is not None and report.model_version == first.outcome.version
    scores = lake.read(spark, settings, catalog.SCORES)
    as_of = interval.naive_end
    featurized = lake.read(spark, settings, catalog.CUSTOMER_FEATURES).where(
        F.col("as_of") == as_of
    )
    consenting = featurized.join(
        lake.read(spark, settings, catalog.SILVER_CUSTOMERS).where("consent_scoring"),
        "customer_id",
        "left_semi",
    )
    assert scores.count() == scores.select("customer_id").distinct().count() == consenting.count()
    assert report.excluded_no_consent >= 3
    assert scores.where(F.col("customer_id").isin(withdrawn)).count() == 0
    bounds = scores.agg(F.min("score").alias("lo"), F.max("score").alias("hi")).first()
    assert 0.0 <= bounds.lo <= bounds.hi <= 1.0
    assert set(report.deciles) == set(range(1, 11))
    top, bottom = report.deciles[1], report.deciles[10]
    assert top[1] >= bottom[2]  # decile 1 holds the highest scores
    assert {r.segment for r in scores.select("segment").distinct().collect()} >= {"prospect"}

    # rerunning the hour's scoring leaves gold.scores as it was
    before = checksum(scores)
    score_customers.run(spark, settings, interval)
    assert checksum(lake.read(spark, settings, catalog.SCORES)) == before

    # the registered segmenter (pandas) gives gold's Spark segments on the same population
    _, model = segmenter.load_champion(settings)
    frame = featurized.toPandas()
    predicted = model.predict(None, frame)
    assert (predicted.rfm_segment.to_numpy() == frame.rfm_segment.to_numpy()).all()

    # rerunning (or backfilling) an hour of the day before must not train an older model
    day_before = Interval(END - timedelta(days=1, hours=1), END - timedelta(days=1))
    outcome, reason = train_models.train_propensity(spark, settings, day_before)
    assert outcome is None and reason is not None and "already trained up to" in reason


def test_segments_are_stable_when_the_population_barely_changes(
    spark: SparkSession, history: Settings
) -> None:
    spec = load_rfm(history.feature_defs_dir, load_features(history.feature_defs_dir))
    current = lake.read(spark, history, catalog.CUSTOMER_FEATURES)
    nearly = current.where(F.abs(F.xxhash64("customer_id")) % 100 != 0)  # 1% leave
    a = rfm.score(current, spec, rfm.fit_edges(current, spec)).select(
        "customer_id", F.col("rfm_segment").alias("a")
    )
    b = rfm.score(nearly, spec, rfm.fit_edges(nearly, spec)).select(
        "customer_id", F.col("rfm_segment").alias("b")
    )
    joined = a.join(b, "customer_id")
    same = joined.where("a = b").count() / joined.count()
    assert same >= 0.95, same


def test_a_90_day_label_horizon_trains_on_default_settings(
    spark: SparkSession, history: Settings, tmp_path: Path
) -> None:
    """The usual "buys next quarter": with ``KAIROS_LABEL_HORIZON_DAYS=90`` and the default
    56-day window, the window used to count back from the hour being run, so it ended before
    any snapshot's label was complete and the model never trained. It now counts back from
    the newest snapshot with a complete label. (The lake's events end with the history: the
    90 days after it are days without events, which the labels read as no purchase.)"""
    settings = fresh_mlflow(history, tmp_path).model_copy(update={"label_horizon_days": 90})
    assert settings.training_window_days == 56  # the default
    known = END + timedelta(days=90)
    start, newest = dataset.window(settings, known)
    assert newest == END.replace(tzinfo=None) and start == newest - timedelta(days=56)
    outcome, reason = train_models.train_propensity(
        spark, settings, Interval(known - timedelta(hours=1), known)
    )
    assert outcome is not None, reason
    assert outcome.decision == "champion"
    client = MlflowClient(settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)
    run = client.get_run(outcome.run_id)
    assert run.data.params["label_horizon_days"] == "90"
    assert run.data.tags["kairos.newest_as_of"].startswith(f"{END:%Y-%m-%d}")


# --- bring your own model (ml.candidates): versions registered with MLflow's own API --------

WEAK = ["email_opens_30d", "page_views_30d"]


class Probabilities(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """A scikit-learn classifier as a pyfunc whose ``predict`` is P(buys)."""

    def __init__(self, model: Any, columns: list[str]):
        self.model, self.columns = model, columns

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        return self.model.predict_proba(model_input[self.columns].astype("float64"))[:, 1]


def register_candidate(settings: Settings, python_model: Any, example: pd.DataFrame) -> str:
    """Log and register as a data scientist would, then mark the version ``@candidate``."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    with mlflow.start_run(run_name="notebook"):
        signature = mlflow.models.infer_signature(example, python_model.predict(None, example))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=python_model,
            signature=signature,
            registered_model_name=settings.model_name,
        )
    version = str(info.registered_model_version)
    registry_of(settings).set_registered_model_alias(settings.model_name, "candidate", version)
    return version


def registry_of(settings: Settings) -> MlflowClient:
    return MlflowClient(settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)


def fitted(train: pd.DataFrame, columns: list[str], model: Any) -> Any:
    return model.fit(train[columns].astype("float64"), train.label)


@pytest.fixture
def judged(history: Settings, data: TrainingData, tmp_path: Path) -> Settings:
    """A fresh registry whose champion is the job's own model on two weak features."""
    settings = fresh_mlflow(history, tmp_path)
    weak = propensity.train_and_register(settings, data, columns=WEAK)
    assert weak.decision == "champion"
    return settings


def test_a_better_candidate_is_promoted_and_a_worse_one_is_not(
    judged: Settings,
    data: TrainingData,
) -> None:
    registry = registry_of(judged)
    champion = tracking.alias_version(registry, judged.model_name, "champion")
    example = data.holdout[data.columns].head(5)
    strong = fitted(data.train, data.columns, HistGradientBoostingClassifier(random_state=0))
    better = register_candidate(judged, Probabilities(strong, data.columns), example)
    verdict = candidates.evaluate(registry, judged, data)
    assert verdict is not None and (verdict.version, verdict.decision) == (better, "champion")
    assert tracking.alias_version(registry, judged.model_name, "champion") == better
    assert tracking.alias_version(registry, judged.model_name, "candidate") is None
    tags = registry.get_model_version(judged.model_name, better).tags
    assert tags["kairos.decision"] == "champion" and "beats the champion" in tags["kairos.reason"]
    assert tags["kairos.champion_version"] == champion
    assert float(tags["kairos.holdout_roc_auc"]) >= float(tags["kairos.champion_roc_auc"]) + 0.005
    assert float(tags["kairos.holdout_roc_auc"]) == pytest.approx(
        verdict.metrics["roc_auc"], abs=1e-6
    )

    # the same margin rule against the new champion: a one-feature model does not beat it
    weak = fitted(data.train, ["app_sessions_30d"], LogisticRegression())
    worse = register_candidate(judged, Probabilities(weak, ["app_sessions_30d"]), example)
    verdict = candidates.evaluate(registry, judged, data)
    assert verdict is not None and (verdict.version, verdict.decision) == (worse, "challenger")
    assert tracking.alias_version(registry, judged.model_name, "champion") == better
    assert tracking.alias_version(registry, judged.model_name, "challenger") == worse
    assert candidates.evaluate(registry, judged, data) is None  # judged once


def integer_columns(frame: pd.DataFrame, columns: list[str]) -> dict[str, str]:
    """The columns a trainset stores as long (counts: whole, never missing)."""
    return {c: "int64" for c in columns if frame[c].notna().all() and (frame[c] % 1 == 0).all()}


def test_a_candidate_whose_signature_came_from_trainset_rows_is_judged(
    judged: Settings, data: TrainingData
) -> None:
    """The demo's notebook model was refused: its signature, inferred from the Parquet rows
    of ``python -m ml trainset``, declares the counts long, and the holdout handed to
    ``predict`` was float64, which MLflow will not narrow ("Can not safely convert float64 to
    int64"). The holdout now takes the signature's types."""
    columns = ["purchases_30d", "sessions_7d", "days_since_last_visit", "cart_adds_7d"]
    as_stored = integer_columns(data.holdout, columns)
    assert set(as_stored) == {"purchases_30d", "sessions_7d", "cart_adds_7d"}
    example = data.holdout[columns].head(5).astype(as_stored)
    model = fitted(data.train, columns, make_pipeline(SimpleImputer(), LogisticRegression()))
    version = register_candidate(judged, Probabilities(model, columns), example)
    verdict = candidates.evaluate(registry_of(judged), judged, data)
    assert verdict is not None and verdict.version == version
    assert verdict.decision in ("champion", "challenger"), verdict.reason


def test_a_candidate_that_does_not_fit_gets_the_reason_on_its_version(
    judged: Settings,
    data: TrainingData,
) -> None:
    registry = registry_of(judged)
    champion = tracking.alias_version(registry, judged.model_name, "champion")
    example = data.holdout[data.columns].head(5)

    # a plain scikit-learn log: pyfunc predict gives class labels, not probabilities
    mlflow.set_tracking_uri(judged.mlflow_tracking_uri)
    mlflow.set_registry_uri(judged.mlflow_tracking_uri)
    plain = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=500))
    model = fitted(data.train, data.columns, plain)
    with mlflow.start_run(run_name="plain sklearn"):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            signature=mlflow.models.infer_signature(example, model.predict(example)),
            registered_model_name=judged.model_name,
        )
    labels = str(info.registered_model_version)
    registry.set_registered_model_alias(judged.model_name, "candidate", labels)
    verdict = candidates.evaluate(registry, judged, data)
    assert verdict is not None and verdict.decision == "refused"
    reason = registry.get_model_version(judged.model_name, labels).tags["kairos.reason"]
    assert reason == "refused: predict returned class labels (only 0 and 1), not probabilities"

    # a signature naming a feature the training set does not have
    unknown = example.assign(visits_next_year=1.0)
    wider = [*data.columns, "visits_next_year"]
    model = fitted(
        data.train.assign(visits_next_year=1.0), wider, HistGradientBoostingClassifier(max_iter=20)
    )
    misfit = register_candidate(judged, Probabilities(model, wider), unknown)
    verdict = candidates.evaluate(registry, judged, data)
    assert verdict is not None and (verdict.version, verdict.decision) == (misfit, "refused")
    reason = registry.get_model_version(judged.model_name, misfit).tags["kairos.reason"]
    assert "'visits_next_year'" in reason and "features.yaml" in reason
    # neither moved the champion, and neither is left waiting
    assert tracking.alias_version(registry, judged.model_name, "champion") == champion
    assert tracking.alias_version(registry, judged.model_name, "candidate") is None


def test_the_hourly_training_judges_a_waiting_candidate(
    spark: SparkSession,
    judged: Settings,
    data: TrainingData,
) -> None:
    example = data.holdout[data.columns].head(5)
    strong = fitted(data.train, data.columns, HistGradientBoostingClassifier(random_state=0))
    version = register_candidate(judged, Probabilities(strong, data.columns), example)
    verdict = train_models.evaluate_candidate(
        spark, judged, Interval(END - timedelta(hours=1), END)
    )
    assert verdict is not None and (verdict.version, verdict.decision) == (version, "champion")


# --- shadow scoring and monitoring (spark_jobs.monitor_models) ------------------------------

HOUR = timedelta(hours=1)
SCORED = END - timedelta(days=7)  # its 7-day labels are complete at END


@pytest.fixture
def own_lake(history: Settings, tmp_path: Path) -> Settings:
    """The history's lake copied (these tests write to it) and a fresh registry."""
    copy = tmp_path / "lake"
    shutil.copytree(history.lake_root, copy)
    return fresh_mlflow(history, tmp_path).model_copy(update={"lake_root": str(copy)})


def test_a_shadowed_challenger_is_scored_beside_the_champion_compared_and_never_served(
    spark: SparkSession, own_lake: Settings, data: TrainingData, redis_server: str
) -> None:
    settings = own_lake.model_copy(update={"redis_url": redis_server})
    champion = propensity.train_and_register(settings, data)
    columns = data.columns[:12]
    model = fitted(
        data.train, columns, make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression())
    )
    # a signature with long columns, as one inferred from trainset rows has
    example = data.holdout[columns].head(5).astype(integer_columns(data.holdout, columns))
    challenger = register_candidate(settings, Probabilities(model, columns), example)
    client = registry_of(settings)
    client.delete_registered_model_alias(settings.model_name, "candidate")
    client.set_registered_model_alias(settings.model_name, "challenger", challenger)

    week_ago = Interval(SCORED - HOUR, SCORED)
    gold_features.run(spark, settings, week_ago)
    train_models.fit_segmenter(spark, settings, week_ago)
    report = score_customers.run(spark, settings, week_ago)
    assert report is not None and report.model_version == champion.version
    assert report.shadowed == {challenger: report.customers}
    hour = lake.read(spark, settings, catalog.SCORES).where(F.col("scored_at") == SCORED)
    by_role = {r["role"]: r for r in hour.groupBy("role", "model_version").count().collect()}
    assert by_role["champion"]["model_version"] == champion.version
    assert by_role["challenger"]["model_version"] == challenger
    assert by_role["champion"]["count"] == by_role["challenger"]["count"] == report.customers
    champion_ids = hour.where("role = 'champion'").select("customer_id")
    assert (
        champion_ids.subtract(hour.where("role = 'challenger'").select("customer_id")).count() == 0
    )

    # only the champion reaches Redis
    served = materialize_scores.run(spark, settings, week_ago)
    assert served is not None and served.rows == report.customers
    import redis

    r = redis.Redis.from_url(redis_server, decode_responses=True)
    layout = Layout()
    assert r.zcard(layout.model_scores(served.run, settings.model_name)) == report.customers
    some = hour.where("role = 'champion'").orderBy("customer_id").first()
    stored = r.hgetall(layout.customer(served.run, some["customer_id"]))
    assert stored["model_version"] == champion.version
    assert float(stored["score"]) == pytest.approx(some["score"])

    # a week later the labels are complete: the comparison and the calibration
    now = Interval(END - HOUR, END)
    score_customers.run(spark, settings, now)
    monitored = monitor_models.run(spark, settings, now)
    assert monitored is not None and monitored.matured_hours == 1
    rows = hour.join(_bought_within_a_week(spark, settings), "customer_id", "left").fillna(
        0, ["label"]
    )
    frame = rows.select("customer_id", "role", "score", "decile", "label").toPandas()
    mine = frame[frame.role == "challenger"].sort_values("customer_id")
    theirs = frame[frame.role == "champion"].sort_values("customer_id")
    [compared] = monitored.comparison
    assert compared["challenger_version"] == challenger and compared["hours"] == 1
    assert compared["customers"] == len(mine) and compared["positives"] == mine.label.sum()
    for who, part in (("challenger", mine), ("champion", theirs)):
        # 1,000 score bins: ties within a bin move the AUC by well under 0.002
        assert compared[f"{who}_roc_auc"] == pytest.approx(
            roc_auc_score(part.label, part.score), abs=2e-3
        )
        assert compared[f"{who}_pr_auc"] == pytest.approx(
            average_precision_score(part.label, part.score), abs=5e-3
        )

    # calibration by served decile, by hand from the rows and their labels
    by_hand = theirs.groupby("decile").agg(
        n=("label", "size"), e=("score", "mean"), o=("label", "mean")
    )
    gaps = {c.subject: c.value for c in monitored.checks if c.check == "calibration_gap"}
    judged = by_hand[by_hand.n >= 200]
    assert len(judged) >= 5
    assert gaps == pytest.approx({f"decile {d}": abs(r.e - r.o) for d, r in judged.iterrows()})

    # the report is in the lake, on the champion's MLflow run, and printed back
    table = lake.read(spark, settings, catalog.MODEL_MONITORING).where(
        F.col("as_of") == END.replace(tzinfo=None)
    )
    assert table.count() == len(monitored.checks)
    history_of = client.get_metric_history(champion.run_id, "monitor.score_psi.score")
    assert [m.step for m in history_of] == [int(END.timestamp() // 3600)]
    printed = "\n".join(monitor_report.lines(spark, settings))
    assert f"shadow v{challenger} vs champion on {len(mine):,} matured scores" in printed
    assert "decile 1: expected" in printed


def _bought_within_a_week(spark: SparkSession, settings: Settings):  # type: ignore[no-untyped-def]
    start = SCORED
    return (
        lake.read(spark, settings, catalog.SILVER_EVENTS)
        .where(
            (F.col("event_type") == "purchase")
            & (F.col("occurred_at") > F.lit(start))
            & (F.col("occurred_at") <= F.lit(start + timedelta(days=7)))
        )
        .select("customer_id")
        .distinct()
        .withColumn("label", F.lit(1))
    )


def test_a_shifted_feature_raises_the_drift_alert_naming_it_and_an_unshifted_run_does_not(
    spark: SparkSession, history: Settings, data: TrainingData
) -> None:
    """The champion's reference from one half of the customers, the hour from the other half:
    the same population is stable; shifting one feature alerts on that feature alone."""
    features = lake.read(spark, history, catalog.CUSTOMER_FEATURES).where(
        F.col("as_of") == END.replace(tzinfo=None)
    )
    half = F.abs(F.hash("customer_id")) % 2
    reference_rows = features.where(half == 0).toPandas()
    rng = np.random.default_rng(5)
    reference = monitoring.reference_of(reference_rows, data.columns, rng.uniform(size=2_000))
    current = features.where(half == 1)
    scores = current.select(F.rand(seed=3).alias("score"))
    thresholds = monitoring.load_thresholds(history.feature_defs_dir)

    steady = monitor_models.drift_checks(current, scores, reference, thresholds)
    assert {c.check for c in steady} == {"feature_psi", "score_psi"}
    assert len([c for c in steady if c.check == "feature_psi"]) == len(data.columns)
    assert monitoring.alerts(steady) == []

    shifted = current.withColumn("page_views_7d", F.col("page_views_7d") * 3 + 4)
    raised = monitoring.alerts(monitor_models.drift_checks(shifted, scores, reference, thresholds))
    assert [(c.check, c.subject) for c in raised] == [("feature_psi", "page_views_7d")]
    assert raised[0].value is not None and raised[0].value > 0.25
    assert "feature_psi of page_views_7d is" in raised[0].message
