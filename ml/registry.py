"""Moving ``@champion`` by hand: promote a version, roll back to the one it replaced.

The hourly training promotes on its own (:mod:`ml.propensity`); these are the operator's
overrides, recorded on the versions like training's own decisions:

* :func:`promote` points ``@champion`` at a version and tags it with the decision, the
  reason and the version it replaced (``kairos.replaced_version``);
* :func:`rollback` points ``@champion`` back at the version the current champion replaced
  (its ``kairos.replaced_version``, else the champion training compared it with,
  ``kairos.champion_version``), or at a version named with ``to``.

The next hour's scoring serves the new champion; to serve it at once, clear that hour's
``score_customers`` and ``materialize_scores`` tasks (README, Operations).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from ml import tracking


class RegistryError(RuntimeError):
    """The registry cannot do what was asked; the message says why."""


@dataclass(frozen=True)
class Move:
    model: str
    champion: str
    previous: str | None
    reason: str


def _version_tags(client: MlflowClient, model: str, version: str) -> dict[str, str]:
    try:
        return dict(client.get_model_version(model, version).tags)
    except MlflowException:
        raise RegistryError(f"{model} has no version {version}") from None


def _move(client: MlflowClient, model: str, version: str, reason: str, **tags: str) -> Move:
    _version_tags(client, model, version)  # exists?
    previous = tracking.alias_version(client, model, tracking.CHAMPION)
    if previous == version:
        raise RegistryError(f"{model} v{version} is already @champion")
    client.set_registered_model_alias(model, tracking.CHAMPION, version)
    stamp = {
        "kairos.decision": tracking.CHAMPION,
        "kairos.reason": reason,
        "kairos.decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **tags,
    }
    for key, value in stamp.items():
        client.set_model_version_tag(model, version, key, value)
    return Move(model, version, previous, reason)


def promote(client: MlflowClient, model: str, version: str, reason: str = "") -> Move:
    """Make ``version`` the champion; it remembers the champion it replaced."""
    previous = tracking.alias_version(client, model, tracking.CHAMPION)
    why = f"promoted by hand{': ' + reason if reason else ''}"
    return _move(client, model, version, why, **{"kairos.replaced_version": previous or ""})


def rollback(client: MlflowClient, model: str, to: str | None = None, reason: str = "") -> Move:
    """Point ``@champion`` back at the version the current champion replaced (or ``to``)."""
    current = tracking.alias_version(client, model, tracking.CHAMPION)
    if current is None:
        raise RegistryError(f"{model} has no @champion to roll back")
    tags = _version_tags(client, model, current)
    target = to or tags.get("kairos.replaced_version") or tags.get("kairos.champion_version")
    if not target:
        raise RegistryError(
            f"{model} v{current} records no earlier champion; name one with --to VERSION"
        )
    why = f"rolled back from v{current} by hand{': ' + reason if reason else ''}"
    return _move(client, model, target, why)


@dataclass(frozen=True)
class VersionInfo:
    version: str
    aliases: tuple[str, ...]
    decision: str
    reason: str
    holdout_roc_auc: str


def versions(client: MlflowClient, model: str) -> list[VersionInfo]:
    """Every version of ``model``, newest first, with its aliases and recorded decision."""
    try:
        aliases = client.get_registered_model(model).aliases
    except MlflowException:
        raise RegistryError(f"no registered model {model!r}") from None
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    found = sorted(client.search_model_versions(f"name = '{model}'"), key=lambda v: -int(v.version))
    return [
        VersionInfo(
            str(v.version),
            tuple(sorted(by_version.get(str(v.version), []))),
            v.tags.get("kairos.decision", ""),
            v.tags.get("kairos.reason", ""),
            v.tags.get("kairos.holdout_roc_auc", ""),
        )
        for v in found
    ]


def holdout_metrics(client: MlflowClient, model: str, version: str) -> dict[str, float]:
    """The ``holdout_*`` metrics of the training run that logged ``model`` ``version``."""
    run_id = client.get_model_version(model, version).run_id
    if not run_id:
        return {}
    logged = client.get_run(run_id).data.metrics
    return {k.removeprefix("holdout_"): v for k, v in logged.items() if k.startswith("holdout_")}
