"""Privacy requests use the serving fixtures (a real Redis, a key per role) and the seeded lake."""

from __future__ import annotations

from tests.integration.serving.conftest import api  # noqa: F401 (fixture)
