"""The Kairos HTTP API (FastAPI, versioned under ``/v1``; OpenAPI at ``/openapi.json``).

    python -m serving api            # or `make up`, which also starts Redis

One module per resource (roles in brackets; key in ``Authorization: Bearer <key>`` or
``X-API-Key``):

* :mod:`~serving.api.scores`    ``GET /v1/customers/{id}/scores`` [marketing],
  ``GET /v1/customers/{id}/consent`` [marketing, ingest];
* :mod:`~serving.api.audiences` ``GET /v1/audiences`` [marketing];
* :mod:`~serving.api.events`    ``POST /v1/events`` [ingest];
* :mod:`~serving.api.privacy`   ``POST /v1/privacy/exports``,
  ``GET /v1/privacy/requests/{id}[/document]`` [privacy];
* :mod:`~serving.api.admin`     ``GET/POST /v1/admin/rules[/reload]`` [admin];
* :mod:`~serving.api.health`    ``/healthz``, ``/readyz``, ``/metrics``.

:mod:`~serving.api.deps` holds what they share (key checks, errors, services),
:mod:`~serving.api.schemas` the response bodies, :mod:`~serving.api.app` the wiring.
"""

from serving.api.app import create_app

__all__ = ["create_app"]
