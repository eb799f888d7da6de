"""Registry clean-up: old model versions that no alias points at are deleted.

The segmenter is registered every hour and the propensity model every day, so without
clean-up the registry grows by about 750 versions a month. A version is kept when an alias
(``@champion``, ``@challenger``, or any alias a data scientist set by hand) points at it,
or when it is one of the ``keep`` newest; every other version is deleted (its run and
artifacts stay in the experiment).
"""

from __future__ import annotations

from mlflow import MlflowClient


def prune_versions(client: MlflowClient, model: str, keep: int) -> list[str]:
    """Delete ``model``'s versions beyond the ``keep`` newest that have no alias."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    from mlflow.exceptions import MlflowException

    try:
        # search_model_versions leaves ``aliases`` empty; the registered model has them all.
        aliased = {str(v) for v in client.get_registered_model(model).aliases.values()}
    except MlflowException:
        return []  # not registered yet
    versions = sorted(
        client.search_model_versions(f"name = '{model}'"),
        key=lambda v: int(v.version),
        reverse=True,
    )
    deleted = []
    for version in versions[keep:]:
        if str(version.version) in aliased:
            continue
        client.delete_model_version(model, version.version)
        deleted.append(str(version.version))
    return sorted(deleted, key=int)
