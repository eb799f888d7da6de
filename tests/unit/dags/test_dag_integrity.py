"""Every DAG imports cleanly and follows the house rules."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest

from kairos.orchestration import SPARK_CONN_ID, asset
from kairos.settings import PROJECT_ROOT
from spark_jobs import jobs


@pytest.fixture(scope="module")
def dagbag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_no_import_errors(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}
    assert {"kairos_hourly", "kairos_maintenance"} <= set(dagbag.dags)


def test_every_dag_has_tags_retries_docs_and_explicit_catchup(dagbag) -> None:  # type: ignore[no-untyped-def]
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md, dag_id
        assert dag.catchup is False, dag_id
        assert dag.start_date.tzinfo is not None, dag_id
        assert dag.dagrun_timeout is not None, dag_id
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id}"
            assert task.execution_timeout is not None, f"{dag_id}.{task.task_id}"
            assert task.on_failure_callback, f"{dag_id}.{task.task_id} has no alert hook"


def test_hourly_dag_has_an_hour_long_data_interval(dagbag) -> None:  # type: ignore[no-untyped-def]
    """The scheduler's view (the serialized timetable): a run covers one whole hour."""
    import pendulum
    from airflow.serialization.decoders import decode_timetable
    from airflow.serialization.encoders import encode_timetable
    from airflow.timetables.base import DataInterval, TimeRestriction

    timetable = decode_timetable(encode_timetable(dagbag.dags["kairos_hourly"].timetable))
    end = pendulum.datetime(2026, 11, 23, 7, tz="UTC")
    info = timetable.next_dagrun_info(
        last_automated_data_interval=DataInterval(end - timedelta(hours=1), end),
        restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
    )
    assert info is not None
    assert info.data_interval.start == end
    assert info.data_interval.end - info.data_interval.start == timedelta(hours=1)


def test_hourly_dag_wires_the_pipeline_jobs_in_order(dagbag) -> None:  # type: ignore[no-untyped-def]
    dag = dagbag.dags["kairos_hourly"]
    order = [
        "drain_streams",
        "bronze_events",
        "validate_events",
        "silver_events",
        "silver_customers",
        "gold_features",
        "train_models",
        "score_customers",
        "materialize_scores",
    ]
    for upstream, downstream in pairwise(order):
        assert downstream in dag.get_task(upstream).downstream_task_ids
    assert dag.get_task("silver_decisions").upstream_task_ids == {"drain_streams"}
    # measured once the hour's decisions and purchases are in silver
    measure = dag.get_task("measure_rules").upstream_task_ids
    assert measure == {"silver_decisions", "silver_events"}
    # monitoring follows scoring, beside materialization: serving never waits for it
    assert dag.get_task("monitor_models").upstream_task_ids == {"score_customers"}
    assert dag.get_task("monitor_models").downstream_task_ids == set()
    for job in jobs.ALL:
        dag_of_job = dagbag.dags[
            "kairos_maintenance" if job not in jobs.HOURLY else "kairos_hourly"
        ]
        task = dag_of_job.get_task(job.name)
        # a Spark Connect session from the kairos_spark connection, the job's own summary
        assert task.custom_operator_name == "@task.pyspark"
        assert task.conn_id == SPARK_CONN_ID
        assert task.doc == job.summary


def test_hourly_dag_alerts_on_failure_and_deadline_and_shows_lineage(dagbag) -> None:  # type: ignore[no-untyped-def]
    from kairos.alerts import run_failed

    dag = dagbag.dags["kairos_hourly"]
    callbacks = dag.on_failure_callback
    assert run_failed in (callbacks if isinstance(callbacks, list) else [callbacks])
    assert dag.dagrun_timeout == timedelta(minutes=55)
    outlets = {a.uri for t in dag.tasks for a in t.outlets}
    assert "x-kairos://lake/bronze.events" in outlets
    assert "x-kairos://lake/gold.scores" in outlets
    assert "x-kairos://redis/scores" in outlets
    for job in jobs.HOURLY:  # lineage is exactly what the job declares (and tests hold it to)
        task = dag.get_task(job.name)
        assert {a.uri for a in task.inlets} == {asset(d).uri for d in job.reads}, job.name
        assert {a.uri for a in task.outlets} == {asset(d).uri for d in job.writes}, job.name
    assert dag.timetable.expression == "0 * * * *"  # Assets do not schedule: intervals stay


def test_maintenance_dag_is_daily_and_covers_lake_redis_and_mlflow(dagbag) -> None:  # type: ignore[no-untyped-def]
    dag = dagbag.dags["kairos_maintenance"]
    assert dag.timetable.expression == "0 3 * * *"
    assert set(dag.task_ids) == {
        "maintain_lake",
        "expire_redis_runs",
        "prune_model_versions",
        "export_customers",
        "erase_customers",
    }
    # One Spark job at a time on the lake: an erasure's DELETE would conflict with OPTIMIZE,
    # and an export asked for before an erasure still sees the customer.
    lake = dag.get_task("maintain_lake")
    assert dag.get_task("export_customers").upstream_task_ids == {lake.task_id}
    assert dag.get_task("erase_customers").upstream_task_ids == {"export_customers"}
