"""The security layer: each test names an attack and shows it refused.

It uses the serving layer's fixtures (a real Redis, API keys per role, the app), the
session's Redis and Spark (``tests/conftest.py``) where the lake is the target.
"""

from __future__ import annotations

from tests.integration.serving.conftest import api, client, server  # noqa: F401 (fixtures)
