"""MLflow set-up from settings: one tracking URI, named experiments, a client."""

from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow import MlflowClient

from kairos.settings import Settings, is_remote

CHAMPION = "champion"
CHALLENGER = "challenger"


def use(settings: Settings, experiment: str | None = None) -> MlflowClient:
    """Point MLflow at the settings' tracking URI and experiment (created if missing)."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    name = experiment or settings.mlflow_experiment
    client = MlflowClient(settings.mlflow_tracking_uri)
    if client.get_experiment_by_name(name) is None:
        root = settings.mlflow_artifact_root
        if not is_remote(root):
            Path(root).mkdir(parents=True, exist_ok=True)
            root = Path(root).as_uri()
        client.create_experiment(name, artifact_location=f"{root.rstrip('/')}/{name}")
    mlflow.set_experiment(name)
    return client


def alias_version(client: MlflowClient, model: str, alias: str) -> str | None:
    """The version an alias points at, or ``None``."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model, alias).version)
    except MlflowException:
        return None


def has_store(settings: Settings) -> bool:
    """Whether the tracking store exists yet: a local SQLite file that was never created
    holds no runs or models (reading it would create it, with its migrations)."""
    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).exists()
    return True


def challengers(client: MlflowClient, model: str, count: int) -> list[str]:
    """Up to ``count`` versions to shadow: ``@challenger`` first, then the newest other
    versions whose recorded decision is challenger; never the champion."""
    if count <= 0:
        return []
    champion = alias_version(client, model, CHAMPION)
    picked: list[str] = []
    first = alias_version(client, model, CHALLENGER)
    if first is not None and first != champion:
        picked.append(first)
    if len(picked) < count:
        found = client.search_model_versions(
            f"name = '{model}' and tag.`kairos.decision` = '{CHALLENGER}'",
            order_by=["version_number DESC"],
            max_results=count + 2,
        )
        for version in found:
            if len(picked) == count:
                break
            if str(version.version) not in (*picked, champion):
                picked.append(str(version.version))
    return picked
